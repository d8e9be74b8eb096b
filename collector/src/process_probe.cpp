#include "process_probe.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace hugeshim::collector {
namespace {

struct StatFields {
  char state = 0;
  uint64_t start_ticks = 0;
};

bool read_stat(int32_t pid, StatFields* out) {
  if (pid <= 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  // The command name (field 2) may contain spaces and ')': count fields from
  // the last ')'. Field 3 is the state, field 22 the start time.
  size_t close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(line.substr(close + 1));
  std::string field;
  for (int index = 3; index <= 22 && rest >> field; ++index) {
    if (index == 3) out->state = field.empty() ? 0 : field[0];
    if (index == 22) {
      out->start_ticks = std::stoull(field);
      return true;
    }
  }
  return false;
}

}  // namespace

bool process_running(int32_t pid, uint64_t start_ticks) {
  StatFields f;
  try {
    if (!read_stat(pid, &f)) return false;
  } catch (const std::exception&) {
    return false;
  }
  return f.start_ticks == start_ticks && f.state != 'Z' && f.state != 'X';
}

std::vector<Mapping> read_code_mappings(int32_t pid, uint64_t start_ticks) {
  std::vector<Mapping> maps;
  if (!process_running(pid, start_ticks)) return maps;
  std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  while (std::getline(in, line)) {
    // start-end perms offset dev inode path
    std::istringstream fields(line);
    std::string range, perms, offset, dev, inode, path;
    if (!(fields >> range >> perms >> offset >> dev >> inode)) continue;
    std::getline(fields >> std::ws, path);
    if (perms.size() < 3 || perms[2] != 'x' || path.empty() || path[0] != '/') continue;
    size_t dash = range.find('-');
    if (dash == std::string::npos) continue;
    try {
      maps.push_back({std::stoull(range.substr(0, dash), nullptr, 16),
                      std::stoull(range.substr(dash + 1), nullptr, 16), std::stoull(offset, nullptr, 16),
                      path});
    } catch (const std::exception&) {
    }
  }
  // Read again after the fact: if the pid was reused meanwhile the maps
  // belong to another program.
  if (!process_running(pid, start_ticks)) maps.clear();
  std::sort(maps.begin(), maps.end(), [](const Mapping& a, const Mapping& b) { return a.start < b.start; });
  return maps;
}

const Mapping* find_mapping(const std::vector<Mapping>& mappings, uint64_t address) {
  auto it = std::upper_bound(mappings.begin(), mappings.end(), address,
                             [](uint64_t a, const Mapping& m) { return a < m.start; });
  if (it == mappings.begin()) return nullptr;
  --it;
  return address < it->end ? &*it : nullptr;
}

CodeLocation locate(const std::vector<Mapping>& mappings, uint64_t address) {
  const Mapping* m = find_mapping(mappings, address);
  if (!m) return {"", address};
  return {m->path, address - m->start + m->file_offset};
}

}  // namespace hugeshim::collector
