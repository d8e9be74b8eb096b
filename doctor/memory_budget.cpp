#include "memory_budget.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "byte_size.h"

namespace hugeshim::doctor {
namespace {

constexpr int64_t kMinReserveKb = 1 << 20;  // 1 GiB

}  // namespace

int64_t MemoryBudget::reserve_kb() const {
  // 10% covers what the kernel needs beside the pools as memory grows (page
  // tables, slab, watermarks, the page cache of running programs); the
  // 1 GiB floor keeps a small host or node able to run a shell and sshd.
  return std::max(total_kb / 10, kMinReserveKb);
}

std::string MemoryBudget::describe() const {
  std::string spare = growth_kb() > 0 ? "can spare " + format_kb(growth_kb()) : "can spare nothing";
  std::string available = estimated
                              ? "an estimated " + format_kb(available_kb) + " free or reclaimable"
                              : "MemAvailable " + format_kb(available_kb);
  return scope + " " + spare + " for more huge pages (" + available + " less a reserve of " +
         format_kb(reserve_kb()) +
         ", the larger of 10% of MemTotal " + format_kb(total_kb) + " and 1 GiB)";
}

std::optional<MemoryBudget> host_memory_budget(const MemInfo& meminfo) {
  if (!meminfo.mem_total_kb || !meminfo.mem_available_kb) return std::nullopt;
  return MemoryBudget{"the host", *meminfo.mem_total_kb, *meminfo.mem_available_kb, false};
}

std::string node_meminfo_path(int node) {
  return "/sys/devices/system/node/node" + std::to_string(node) + "/meminfo";
}

std::optional<MemoryBudget> node_memory_budget(const HostFiles& files, int node) {
  auto text = files.read(node_meminfo_path(node));
  if (!text) return std::nullopt;
  // "Node 1 MemFree:         6291456 kB"
  std::map<std::string, int64_t> values;
  std::istringstream lines(*text);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string word_node, id, key;
    int64_t value;
    if (words >> word_node >> id >> key >> value && !key.empty() && key.back() == ':')
      values[key.substr(0, key.size() - 1)] = value;
  }
  auto value = [&](const char* key) { return values.count(key) ? values[key] : 0; };
  if (!values.count("MemTotal") || !values.count("MemFree")) return std::nullopt;
  int64_t reclaimable_slab = values.count("KReclaimable") ? value("KReclaimable")
                                                          : value("SReclaimable");
  return MemoryBudget{"node " + std::to_string(node), value("MemTotal"),
                      value("MemFree") + value("Active(file)") + value("Inactive(file)") +
                          reclaimable_slab,
                      true};
}

}  // namespace hugeshim::doctor
