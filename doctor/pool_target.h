// A hugetlb pool size to set: "2M:512@1" = 512 pages of 2 MiB on NUMA node
// 1; without "@NODE" the global pool (the kernel spreads it over nodes).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hugeshim::doctor {

struct PoolTarget {
  uint64_t size_kb = 0;
  int node = -1;  // -1: global pool
  int64_t count = 0;
  bool operator==(const PoolTarget&) const = default;
};

// "2M:COUNT[@NODE]", "1G:COUNT[@NODE]" (also 2MiB, 2048K, 1GiB). nullopt on
// junk, a page size that is not a whole number of KiB, or a negative count.
std::optional<PoolTarget> parse_pool_target(std::string_view text);
std::string format_pool_target(const PoolTarget& t);

// The host path of the nr_hugepages file a target writes.
std::string pool_count_path(const PoolTarget& t);

// "hugeshim doctor --apply --pool 2M:0@0 --pool 2M:512@1"
std::string pool_fix_command(const std::vector<PoolTarget>& targets);

}  // namespace hugeshim::doctor
