#include "byte_size.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>

namespace hugeshim::doctor {

std::optional<uint64_t> parse_byte_size(std::string_view text) {
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || p == text.data()) return std::nullopt;
  std::string unit;
  for (const char* q = p; q != text.data() + text.size(); ++q)
    unit.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(*q))));
  int shift;
  if (unit.empty() || unit == "b") shift = 0;
  else if (unit == "k" || unit == "kb" || unit == "kib") shift = 10;
  else if (unit == "m" || unit == "mb" || unit == "mib") shift = 20;
  else if (unit == "g" || unit == "gb" || unit == "gib") shift = 30;
  else if (unit == "t" || unit == "tb" || unit == "tib") shift = 40;
  else return std::nullopt;
  if (shift && n > (UINT64_MAX >> shift)) return std::nullopt;
  return n << shift;
}

std::string format_bytes(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  double v = static_cast<double>(bytes);
  while (v >= 1024.0 && u < 5) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  if (u == 0 || v == static_cast<double>(static_cast<uint64_t>(v)))
    snprintf(buf, sizeof buf, "%llu %s", static_cast<unsigned long long>(v), kUnits[u]);
  else
    snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  return buf;
}

std::string format_kb(int64_t kb) {
  return format_bytes(static_cast<uint64_t>(std::max<int64_t>(kb, 0)) * 1024);
}

std::string page_size_label(uint64_t size_kb) {
  if (size_kb % (1024 * 1024) == 0) return std::to_string(size_kb / (1024 * 1024)) + "G";
  if (size_kb % 1024 == 0) return std::to_string(size_kb / 1024) + "M";
  return std::to_string(size_kb) + "K";
}

}  // namespace hugeshim::doctor
