#include "pool_target.h"

#include <charconv>

#include "byte_size.h"

namespace hugeshim::doctor {

std::optional<PoolTarget> parse_pool_target(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto size = parse_byte_size(text.substr(0, colon));
  if (!size || *size == 0 || *size % 1024) return std::nullopt;
  PoolTarget t;
  t.size_kb = *size / 1024;
  std::string_view rest = text.substr(colon + 1);
  auto at = rest.find('@');
  std::string_view count = rest.substr(0, at);
  auto [p, ec] = std::from_chars(count.data(), count.data() + count.size(), t.count);
  if (ec != std::errc() || p != count.data() + count.size() || t.count < 0) return std::nullopt;
  if (at != std::string_view::npos) {
    std::string_view node = rest.substr(at + 1);
    auto [q, ec2] = std::from_chars(node.data(), node.data() + node.size(), t.node);
    if (ec2 != std::errc() || q != node.data() + node.size() || t.node < 0) return std::nullopt;
  }
  return t;
}

std::string format_pool_target(const PoolTarget& t) {
  std::string s = page_size_label(t.size_kb) + ":" + std::to_string(t.count);
  if (t.node >= 0) s += "@" + std::to_string(t.node);
  return s;
}

std::string pool_count_path(const PoolTarget& t) {
  std::string dir = "hugepages-" + std::to_string(t.size_kb) + "kB";
  if (t.node < 0) return "/sys/kernel/mm/hugepages/" + dir + "/nr_hugepages";
  return "/sys/devices/system/node/node" + std::to_string(t.node) + "/hugepages/" + dir +
         "/nr_hugepages";
}

std::string pool_fix_command(const std::vector<PoolTarget>& targets) {
  std::string cmd = "hugeshim doctor --apply";
  for (const auto& t : targets) cmd += " --pool " + format_pool_target(t);
  return cmd;
}

}  // namespace hugeshim::doctor
