// `hugeshim doctor --apply`: writes THP modes and hugetlb pool sizes,
// reports what the kernel actually gave, and is idempotent (a setting that
// already has the requested value is not written again).
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
  std::vector<PoolTarget> pools;      // applied in order
  bool dry_run = false;
};

// THP madvise, defrag never, and the 2 MiB pool advice when the workload
// size is known.
ApplyRequest recommended_request(const HostSnapshot& host, const AuditOptions& options);

enum class ApplyStatus {
  planned,    // --dry-run: would be written
  unchanged,  // already had the requested value
  changed,    // written, reads back as requested
  short_,     // written, the kernel gave a different value (fewer pages)
  failed      // could not be read or written
};
const char* apply_status_name(ApplyStatus s);

struct ApplyAction {
  std::string setting;  // "thp.enabled", "thp.defrag", "hugetlb.pool"
  std::string subject;  // "" or a pool target without count: "2M", "2M@1"
  std::string path;     // host path written
  std::string before, requested, after;
  ApplyStatus status = ApplyStatus::planned;
  std::string note;  // why it failed or fell short
};

// Called about every 100 ms while the kernel is resizing a pool, with the
// page count read back so far.
using PoolProgress = std::function<void(const ApplyAction&, int64_t now, int64_t target)>;

std::vector<ApplyAction> apply_settings(const HostFiles& files, const ApplyRequest& request,
                                        const PoolProgress& progress);

// 0: everything as requested; kExitApplyShort; kExitApplyFailed.
int apply_exit_status(const std::vector<ApplyAction>& actions);

}  // namespace hugeshim::doctor
