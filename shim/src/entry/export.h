// Marks a definition as one of the shim's exported (interposing) symbols.
// Everything else in libhugeshim.so is hidden (-fvisibility=hidden).
#pragma once

#define HUGESHIM_EXPORT extern "C" __attribute__((visibility("default")))
