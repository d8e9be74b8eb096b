// A shared ring root (HUGESHIM_RING_ROOT, e.g. /run/hugeshim) holds one ring
// directory per user, named by the uid in decimal and created 0700 by that
// user (shim/src/telemetry/ring_segment.cpp). A collector that reads the
// whole root (root, on a node) expands it into those directories here and
// drains each one; `record --root` and `serve` do.
#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

namespace hugeshim::collector {

struct RingRootDirectory {
  std::string path;  // root/uid
  uid_t uid = 0;     // the owner, equal to the name
};

// The per-UID directories under `root`, sorted by uid. An entry is taken
// only when its name is a uid and it is a directory (never through a
// symlink) owned by that uid with no access for group or others; each other
// entry adds one line to `skipped` (when given) saying why. Throws
// std::runtime_error when the root itself cannot be opened or is a symlink.
std::vector<RingRootDirectory> ring_root_directories(const std::string& root,
                                                     std::vector<std::string>* skipped = nullptr);

}  // namespace hugeshim::collector
