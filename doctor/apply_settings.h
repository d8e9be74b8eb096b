// `hugeshim doctor --apply`: writes THP modes and hugetlb pool sizes, all
// or nothing. Every change is checked before the first write (the file can
// be read, the mode or page size or node exists, a pool fits in memory:
// memory_budget.h); one problem refuses the whole request. When a write then
// fails anyway, or the kernel gives fewer pages than asked, what was
// already written is restored, last change first. Idempotent: a setting
// that already has the requested value is not written again.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "audit.h"
#include "host_files.h"
#include "pool_target.h"

namespace hugeshim::doctor {

struct ApplyRequest {
  std::optional<std::string> thp;     // enabled: always|madvise|never
  std::optional<std::string> defrag;  // always|defer|defer+madvise|madvise|never
  std::optional<std::string> shmem;   // shmem_enabled: always|within_size|advise|never|deny|force
  std::vector<PoolTarget> pools;      // applied in order
  bool dry_run = false;
};

// THP madvise, defrag never, shmem_enabled advise on GPU hosts where it is
// never, deny or force, and the 2 MiB pool advice when the workload size is
// known.
ApplyRequest recommended_request(const HostSnapshot& host, const AuditOptions& options);

enum class ApplyStatus {
  planned,    // --dry-run: would be written
  unchanged,  // already had the requested value
  changed,    // written, read back as requested
  short_,     // written, the kernel gave a different value (fewer pages)
  failed,     // refused by the checks, or could not be read or written
  skipped     // would have been written, but the request was refused or stopped earlier
};
const char* apply_status_name(ApplyStatus s);

enum class RollbackStatus {
  none,      // nothing of this setting needed restoring
  restored,  // written, then put back to `before`
  failed     // restoring it failed: `after` is what the file holds
};
const char* rollback_status_name(RollbackStatus s);

struct ApplyAction {
  std::string setting;  // "thp.enabled", "thp.defrag", "thp.shmem_enabled", "hugetlb.pool"
  std::string subject;  // "" or a pool target without count: "2M", "2M@1"
  std::string path;     // host path written
  std::string before, requested;
  std::string written;  // read back right after this setting's write (a failed one too); "" if none
  std::string after;    // what the file holds at the end, after any rollback
  ApplyStatus status = ApplyStatus::planned;
  std::string note;  // why it failed, fell short or was skipped
  RollbackStatus rollback = RollbackStatus::none;
  std::string rollback_note;  // why restoring failed
};

enum class ApplyOutcome {
  applied,             // every setting as requested (or already so)
  planned,             // --dry-run, and the checks passed
  refused,             // a check failed: nothing was written
  rolled_back,         // a write failed or fell short; everything written was restored
  rollback_incomplete  // as rolled_back, but at least one setting could not be restored
};
const char* apply_outcome_name(ApplyOutcome o);

struct ApplyResult {
  std::vector<ApplyAction> actions;   // one per requested setting, in request order
  std::vector<std::string> problems;  // what the checks refused, one line each
  ApplyOutcome outcome = ApplyOutcome::applied;
};

// Called about every 100 ms while the kernel is resizing a pool, with the
// page count read back so far.
using PoolProgress = std::function<void(const ApplyAction&, int64_t now, int64_t target)>;

ApplyResult apply_settings(const HostFiles& files, const ApplyRequest& request,
                           const PoolProgress& progress);

// 0: as requested (or planned); kExitApplyShort: the kernel gave fewer pages
// (everything was restored); kExitApplyFailed: refused, a write failed, or a
// setting could not be restored.
int apply_exit_status(const ApplyResult& result);

}  // namespace hugeshim::doctor
