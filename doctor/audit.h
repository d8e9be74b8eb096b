// The audit rules: a HostSnapshot in, findings out. One audit_* function
// per domain, implemented beside that domain's reader; audit() runs them
// all in report order.
#pragma once

#include <cstdint>
#include <optional>

#include "finding.h"
#include "host_snapshot.h"

namespace hugeshim::doctor {

struct AuditOptions {
  // Pinned host memory the server(s) will ask for (--expect-pinned), in
  // bytes; sizes the pool advice.
  std::optional<uint64_t> expect_pinned;
};

Findings audit(const HostSnapshot& host, const AuditOptions& options);

void audit_kernel(const HostSnapshot& host, Findings& out);
void audit_thp(const HostSnapshot& host, Findings& out);
void audit_hugetlb_pools(const HostSnapshot& host, const AuditOptions& options, Findings& out);
void audit_memlock(const HostSnapshot& host, const AuditOptions& options, Findings& out);
void audit_cgroup_hugetlb(const HostSnapshot& host, const AuditOptions& options, Findings& out);
void audit_gpus(const HostSnapshot& host, Findings& out);

}  // namespace hugeshim::doctor
