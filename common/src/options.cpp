// The options table: one row per HUGESHIM_* variable drives parsing, defaults,
// `hugeshim config` and the configuration snapshot in the ring header.
#include "hugeshim/options.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

#include "hugeshim/log.h"

namespace hugeshim {

Options g_options;

namespace {

constexpr size_t kKiB = 1024, kMiB = kKiB * 1024, kGiB = kMiB * 1024;

bool parse_bool(const char* v, bool* out) {
  if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on")) {
    *out = true;
    return true;
  }
  if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off")) {
    *out = false;
    return true;
  }
  return false;
}

bool parse_uint(const char* v, unsigned long long max, unsigned long long* out) {
  if (*v < '0' || *v > '9') return false;
  unsigned long long n = 0;
  for (; *v >= '0' && *v <= '9'; ++v) {
    unsigned d = static_cast<unsigned>(*v - '0');
    if (n > (max - d) / 10) return false;
    n = n * 10 + d;
  }
  if (*v) return false;
  *out = n;
  return true;
}

// Splits a comma list; calls each(token, len) until it returns false.
template <typename F>
bool for_each_token(const char* v, F each) {
  while (true) {
    const char* end = strchr(v, ',');
    size_t len = end ? static_cast<size_t>(end - v) : strlen(v);
    if (len == 0 || !each(v, len)) return false;
    if (!end) return true;
    v = end + 1;
  }
}

bool token_is(const char* t, size_t len, const char* word) {
  return strlen(word) == len && strncasecmp(t, word, len) == 0;
}

bool parse_ladder(const char* v, Options& o) {
  Rung rungs[3];
  uint8_t n = 0;
  bool seen[3] = {};
  bool ok = for_each_token(v, [&](const char* t, size_t len) {
    Rung r;
    if (token_is(t, len, "1G") || token_is(t, len, "1GiB")) r = Rung::hugetlb_1g;
    else if (token_is(t, len, "2M") || token_is(t, len, "2MiB")) r = Rung::hugetlb_2m;
    else if (token_is(t, len, "thp")) r = Rung::thp;
    else if (token_is(t, len, "base")) return true;  // always the implicit last rung
    else return false;
    if (seen[static_cast<int>(r)]) return false;
    seen[static_cast<int>(r)] = true;
    rungs[n++] = r;
    return true;
  });
  if (!ok) return false;
  memcpy(o.ladder, rungs, sizeof rungs);
  o.ladder_len = n;
  o.pages_explicit = true;
  return true;
}

bool parse_intercept(const char* v, Options& o) {
  bool m = false, mm = false, c = false;
  bool ok = token_is(v, strlen(v), "none") ||
            for_each_token(v, [&](const char* t, size_t len) {
              if (token_is(t, len, "malloc")) m = true;
              else if (token_is(t, len, "mmap")) mm = true;
              else if (token_is(t, len, "cuda")) c = true;
              else return false;
              return true;
            });
  if (!ok) return false;
  o.intercept_malloc = m;
  o.intercept_mmap = mm;
  o.intercept_cuda = c;
  return true;
}

bool parse_numa(const char* v, Options& o) {
  unsigned long long node;
  if (!strcasecmp(v, "auto")) o.numa = NumaMode::auto_;
  else if (!strcasecmp(v, "none")) o.numa = NumaMode::none;
  else if (!strcasecmp(v, "interleave")) o.numa = NumaMode::interleave;
  else if (parse_uint(v, 1023, &node)) {
    o.numa = NumaMode::node;
    o.numa_node = static_cast<int>(node);
  } else return false;
  return true;
}

template <typename E, size_t N>
bool parse_enum(const char* v, const char* const (&names)[N], E* out) {
  for (size_t i = 0; i < N; ++i)
    if (!strcasecmp(v, names[i])) {
      *out = static_cast<E>(i);
      return true;
    }
  return false;
}

constexpr const char* kPopulateNames[] = {"lazy", "eager"};
constexpr const char* kPinNames[] = {"none", "mlock"};
constexpr const char* kFallbackNames[] = {"allow", "fail"};
constexpr const char* kLogNames[] = {"off", "warn", "info", "debug"};
constexpr const char* kFileMapNames[] = {"off", "copy"};

using Parser = bool (*)(const char* value, Options& o);

struct Row {
  OptionInfo info;
  Parser parse;
  // A former name still read when the current one is unset, with one line
  // saying it is deprecated.
  const char* deprecated_name = nullptr;
};

bool size_into(const char* v, size_t* out, size_t min) {
  size_t n;
  if (!parse_size(v, &n) || n < min) return false;
  *out = n;
  return true;
}

// The table. Defaults are justified in docs/DECISIONS.md.
const Row kRows[] = {
    {{"HUGESHIM_DISABLE", "0", "0|1", "1: pass every call through untouched"},
     [](const char* v, Options& o) { return parse_bool(v, &o.disable); }},
    {{"HUGESHIM_MIN_SIZE", "4MiB", "size >= 4096 (2M, 64MiB, 1G, bytes)",
      "smallest malloc/mmap/CUDA request redirected to huge pages"},
     [](const char* v, Options& o) { return size_into(v, &o.min_size, 4096); }},
    {{"HUGESHIM_PAGES", "1G,2M,thp", "comma list of 1G, 2M, thp, base",
      "page-size ladder tried in order; base pages are always the last rung"},
     parse_ladder},
    {{"HUGESHIM_INTERCEPT", "malloc,mmap,cuda", "comma list of malloc, mmap, cuda; or none",
      "API families redirected"},
     parse_intercept},
    {{"HUGESHIM_NUMA", "auto", "auto|none|interleave|NODE",
      "placement: auto = GPU-local for CUDA memory, untouched otherwise"},
     parse_numa},
    {{"HUGESHIM_POPULATE", "lazy", "lazy|eager",
      "eager: pre-fault redirected malloc/mmap regions at allocation"},
     [](const char* v, Options& o) { return parse_enum(v, kPopulateNames, &o.populate); }},
    {{"HUGESHIM_PREFAULT_THREADS", "0", "0..256 (0: min(8, CPUs))",
      "threads that pre-fault one region in parallel"},
     [](const char* v, Options& o) {
       unsigned long long n;
       if (!parse_uint(v, 256, &n)) return false;
       o.prefault_threads = static_cast<unsigned>(n);
       return true;
     }},
    {{"HUGESHIM_PIN", "none", "none|mlock",
      "mlock: lock redirected malloc/mmap regions after populating them"},
     [](const char* v, Options& o) { return parse_enum(v, kPinNames, &o.pin); }},
    {{"HUGESHIM_REGISTER_MAX", "256GiB", "size, a multiple of 2MiB, >= 2MiB",
      "largest CUDA allocation the shim substitutes and registers (one cudaHostRegister each); larger ones are allocated natively"},
     [](const char* v, Options& o) {
       size_t n;
       if (!size_into(v, &n, 2 * kMiB) || n % (2 * kMiB)) return false;
       o.register_max = n;
       return true;
     },
     "HUGESHIM_REGISTER_CHUNK"},
    {{"HUGESHIM_PREPARE", "auto", "auto|off",
      "auto: before the program's own large cudaHostRegister/cuMemHostRegister, fault its pages in (HUGESHIM_PREFAULT_THREADS threads) on huge pages where the mapping allows, outside the driver's lock"},
     [](const char* v, Options& o) {
       if (!strcasecmp(v, "auto")) o.prepare = true;
       else if (!strcasecmp(v, "off")) o.prepare = false;
       else return false;
       return true;
     }},
    {{"HUGESHIM_CACHE", "256MiB", "size (0 disables)",
      "bytes of freed regions kept mapped for reuse without new page faults"},
     [](const char* v, Options& o) { return size_into(v, &o.cache_bytes, 0); }},
    {{"HUGESHIM_FILE_MAP", "off", "off|copy",
      "copy: large read-only private file maps are served from huge pages"},
     [](const char* v, Options& o) {
       uint8_t m;
       if (!parse_enum(v, kFileMapNames, &m)) return false;
       o.file_map_copy = m == 1;
       return true;
     }},
    {{"HUGESHIM_FILE_MIN", "64MiB", "size >= 2MiB", "smallest file mapping HUGESHIM_FILE_MAP=copy serves"},
     [](const char* v, Options& o) { return size_into(v, &o.file_min, 2 * kMiB); }},
    {{"HUGESHIM_ON_FALLBACK", "allow", "allow|fail",
      "fail: a request that cannot get huge pages fails with ENOMEM"},
     [](const char* v, Options& o) { return parse_enum(v, kFallbackNames, &o.on_fallback); }},
    {{"HUGESHIM_RING_DIR", "/dev/shm/hugeshim-UID", "absolute path, < 200 bytes",
      "directory of the per-process telemetry rings"},
     [](const char* v, Options& o) {
       if (v[0] != '/' || strlen(v) >= 200) return false;
       snprintf(o.ring_dir, sizeof o.ring_dir, "%s", v);
       o.ring_dir_explicit = true;
       return true;
     }},
    {{"HUGESHIM_RING_ROOT", "off", "off or absolute path, < 180 bytes",
      "shared ring root (e.g. /run/hugeshim): rings go to ROOT/<uid>, made 0700 by its owner; "
      "HUGESHIM_RING_DIR wins when set"},
     [](const char* v, Options& o) {
       if (!strcmp(v, "off")) {
         o.ring_root[0] = 0;
         return true;
       }
       if (v[0] != '/' || strlen(v) >= 180) return false;
       snprintf(o.ring_root, sizeof o.ring_root, "%s", v);
       return true;
     }},
    {{"HUGESHIM_RING_SLOTS", "16384", "power of two, 64..16777216", "records per ring"},
     [](const char* v, Options& o) {
       unsigned long long n;
       if (!parse_uint(v, 1ull << 24, &n) || n < 64 || (n & (n - 1))) return false;
       o.ring_slots = static_cast<uint32_t>(n);
       return true;
     }},
    {{"HUGESHIM_RING", "on", "on|off", "off: record nothing (counters included)"},
     [](const char* v, Options& o) { return parse_bool(v, &o.ring); }},
    {{"HUGESHIM_LOG", "warn", "off|warn|info|debug", "stderr verbosity, one line per event kind"},
     [](const char* v, Options& o) { return parse_enum(v, kLogNames, &o.log); }},
    {{"HUGESHIM_CUPTI", "0", "0|1",
      "1: record host<->device copies (direction, bytes, GPU time, pageable or pinned, host page sizes) through CUPTI"},
     [](const char* v, Options& o) { return parse_bool(v, &o.cupti); }},
    {{"HUGESHIM_CUPTI_MIN_BYTES", "64KiB", "size >= 1 (64K, 1MiB, bytes)",
      "smallest copy HUGESHIM_CUPTI=1 records (smaller ones are counted only)"},
     [](const char* v, Options& o) { return size_into(v, &o.cupti_min_bytes, 1); }},
    {{"HUGESHIM_CUPTI_LIBRARY", "auto", "auto or absolute path, < 256 bytes",
      "libcupti to load; auto: next to the program's libcudart, then the CUDA toolkit"},
     [](const char* v, Options& o) {
       if (!strcmp(v, "auto")) {
         o.cupti_library[0] = 0;
         return true;
       }
       if (v[0] != '/' || strlen(v) >= sizeof o.cupti_library) return false;
       snprintf(o.cupti_library, sizeof o.cupti_library, "%s", v);
       return true;
     }},
};

constexpr size_t kRowCount = sizeof kRows / sizeof kRows[0];

void apply_defaults(Options& o) {
  for (const Row& row : kRows) {
    if (!strcmp(row.info.name, "HUGESHIM_RING_DIR")) continue;  // depends on the uid
    bool ok = row.parse(row.info.default_value, o);
    (void)ok;  // defaults are valid by construction; options_test checks it
  }
  snprintf(o.ring_dir, sizeof o.ring_dir, "/dev/shm/hugeshim-%u", static_cast<unsigned>(getuid()));
  o.pages_explicit = false;  // the default ladder is not the operator's choice
  o.ring_dir_explicit = false;
}

// A shared root names the ring directory unless HUGESHIM_RING_DIR does. The
// effective uid: the directory's owner must be the process's euid.
void resolve_ring_root(Options& o) {
  if (!o.ring_root[0]) return;
  if (o.ring_dir_explicit) {
    o.ring_root[0] = 0;
    return;
  }
  snprintf(o.ring_dir, sizeof o.ring_dir, "%s/%u", o.ring_root, static_cast<unsigned>(geteuid()));
}

}  // namespace

bool parse_size(const char* text, size_t* out) {
  const char* p = text;
  if (*p < '0' || *p > '9') return false;
  unsigned long long n = 0;
  for (; *p >= '0' && *p <= '9'; ++p) {
    unsigned d = static_cast<unsigned>(*p - '0');
    if (n > (~0ull - d) / 10) return false;
    n = n * 10 + d;
  }
  unsigned long long unit = 1;
  if (*p) {
    switch (*p == 0 ? 0 : (*p | 0x20)) {
      case 'k': unit = kKiB; break;
      case 'm': unit = kMiB; break;
      case 'g': unit = kGiB; break;
      case 't': unit = kGiB * 1024; break;
      case 'b': unit = 1; break;
      default: return false;
    }
    ++p;
    // Accepted suffixes after the letter: "", "B", "iB" (all binary units).
    if (!strcasecmp(p, "ib") && unit != 1) p += 2;
    else if (!strcasecmp(p, "b") && unit != 1) p += 1;
    if (*p) return false;
  }
  if (n > ~0ull / unit) return false;
  *out = static_cast<size_t>(n * unit);
  return true;
}

void options_load() {
  Options o;
  apply_defaults(o);
  for (const Row& row : kRows) {
    const char* name = row.info.name;
    const char* v = getenv(name);
    if (const char* old = row.deprecated_name ? getenv(row.deprecated_name) : nullptr) {
      if (v) {
        log_error("%s is deprecated and ignored: %s is set", row.deprecated_name, name);
      } else {
        log_error("%s is deprecated: use %s (its value is taken)", row.deprecated_name, name);
        name = row.deprecated_name;
        v = old;
      }
    }
    if (!v) continue;
    Options trial = o;
    if (row.parse(v, trial)) {
      o = trial;
    } else {
      log_error("%s='%s' is not valid (accepted: %s); using the default %s", name, v, row.info.accepted,
                row.info.default_value);
    }
  }
  resolve_ring_root(o);
  if (o.prefault_threads == 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    o.prefault_threads = cpus < 1 ? 1 : cpus > 8 ? 8 : static_cast<unsigned>(cpus);
  }
  g_options = o;
}

const OptionInfo* options_table(size_t* count) {
  static OptionInfo infos[kRowCount];
  for (size_t i = 0; i < kRowCount; ++i) infos[i] = kRows[i].info;
  *count = kRowCount;
  return infos;
}

void option_effective_value(size_t index, char* buf, size_t len) {
  const Options& o = g_options;
  if (index >= kRowCount || len == 0) {
    if (len) buf[0] = 0;
    return;
  }
  const char* name = kRows[index].info.name;
  auto put = [&](const char* fmt, auto... args) { snprintf(buf, len, fmt, args...); };
  auto size = [&](size_t n) { put("%zu", n); };
  if (!strcmp(name, "HUGESHIM_DISABLE")) put("%d", o.disable ? 1 : 0);
  else if (!strcmp(name, "HUGESHIM_MIN_SIZE")) size(o.min_size);
  else if (!strcmp(name, "HUGESHIM_PAGES")) {
    static const char* const rung[] = {"1G", "2M", "thp"};
    size_t at = 0;
    buf[0] = 0;
    for (uint8_t i = 0; i < o.ladder_len && at < len; ++i)
      at += static_cast<size_t>(snprintf(buf + at, len - at, "%s%s", i ? "," : "",
                                         rung[static_cast<int>(o.ladder[i])]));
    if (at < len) snprintf(buf + at, len - at, "%sbase", o.ladder_len ? "," : "");
  } else if (!strcmp(name, "HUGESHIM_INTERCEPT")) {
    put("%s%s%s", o.intercept_malloc ? "malloc," : "", o.intercept_mmap ? "mmap," : "",
        o.intercept_cuda ? "cuda," : "");
    size_t n = strlen(buf);
    if (n) buf[n - 1] = 0;
    else put("none");
  } else if (!strcmp(name, "HUGESHIM_NUMA")) {
    if (o.numa == NumaMode::node) put("%d", o.numa_node);
    else put("%s", o.numa == NumaMode::auto_ ? "auto" : o.numa == NumaMode::none ? "none" : "interleave");
  } else if (!strcmp(name, "HUGESHIM_POPULATE")) put("%s", kPopulateNames[static_cast<int>(o.populate)]);
  else if (!strcmp(name, "HUGESHIM_PREFAULT_THREADS")) put("%u", o.prefault_threads);
  else if (!strcmp(name, "HUGESHIM_PIN")) put("%s", kPinNames[static_cast<int>(o.pin)]);
  else if (!strcmp(name, "HUGESHIM_REGISTER_MAX")) size(o.register_max);
  else if (!strcmp(name, "HUGESHIM_PREPARE")) put("%s", o.prepare ? "auto" : "off");
  else if (!strcmp(name, "HUGESHIM_CACHE")) size(o.cache_bytes);
  else if (!strcmp(name, "HUGESHIM_FILE_MAP")) put("%s", o.file_map_copy ? "copy" : "off");
  else if (!strcmp(name, "HUGESHIM_FILE_MIN")) size(o.file_min);
  else if (!strcmp(name, "HUGESHIM_ON_FALLBACK")) put("%s", kFallbackNames[static_cast<int>(o.on_fallback)]);
  else if (!strcmp(name, "HUGESHIM_RING_DIR")) put("%s", o.ring_dir);
  else if (!strcmp(name, "HUGESHIM_RING_ROOT")) put("%s", o.ring_root[0] ? o.ring_root : "off");
  else if (!strcmp(name, "HUGESHIM_RING_SLOTS")) put("%u", o.ring_slots);
  else if (!strcmp(name, "HUGESHIM_RING")) put("%s", o.ring ? "on" : "off");
  else if (!strcmp(name, "HUGESHIM_LOG")) put("%s", kLogNames[static_cast<int>(o.log)]);
  else if (!strcmp(name, "HUGESHIM_CUPTI")) put("%d", o.cupti ? 1 : 0);
  else if (!strcmp(name, "HUGESHIM_CUPTI_MIN_BYTES")) size(o.cupti_min_bytes);
  else if (!strcmp(name, "HUGESHIM_CUPTI_LIBRARY")) put("%s", o.cupti_library[0] ? o.cupti_library : "auto");
  else buf[0] = 0;
}

}  // namespace hugeshim
