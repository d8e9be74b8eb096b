#include "apply_settings.h"

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "byte_size.h"
#include "pool_advice.h"

namespace hugeshim::doctor {
namespace {

ApplyAction apply_choice(const HostFiles& files, const std::string& setting,
                         const std::string& path, const std::string& value, bool dry_run) {
  ApplyAction a{setting, "", path, "", value, "", ApplyStatus::planned, ""};
  auto text = files.read(path);
  if (!text) {
    a.status = ApplyStatus::failed;
    a.note = "cannot read " + path;
    return a;
  }
  a.before = selected_choice(*text);
  if (a.before == value) {
    a.after = a.before;
    a.status = ApplyStatus::unchanged;
    return a;
  }
  if (dry_run) return a;
  if (int err = files.write(path, value)) {
    a.status = ApplyStatus::failed;
    a.note = std::strerror(err);
    return a;
  }
  a.after = selected_choice(files.read(path).value_or(""));
  a.status = a.after == value ? ApplyStatus::changed : ApplyStatus::failed;
  if (a.status == ApplyStatus::failed) a.note = "reads back as '" + a.after + "'";
  return a;
}

ApplyAction apply_pool(const HostFiles& files, const PoolTarget& target, bool dry_run,
                       const PoolProgress& progress) {
  std::string subject =
      page_size_label(target.size_kb) + (target.node >= 0 ? "@" + std::to_string(target.node) : "");
  ApplyAction a{"hugetlb.pool", subject, pool_count_path(target), "",
                std::to_string(target.count), "", ApplyStatus::planned, ""};
  auto before = files.read_int(a.path);
  if (!before) {
    a.status = ApplyStatus::failed;
    a.note = "no such pool: cannot read " + a.path;
    return a;
  }
  a.before = std::to_string(*before);
  if (*before == target.count) {
    a.after = a.before;
    a.status = ApplyStatus::unchanged;
    return a;
  }
  if (dry_run) return a;

  // The kernel allocates the pages inside write(2), which can take
  // seconds for a large pool; the page count grows meanwhile, so a second
  // thread writes while this one polls and reports.
  std::atomic<bool> done{false};
  int err = 0;
  std::thread writer([&] {
    err = files.write(a.path, std::to_string(target.count));
    done.store(true);
  });
  auto last_report = std::chrono::steady_clock::now();
  while (!done.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto now = std::chrono::steady_clock::now();
    if (progress && now - last_report >= std::chrono::milliseconds(100)) {
      last_report = now;
      progress(a, files.read_int(a.path).value_or(0), target.count);
    }
  }
  writer.join();
  auto after = files.read_int(a.path);
  a.after = after ? std::to_string(*after) : "";
  if (err) {
    a.status = ApplyStatus::failed;
    a.note = std::strerror(err);
  } else if (after && *after == target.count) {
    a.status = ApplyStatus::changed;
  } else {
    a.status = ApplyStatus::short_;
    bool growing = target.count > *before;
    a.note = growing
                 ? "the kernel found memory for only " + a.after + " of " + a.requested +
                       " pages (" + format_bytes(target.size_kb * 1024) +
                       " each); free or compact memory (sync; echo 1 > "
                       "/proc/sys/vm/compact_memory) and run again"
                 : "pages still in use are released only when freed";
  }
  return a;
}

}  // namespace

const char* apply_status_name(ApplyStatus s) {
  switch (s) {
    case ApplyStatus::planned: return "planned";
    case ApplyStatus::unchanged: return "unchanged";
    case ApplyStatus::changed: return "changed";
    case ApplyStatus::short_: return "short";
    case ApplyStatus::failed: return "failed";
  }
  return "unknown";
}

ApplyRequest recommended_request(const HostSnapshot& host, const AuditOptions& options) {
  ApplyRequest r;
  r.thp = "madvise";
  r.defrag = "never";
  if (options.expect_pinned)
    if (const HugePool* pool = host.pool(kPool2MKb))
      r.pools = advise_pool(host, *pool, pages_for(*options.expect_pinned, kPool2MKb));
  return r;
}

std::vector<ApplyAction> apply_settings(const HostFiles& files, const ApplyRequest& request,
                                        const PoolProgress& progress) {
  std::vector<ApplyAction> actions;
  if (request.thp)
    actions.push_back(apply_choice(files, "thp.enabled",
                                   "/sys/kernel/mm/transparent_hugepage/enabled", *request.thp,
                                   request.dry_run));
  if (request.defrag)
    actions.push_back(apply_choice(files, "thp.defrag",
                                   "/sys/kernel/mm/transparent_hugepage/defrag",
                                   *request.defrag, request.dry_run));
  for (const auto& t : request.pools)
    actions.push_back(apply_pool(files, t, request.dry_run, progress));
  return actions;
}

int apply_exit_status(const std::vector<ApplyAction>& actions) {
  int status = 0;
  for (const auto& a : actions) {
    if (a.status == ApplyStatus::failed) return kExitApplyFailed;
    if (a.status == ApplyStatus::short_) status = kExitApplyShort;
  }
  return status;
}

}  // namespace hugeshim::doctor
