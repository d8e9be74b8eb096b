// Removing the ring segments nobody needs any more, so that a node on which
// no collector runs does not fill its ring file system (docs/RING.md, "Life
// cycle"). Every `hugeshim` command runs it over the default ring directory
// before it starts; `run` and `record` also remove each segment they finish.
#pragma once

#include <string>

namespace hugeshim::collector {

// Removes from `dir` the segments of dead processes that are finished: a
// collector attached and drained every record, or none ever attached and
// nothing was recorded. Keeps everything else (live processes, undrained
// records, a segment another collector holds, anything that does not read
// as a segment of ours). Returns how many it removed; never throws.
int reap_finished_segments(const std::string& dir);

}  // namespace hugeshim::collector
