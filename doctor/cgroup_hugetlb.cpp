// Hugetlb limits of the audited cgroup and its ancestors. A fault limit
// (hugetlb.<size>.max) without a reservation limit (hugetlb.<size>.rsvd.max,
// kernel >= 5.7) lets mmap succeed and then kills the process with SIGBUS
// on first touch once the limit is reached; with the reservation limit the
// mmap itself fails and the shim falls back cleanly.
#include <algorithm>
#include <sstream>

#include "audit.h"
#include "byte_size.h"

namespace hugeshim::doctor {
namespace {

// "No limit" is the page counter's maximum: v2 normally writes it as the word
// "max", v1 as a number just below 2^63 bytes (9223372036854771712, rounded
// down to the page size). Some v2 hosts write the number too (the H200 VM of
// docs/gpu/2026-11-27-h200-run2/doctor.txt, which the doctor then called a
// limit of "8192.0 PiB"). Any value at or above 2^62 bytes (4 EiB, beyond
// any machine) therefore means no limit, whatever the cgroup version.
constexpr uint64_t kUnlimitedFrom = 1ull << 62;

// The page-size spelling of cgroup file names: 2048 kB -> "2MB".
std::string cgroup_size_name(uint64_t size_kb) {
  if (size_kb % (1024 * 1024) == 0) return std::to_string(size_kb / (1024 * 1024)) + "GB";
  if (size_kb % 1024 == 0) return std::to_string(size_kb / 1024) + "MB";
  return std::to_string(size_kb) + "KB";
}

bool has_word(const std::string& text, const std::string& word) {
  std::istringstream words(text);
  for (std::string w; words >> w;)
    if (w == word) return true;
  return false;
}

std::string parent_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

std::string dir_of(const std::string& mount, const std::string& path) {
  return path == "/" ? mount : mount + path;
}

// nullopt: no limit ("max", the counter maximum as a number) or no file.
std::optional<uint64_t> read_limit(const HostFiles& files, const std::string& file) {
  auto text = files.read(file);
  if (!text || *text == "max") return std::nullopt;
  auto v = parse_byte_size(*text);
  if (!v || *v >= kUnlimitedFrom) return std::nullopt;
  return v;
}

}  // namespace

CgroupHugetlb read_cgroup_hugetlb(const HostFiles& files, const std::vector<HugePool>& pools,
                                  const std::optional<std::string>& cgroup) {
  CgroupHugetlb c;
  std::optional<std::string> v2_path, v1_path;
  std::istringstream lines(files.read("/proc/self/cgroup").value_or(""));
  for (std::string line; std::getline(lines, line);) {
    auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string hier = line.substr(0, a), controllers = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (hier == "0" && controllers.empty()) v2_path = path;
    std::replace(controllers.begin(), controllers.end(), ',', ' ');
    if (has_word(controllers, "hugetlb")) v1_path = path;
  }
  if (cgroup) v2_path = v1_path = *cgroup;

  // The unified hierarchy sits at /sys/fs/cgroup, or at .../unified on
  // hybrid hosts; it counts only where hugetlb is one of its controllers.
  std::string mount;
  for (const char* candidate : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
    auto ctl = files.read(std::string(candidate) + "/cgroup.controllers");
    if (v2_path && ctl && has_word(*ctl, "hugetlb")) {
      mount = candidate;
      c.version = 2;
      c.path = *v2_path;
      break;
    }
  }
  if (c.version == 0 && v1_path && files.exists("/sys/fs/cgroup/hugetlb")) {
    mount = "/sys/fs/cgroup/hugetlb";
    c.version = 1;
    c.path = *v1_path;
  }
  if (c.version == 0) return c;
  c.dir = dir_of(mount, c.path);

  for (const auto& pool : pools) {
    const std::string size = cgroup_size_name(pool.size_kb);
    const std::string max_name =
        c.version == 2 ? "/hugetlb." + size + ".max" : "/hugetlb." + size + ".limit_in_bytes";
    const std::string rsvd_name = c.version == 2 ? "/hugetlb." + size + ".rsvd.max"
                                                 : "/hugetlb." + size + ".rsvd.limit_in_bytes";
    CgroupHugetlbLimit l;
    l.size_kb = pool.size_kb;
    // The tightest limit on the way up to the root applies.
    for (std::string path = c.path;; path = parent_of(path)) {
      const std::string dir = dir_of(mount, path);
      l.rsvd_supported |= files.exists(dir + rsvd_name);
      auto max = read_limit(files, dir + max_name);
      if (max && (!l.max || *max < *l.max)) {
        l.max = max;
        l.max_file = dir + max_name;
        // The reservation limit that protects it belongs in the same cgroup.
        l.rsvd_file = dir + rsvd_name;
      }
      auto rsvd = read_limit(files, dir + rsvd_name);
      if (rsvd && (!l.rsvd_max || *rsvd < *l.rsvd_max)) l.rsvd_max = rsvd;
      if (path == "/") break;
    }
    c.limits.push_back(l);
  }
  return c;
}

void audit_cgroup_hugetlb(const HostSnapshot& host, const AuditOptions& options, Findings& out) {
  const auto& c = host.cgroup;
  if (c.version == 0) {
    out.push_back({"cgroup.hugetlb", "", Severity::ok,
                   "No hugetlb cgroup controller is mounted: no cgroup limits hugetlb pages.",
                   ""});
    return;
  }
  bool any = false;
  for (const auto& l : c.limits) {
    if (!l.max) continue;
    any = true;
    const std::string subject = page_size_label(l.size_kb);
    const std::string where = "The cgroup " + c.path + " (v" + std::to_string(c.version) +
                              ") limits " + subject + " hugetlb pages to " +
                              format_bytes(*l.max) + " (" + l.max_file + ")";
    if (!l.rsvd_supported) {
      out.push_back({"cgroup.hugetlb_unreserved", subject, Severity::error,
                     where + ", and this kernel has no reservation accounting (before 5.7): "
                             "an mmap beyond the limit succeeds and the process dies of "
                             "SIGBUS on first touch. Eager population makes the shim fault "
                             "its pages at allocation, where it can still fall back.",
                     "export HUGESHIM_POPULATE=eager"});
    } else if (!l.rsvd_max || *l.rsvd_max > *l.max) {
      out.push_back({"cgroup.hugetlb_unreserved", subject, Severity::error,
                     where + ", but reservations are not limited (" + l.rsvd_file +
                         " is " + (l.rsvd_max ? format_bytes(*l.rsvd_max) : "unlimited") +
                         "): an mmap beyond the limit succeeds and the process dies of "
                         "SIGBUS on first touch. A reservation limit equal to the fault "
                         "limit makes the mmap fail instead, and the shim falls back.",
                     "echo " + std::to_string(*l.max) + " > " + l.rsvd_file});
    } else if (options.expect_pinned && l.size_kb == 2048 &&
               std::min(*l.max, *l.rsvd_max) < *options.expect_pinned) {
      uint64_t page = l.size_kb * 1024;
      uint64_t want = (*options.expect_pinned + page - 1) / page * page;
      out.push_back({"cgroup.hugetlb_limit", subject, Severity::warn,
                     where + ", below the expected pinned memory of " +
                         format_bytes(*options.expect_pinned) +
                         ": the rest falls back to base pages.",
                     "echo " + std::to_string(want) + " > " + l.max_file + " && echo " +
                         std::to_string(want) + " > " + l.rsvd_file});
    } else {
      out.push_back({"cgroup.hugetlb_limit", subject, Severity::info,
                     where + ", with reservation accounting (" +
                         format_bytes(*l.rsvd_max) +
                         "): a request beyond it fails at mmap and the shim falls back.",
                     ""});
    }
  }
  if (!any)
    out.push_back({"cgroup.hugetlb", "", Severity::ok,
                   "The cgroup " + c.path + " (v" + std::to_string(c.version) +
                       ") and its ancestors set no hugetlb limit.",
                   ""});
}

}  // namespace hugeshim::doctor
