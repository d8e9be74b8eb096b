// Byte sizes as operators type them ("16G", "512MiB", "2M", "4096") and as
// the doctor prints them ("16 GiB").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hugeshim::doctor {

// Binary units (K, M, G, T, optional "iB"/"B" suffix, case-insensitive),
// plain bytes without a unit. nullopt on junk or overflow.
std::optional<uint64_t> parse_byte_size(std::string_view text);

// "2 MiB", "1.5 GiB", "512 B": the largest binary unit with a value >= 1.
std::string format_bytes(uint64_t bytes);
// A kB figure as /proc/meminfo gives it, printed as format_bytes does; a
// negative one prints as "0 B".
std::string format_kb(int64_t kb);

// Hugetlb page-size labels: 2048 kB -> "2M", 1048576 kB -> "1G", 64 kB -> "64K".
std::string page_size_label(uint64_t size_kb);

}  // namespace hugeshim::doctor
