// Fallback explanations: the first request that did not get its best page
// size for a given reason (hugeshim_fallback) is explained on stderr at
// HUGESHIM_LOG=info. (Counts by reason are kept in the ring header.)
#pragma once

#include <cstdint>

namespace hugeshim {

// Explains `reason` once per process; NONE and unknown codes are ignored.
void fallback_note(uint32_t reason, int err, uint64_t requested);

}  // namespace hugeshim
