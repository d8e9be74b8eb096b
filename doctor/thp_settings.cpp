// Transparent huge pages: enabled, defrag, khugepaged, shmem_enabled and
// the huge= option of /dev/shm. Recommended for inference hosts:
// enabled=madvise (the shim and allocators that ask get THP, nothing else
// does), defrag=never (no page fault ever stalls in direct compaction), and
// on GPU hosts shmem_enabled=advise and /dev/shm mounted with huge=advise,
// so shared memory that is registered with CUDA can be madvised onto huge
// pages.
#include <sstream>

#include "audit.h"

namespace hugeshim::doctor {
namespace {

constexpr const char* kThp = "/sys/kernel/mm/transparent_hugepage";

std::string thp_file(const char* name) { return std::string(kThp) + "/" + name; }

// The huge= option of the last tmpfs mounted on /dev/shm (the one a
// program sees), "never" when its options do not name one (the kernel's
// default for tmpfs mounts); nullopt when /dev/shm is not a tmpfs mount.
std::optional<std::string> read_dev_shm_huge(const HostFiles& files) {
  std::optional<std::string> huge;
  auto text = files.read("/proc/mounts");
  if (!text) return huge;
  std::istringstream lines(*text);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string source, target, type, options;
    if (!(fields >> source >> target >> type >> options) || target != "/dev/shm") continue;
    if (type != "tmpfs") {
      huge.reset();
      continue;
    }
    huge = "never";
    std::istringstream words(options);
    for (std::string w; std::getline(words, w, ',');)
      if (w.rfind("huge=", 0) == 0) huge = w.substr(5);
  }
  return huge;
}

bool gpu_host(const HostSnapshot& host) { return !host.gpus.empty(); }

void audit_shmem(const HostSnapshot& host, Findings& out) {
  const auto& t = host.thp;
  // GPU hosts register shared memory with CUDA (CPU KV-cache offload,
  // buffers shared between processes): there base pages cost pinning and
  // IOMMU work on every registration, so it is a warning.
  const Severity missing = gpu_host(host) ? Severity::warn : Severity::info;
  const std::string cost =
      gpu_host(host) ? " On this GPU host such memory registered with CUDA is pinned 4 KiB at a "
                       "time: 512 times the pages of 2 MiB ones."
                     : " That matters on hosts that register shared memory with a GPU.";
  if (t.shmem_enabled == "never" || t.shmem_enabled == "deny") {
    out.push_back(
        {"thp.shmem_enabled", "", missing,
         "THP for shared memory is '" + t.shmem_enabled +
             "': memfd, SysV shared memory and shared anonymous mappings use base pages even "
             "where madvise(MADV_HUGEPAGE) asks for huge ones" +
             (t.shmem_enabled == "deny"
                  ? ", and 'deny' keeps huge pages off every tmpfs mount too, /dev/shm included, "
                    "whatever its huge= option."
                  : ".") +
             cost + " 'advise' gives huge pages where a program asks for them.",
         "hugeshim doctor --apply --shmem advise"});
  } else if (t.shmem_enabled == "force") {
    out.push_back({"thp.shmem_enabled", "", Severity::info,
                   "THP for shared memory is 'force' (meant for testing): every shmem and "
                   "tmpfs file of every program gets huge pages, asked for or not, which costs "
                   "memory. 'advise' gives them where a program asks.",
                   "hugeshim doctor --apply --shmem advise"});
  } else {
    out.push_back({"thp.shmem_enabled", "", Severity::ok,
                   "THP for shared memory is '" + t.shmem_enabled +
                       "': memfd, SysV and shared anonymous memory get huge pages where "
                       "madvised.",
                   ""});
  }

  // /dev/shm has its own policy, the mount's huge= option; shmem_enabled
  // only overrides it with 'deny' (said above) or 'force'.
  if (!t.dev_shm_huge) {
    out.push_back({"thp.dev_shm", "", Severity::info,
                   "/dev/shm is not a tmpfs mount (or /proc/mounts is unreadable): files "
                   "there do not get transparent huge pages.",
                   ""});
  } else if (t.shmem_enabled == "force") {
    out.push_back({"thp.dev_shm", "", Severity::ok,
                   "/dev/shm is mounted with huge=" + *t.dev_shm_huge +
                       ", and shmem_enabled 'force' gives it huge pages anyway.",
                   ""});
  } else if (t.shmem_enabled == "deny") {
    out.push_back({"thp.dev_shm", "", missing,
                   "/dev/shm is mounted with huge=" + *t.dev_shm_huge +
                       ", but shmem_enabled 'deny' keeps huge pages off it.",
                   "hugeshim doctor --apply --shmem advise"});
  } else if (*t.dev_shm_huge == "never") {
    out.push_back({"thp.dev_shm", "", missing,
                   "/dev/shm is mounted without huge= (or huge=never): its files use base "
                   "pages even where madvise(MADV_HUGEPAGE) asks for huge ones, whatever "
                   "shmem_enabled says (that governs the kernel's internal mount, not "
                   "/dev/shm)." +
                       cost + " huge=advise gives huge pages where a program asks.",
                   "mount -o remount,huge=advise /dev/shm"});
  } else {
    out.push_back({"thp.dev_shm", "", Severity::ok,
                   "/dev/shm is mounted with huge=" + *t.dev_shm_huge + ".", ""});
  }
}

}  // namespace

ThpSettings read_thp_settings(const HostFiles& files) {
  ThpSettings t;
  t.present = files.exists(kThp);
  if (!t.present) return t;
  t.enabled = selected_choice(files.read(thp_file("enabled")).value_or(""));
  t.defrag = selected_choice(files.read(thp_file("defrag")).value_or(""));
  t.shmem_enabled = selected_choice(files.read(thp_file("shmem_enabled")).value_or(""));
  t.dev_shm_huge = read_dev_shm_huge(files);
  t.khugepaged_defrag = files.read_int(thp_file("khugepaged/defrag"));
  t.pages_to_scan = files.read_int(thp_file("khugepaged/pages_to_scan"));
  t.scan_sleep_millisecs = files.read_int(thp_file("khugepaged/scan_sleep_millisecs"));
  t.alloc_sleep_millisecs = files.read_int(thp_file("khugepaged/alloc_sleep_millisecs"));
  t.max_ptes_none = files.read_int(thp_file("khugepaged/max_ptes_none"));
  return t;
}

void audit_thp(const HostSnapshot& host, Findings& out) {
  const auto& t = host.thp;
  if (!t.present) {
    out.push_back({"thp.enabled", "", Severity::info,
                   "This kernel has no transparent huge pages "
                   "(/sys/kernel/mm/transparent_hugepage is missing): the shim's thp rung "
                   "falls back to base pages.",
                   ""});
    return;
  }

  if (t.enabled == "always") {
    out.push_back({"thp.enabled", "", Severity::warn,
                   "THP is 'always': every anonymous mapping of every process may get huge "
                   "pages at fault time and khugepaged collapses the rest in the background. "
                   "That costs memory (bloat) and puts allocation and compaction work on "
                   "the server's fault path. 'madvise' gives THP only to memory that asks for "
                   "it (the shim's thp rung does).",
                   "hugeshim doctor --apply --thp madvise"});
  } else if (t.enabled == "never") {
    out.push_back({"thp.enabled", "", Severity::info,
                   "THP is 'never': madvise(MADV_HUGEPAGE) has no effect, so the shim's thp "
                   "rung falls back to base pages (hugetlb pools still work). 'madvise' "
                   "enables THP only where asked for.",
                   "hugeshim doctor --apply --thp madvise"});
  } else if (t.enabled == "madvise") {
    out.push_back({"thp.enabled", "", Severity::ok,
                   "THP is 'madvise': huge pages only where a program asks for them.", ""});
  } else {
    out.push_back({"thp.enabled", "", Severity::info,
                   "Unrecognised THP mode '" + t.enabled + "'.",
                   "hugeshim doctor --apply --thp madvise"});
  }

  const bool thp_off = t.enabled == "never";
  if (t.defrag == "never" || t.defrag == "defer" || thp_off) {
    out.push_back({"thp.defrag", "", Severity::ok,
                   "THP defrag is '" + t.defrag + "'" +
                       (thp_off ? " (THP is off, so it does not matter)." :
                                  ": page faults never stall in direct compaction."),
                   ""});
  } else if (t.defrag == "always") {
    out.push_back(
        {"thp.defrag", "", Severity::warn,
         std::string("THP defrag is 'always': a fault that finds no free huge page stalls "
                     "in direct reclaim and compaction") +
             (t.enabled == "always" ? ", and with enabled=always that is every anonymous "
                                      "fault of every process: a classic source of "
                                      "multi-millisecond tail-latency spikes." :
                                      " for every madvised region.") +
             " 'never' falls back to base pages at once and lets khugepaged collapse later.",
         "hugeshim doctor --apply --defrag never"});
  } else {
    out.push_back({"thp.defrag", "", Severity::info,
                   "THP defrag is '" + t.defrag +
                       "': faults in madvised regions (the shim's thp rung) stall in direct "
                       "compaction when no huge page is free. Fine during start-up "
                       "allocation; 'never' keeps steady-state faults short.",
                   "hugeshim doctor --apply --defrag never"});
  }

  std::string khuge = "khugepaged: defrag=" +
                      (t.khugepaged_defrag ? std::to_string(*t.khugepaged_defrag) : "?") +
                      " pages_to_scan=" +
                      (t.pages_to_scan ? std::to_string(*t.pages_to_scan) : "?") +
                      " scan_sleep_millisecs=" +
                      (t.scan_sleep_millisecs ? std::to_string(*t.scan_sleep_millisecs) : "?") +
                      " max_ptes_none=" +
                      (t.max_ptes_none ? std::to_string(*t.max_ptes_none) : "?") + ".";
  if (t.enabled == "always")
    out.push_back({"thp.khugepaged", "", Severity::info,
                   khuge + " With THP 'always' it scans all anonymous memory and collapses "
                           "it in the background, taking the server's mmap lock while it "
                           "does; with 'madvise' it only touches madvised regions.",
                   "hugeshim doctor --apply --thp madvise"});
  else
    out.push_back({"thp.khugepaged", "", Severity::ok, khuge, ""});

  audit_shmem(host, out);
}

}  // namespace hugeshim::doctor
