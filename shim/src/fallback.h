// Fallback accounting: every request that did not get its best page size is
// counted by reason (hugeshim_fallback), and the first occurrence of each
// reason is explained on stderr at HUGESHIM_LOG=info.
#pragma once

#include <cstdint>

namespace hugeshim {

void fallback_note(uint32_t reason, int err, uint64_t requested);
uint64_t fallback_count(uint32_t reason);

}  // namespace hugeshim
