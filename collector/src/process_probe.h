// What the collector learns about a producing process from /proc: whether it
// still runs (pid + start time, so a reused pid is not mistaken for it) and
// its memory map, for turning caller addresses into module + offset.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hugeshim::collector {

// True while the process with this pid and start time (field 22 of
// /proc/PID/stat) exists and is not a zombie.
bool process_running(int32_t pid, uint64_t start_ticks);

struct Mapping {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t file_offset = 0;
  std::string path;  // empty for anonymous memory
};

// The file-backed executable mappings of a process, read while it runs.
// Empty when the process is gone or is not the one with start_ticks.
std::vector<Mapping> read_code_mappings(int32_t pid, uint64_t start_ticks);

struct CodeLocation {
  std::string module;   // path of the mapped file; empty when unknown
  uint64_t offset = 0;  // offset in the file (the address when unknown)
};

// The mapping holding an address (mappings sorted by start), or nullptr.
const Mapping* find_mapping(const std::vector<Mapping>& mappings, uint64_t address);

// Resolves an address against mappings sorted by start.
CodeLocation locate(const std::vector<Mapping>& mappings, uint64_t address);

}  // namespace hugeshim::collector
