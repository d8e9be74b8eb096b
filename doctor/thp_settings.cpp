// Transparent huge pages: enabled, defrag, khugepaged and shmem_enabled.
// Recommended for inference hosts: enabled=madvise (the shim and allocators
// that ask get THP, nothing else does), defrag=never (no page fault ever
// stalls in direct compaction).
#include "audit.h"

namespace hugeshim::doctor {
namespace {

constexpr const char* kThp = "/sys/kernel/mm/transparent_hugepage";

std::string thp_file(const char* name) { return std::string(kThp) + "/" + name; }

}  // namespace

ThpSettings read_thp_settings(const HostFiles& files) {
  ThpSettings t;
  t.present = files.exists(kThp);
  if (!t.present) return t;
  t.enabled = selected_choice(files.read(thp_file("enabled")).value_or(""));
  t.defrag = selected_choice(files.read(thp_file("defrag")).value_or(""));
  t.shmem_enabled = selected_choice(files.read(thp_file("shmem_enabled")).value_or(""));
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

  if (t.shmem_enabled == "never" || t.shmem_enabled == "deny") {
    out.push_back({"thp.shmem_enabled", "", Severity::info,
                   "THP for shared memory is '" + t.shmem_enabled +
                       "': files in /dev/shm (such as a CPU KV-cache offload buffer that "
                       "is then registered with CUDA) use base pages even when madvised, "
                       "so pinning them costs 512x more pages. 'advise' lets "
                       "madvise(MADV_HUGEPAGE) give them huge pages.",
                   "echo advise > /sys/kernel/mm/transparent_hugepage/shmem_enabled"});
  } else {
    out.push_back({"thp.shmem_enabled", "", Severity::ok,
                   "THP for shared memory is '" + t.shmem_enabled + "'.", ""});
  }
}

}  // namespace hugeshim::doctor
