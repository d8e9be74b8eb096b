#include "audit.h"

namespace hugeshim::doctor {

Findings audit(const HostSnapshot& host, const AuditOptions& options) {
  Findings out;
  audit_kernel(host, out);
  audit_thp(host, out);
  audit_hugetlb_pools(host, options, out);
  audit_memlock(host, options, out);
  audit_cgroup_hugetlb(host, options, out);
  audit_gpus(host, out);
  return out;
}

}  // namespace hugeshim::doctor
