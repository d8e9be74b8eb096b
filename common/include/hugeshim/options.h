// The shim's configuration: every HUGESHIM_* variable, parsed once at load
// from one table (options.cpp). After options_load() the values never change,
// so every path may read g_options without synchronisation.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hugeshim {

enum class NumaMode : uint8_t { none, auto_, node, interleave };
enum class Populate : uint8_t { lazy, eager };
// PIN=cuda (register redirected malloc memory with CUDA) is deliberately not
// offered: a program that later registers that memory itself (PyTorch's
// pinned_use_cuda_host_register, vLLM's KV offload) would get error 712.
enum class PinMode : uint8_t { none, mlock };
enum class OnFallback : uint8_t { allow, fail };
enum class LogLevel : uint8_t { off, warn, info, debug };

// Ladder rungs in the order HUGESHIM_PAGES lists them. Base pages are the
// implicit last rung and always allowed (a request never fails for lack of
// huge pages unless HUGESHIM_ON_FALLBACK=fail).
enum class Rung : uint8_t { hugetlb_1g, hugetlb_2m, thp };

struct Options {
  bool disable = false;
  size_t min_size = 0;
  Rung ladder[3] = {};
  uint8_t ladder_len = 0;
  bool pages_explicit = false;  // HUGESHIM_PAGES was set (validly) by the operator
  bool intercept_malloc = true;
  bool intercept_mmap = true;
  bool intercept_cuda = true;
  NumaMode numa = NumaMode::auto_;
  int numa_node = -1;  // for NumaMode::node
  Populate populate = Populate::lazy;
  unsigned prefault_threads = 0;  // 0: derived from the CPU count at load
  PinMode pin = PinMode::none;
  size_t register_max = 0;  // largest substituted CUDA allocation (one registration)
  bool prepare = true;      // HUGESHIM_PREPARE=auto: populate the program's large registrations first
  size_t cache_bytes = 0;
  bool file_map_copy = false;
  size_t file_min = 0;
  OnFallback on_fallback = OnFallback::allow;
  char ring_dir[256] = {};
  // HUGESHIM_RING_ROOT, a shared root: when set (and HUGESHIM_RING_DIR is
  // not), ring_dir is ring_root/<euid>, created 0700 by its owner and opened
  // without following symlinks (telemetry/ring_segment.cpp). Empty: off, and
  // always empty when HUGESHIM_RING_DIR names the directory itself.
  char ring_root[180] = {};
  bool ring_dir_explicit = false;  // HUGESHIM_RING_DIR was set (validly)
  uint32_t ring_slots = 0;
  bool ring = true;
  LogLevel log = LogLevel::warn;
  // HUGESHIM_CUPTI=1: host<->device copies of at least cupti_min_bytes are
  // recorded through CUPTI (shim/src/cupti/), loaded from cupti_library when
  // set, else found next to the program's cudart and in the toolkit.
  bool cupti = false;
  size_t cupti_min_bytes = 0;
  char cupti_library[256] = {};

  bool ladder_has(Rung r) const {
    for (uint8_t i = 0; i < ladder_len; ++i)
      if (ladder[i] == r) return true;
    return false;
  }
};

extern Options g_options;

// Parses the environment into g_options. Bad values print one stderr line
// (variable, value, accepted forms) and keep the default. Safe to call before
// the allocator is usable: it neither allocates nor uses stdio.
void options_load();

// Parses a size ("2M", "64MiB", "1G", "4096"); false if malformed or overflowing.
bool parse_size(const char* text, size_t* out);

// One row of the options table, for `hugeshim config` and the ring header.
struct OptionInfo {
  const char* name;
  const char* default_value;
  const char* accepted;
  const char* help;
};
const OptionInfo* options_table(size_t* count);

// Writes the effective value of option `index` into buf (NUL-terminated).
void option_effective_value(size_t index, char* buf, size_t len);

}  // namespace hugeshim
