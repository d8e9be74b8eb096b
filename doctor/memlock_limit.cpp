// RLIMIT_MEMLOCK: bounds mlock (HUGESHIM_PIN=mlock) and RDMA memory
// registration (NCCL over InfiniBand), not CUDA's own pinning.
#include <sstream>
#include <sys/resource.h>

#include "audit.h"
#include "byte_size.h"

namespace hugeshim::doctor {
namespace {

std::optional<uint64_t> limit_value(rlim_t v) {
  if (v == RLIM_INFINITY) return std::nullopt;
  return static_cast<uint64_t>(v);
}

bool parse_limit_word(const std::string& word, std::optional<uint64_t>* out) {
  if (word == "unlimited") {
    *out = std::nullopt;
    return true;
  }
  auto v = parse_byte_size(word);
  if (!v) return false;
  *out = *v;
  return true;
}

std::string limit_text(const std::optional<uint64_t>& v) {
  return v ? format_bytes(*v) : "unlimited";
}

}  // namespace

MemlockLimit read_memlock_limit(const HostFiles& files) {
  MemlockLimit m;
  if (files.is_live_host()) {
    rlimit r;
    if (getrlimit(RLIMIT_MEMLOCK, &r) == 0) {
      m.known = true;
      m.soft = limit_value(r.rlim_cur);
      m.hard = limit_value(r.rlim_max);
      m.source = "getrlimit";
    }
    return m;
  }
  // A fake tree: "Max locked memory   8388608   8388608   bytes".
  auto text = files.read("/proc/self/limits");
  if (!text) return m;
  std::istringstream lines(*text);
  for (std::string line; std::getline(lines, line);) {
    constexpr std::string_view key = "Max locked memory";
    if (line.rfind(key, 0) != 0) continue;
    std::istringstream words(line.substr(key.size()));
    std::string soft, hard;
    words >> soft >> hard;
    if (parse_limit_word(soft, &m.soft) && parse_limit_word(hard, &m.hard)) {
      m.known = true;
      m.source = "/proc/self/limits";
    }
  }
  return m;
}

void audit_memlock(const HostSnapshot& host, const AuditOptions& options, Findings& out) {
  const auto& m = host.memlock;
  if (!m.known) {
    out.push_back({"memlock.limit", "", Severity::info,
                   "The locked-memory limit (RLIMIT_MEMLOCK) could not be read.", ""});
    return;
  }
  const std::string limits = "Locked-memory limit (RLIMIT_MEMLOCK, from " + m.source +
                             "): soft " + limit_text(m.soft) + ", hard " + limit_text(m.hard) +
                             ".";
  if (!m.soft) {
    out.push_back({"memlock.limit", "", Severity::ok, limits, ""});
    return;
  }
  const std::string scope =
      " It bounds mlock (HUGESHIM_PIN=mlock) and RDMA registrations (NCCL over "
      "InfiniBand) of processes without CAP_IPC_LOCK; CUDA's own pinning does not count "
      "against it. Servers inherit it from the shell or service that starts them "
      "(systemd: LimitMEMLOCK=infinity).";
  if (options.expect_pinned && *m.soft < *options.expect_pinned) {
    out.push_back({"memlock.limit", "", Severity::warn,
                   limits + " That is below the expected pinned memory of " +
                       format_bytes(*options.expect_pinned) + "." + scope,
                   "ulimit -l unlimited"});
  } else {
    out.push_back({"memlock.limit", "", Severity::info, limits + scope, "ulimit -l unlimited"});
  }
}

}  // namespace hugeshim::doctor
