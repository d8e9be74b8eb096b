// Opening a recording to read it (report, export): the checks every reading
// command makes, in one place.
#pragma once

#include <string>

namespace hugeshim::collector {

// Throws std::runtime_error when `file` cannot be read and RefusedFile
// (exit status 2) when it is not a recording. A recorder that was killed may
// have left staged batches: they are expanded first when the file may be
// written (idempotent, see store.h); a read-only file is read as it is, with
// one line on stderr naming `command`.
void prepare_recording_for_reading(const std::string& file, const std::string& command);

}  // namespace hugeshim::collector
