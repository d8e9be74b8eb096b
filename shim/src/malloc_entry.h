// The malloc family's threshold: requests at or above it are redirected.
// ~0 (nothing redirected) until shim_init() has set up the arena; written
// once, before any thread the program creates after load can race with it.
#pragma once

#include <cstddef>

namespace hugeshim {
extern size_t g_malloc_threshold;
}
