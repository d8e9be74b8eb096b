#include "byte_size.h"
#include "hugeshim/events.h"
#include "report.h"

namespace hugeshim::doctor {
namespace {

using json = nlohmann::ordered_json;

template <typename T>
json or_null(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

json host_json(const HostSnapshot& h) {
  json j;
  j["kernel"] = {{"release", h.kernel.release},
                 {"major", h.kernel.version ? json(h.kernel.version->first) : json(nullptr)},
                 {"minor", h.kernel.version ? json(h.kernel.version->second) : json(nullptr)}};
  const auto& t = h.thp;
  j["thp"] = {{"present", t.present},
              {"enabled", t.enabled},
              {"defrag", t.defrag},
              {"shmem_enabled", t.shmem_enabled},
              {"dev_shm_huge", or_null(t.dev_shm_huge)},
              {"khugepaged",
               {{"defrag", or_null(t.khugepaged_defrag)},
                {"pages_to_scan", or_null(t.pages_to_scan)},
                {"scan_sleep_millisecs", or_null(t.scan_sleep_millisecs)},
                {"alloc_sleep_millisecs", or_null(t.alloc_sleep_millisecs)},
                {"max_ptes_none", or_null(t.max_ptes_none)}}}};
  j["hugetlb_pools"] = json::array();
  for (const auto& p : h.pools) {
    json nodes = json::array();
    for (const auto& n : p.nodes)
      nodes.push_back({{"node", n.node}, {"total", n.total}, {"free", n.free}, {"surplus", n.surplus}});
    j["hugetlb_pools"].push_back({{"page_size", page_size_label(p.size_kb)},
                                  {"page_size_kb", p.size_kb},
                                  {"total", p.total},
                                  {"free", p.free},
                                  {"reserved", p.reserved},
                                  {"surplus", p.surplus},
                                  {"overcommit", p.overcommit},
                                  {"nodes", nodes}});
  }
  const auto& m = h.meminfo;
  j["meminfo"] = {{"mem_total_kb", or_null(m.mem_total_kb)},
                  {"mem_available_kb", or_null(m.mem_available_kb)},
                  {"hugepages_total", or_null(m.hugepages_total)},
                  {"hugepages_free", or_null(m.hugepages_free)},
                  {"hugepages_reserved", or_null(m.hugepages_reserved)},
                  {"hugepages_surplus", or_null(m.hugepages_surplus)},
                  {"hugepage_size_kb", or_null(m.hugepage_size_kb)},
                  {"hugetlb_kb", or_null(m.hugetlb_kb)}};
  j["numa_nodes"] = h.numa_nodes;
  j["memlock"] = {{"known", h.memlock.known},
                  {"soft_bytes", or_null(h.memlock.soft)},
                  {"hard_bytes", or_null(h.memlock.hard)},
                  {"source", h.memlock.source}};
  json limits = json::array();
  for (const auto& l : h.cgroup.limits)
    limits.push_back({{"page_size", page_size_label(l.size_kb)},
                      {"max_bytes", or_null(l.max)},
                      {"max_file", l.max_file},
                      {"rsvd_supported", l.rsvd_supported},
                      {"rsvd_max_bytes", or_null(l.rsvd_max)},
                      {"rsvd_file", l.rsvd_file}});
  j["cgroup"] = {{"version", h.cgroup.version},
                 {"path", h.cgroup.path},
                 {"dir", h.cgroup.dir},
                 {"hugetlb", limits}};
  j["gpus"] = json::array();
  for (const auto& g : h.gpus)
    j["gpus"].push_back({{"bus_id", g.bus_id},
                         {"numa_node", g.numa_node},
                         {"local_cpus", g.local_cpus},
                         {"iommu_group", g.iommu_group >= 0 ? json(g.iommu_group) : json(nullptr)},
                         {"iommu_type", hugeshim_iommu_type_name(g.iommu_type)}});
  j["iommu_cmdline"] = json::array();
  for (const auto& [key, value] : h.iommu_cmdline)
    j["iommu_cmdline"].push_back({{"option", key}, {"value", value}});
  return j;
}

}  // namespace

json audit_json(const HostSnapshot& host, const Findings& findings, const AuditOptions& options) {
  json j;
  j["schema"] = kJsonSchemaVersion;
  j["kind"] = "audit";
  j["root"] = host.root;
  j["expect_pinned_bytes"] = or_null(options.expect_pinned);
  j["host"] = host_json(host);
  j["findings"] = json::array();
  for (const auto& f : findings)
    j["findings"].push_back({{"id", f.id},
                             {"subject", f.subject},
                             {"severity", severity_name(f.severity)},
                             {"explanation", f.explanation},
                             {"fix", f.fix.empty() ? json(nullptr) : json(f.fix)}});
  Severity worst = worst_severity(findings);
  j["worst"] = severity_name(worst);
  j["exit_status"] = exit_status_for(worst);
  return j;
}

json apply_json(const std::string& root, const ApplyResult& result, bool dry_run) {
  json j;
  j["schema"] = kJsonSchemaVersion;
  j["kind"] = "apply";
  j["root"] = root;
  j["dry_run"] = dry_run;
  j["outcome"] = apply_outcome_name(result.outcome);
  j["problems"] = result.problems;
  j["actions"] = json::array();
  for (const auto& a : result.actions)
    j["actions"].push_back({{"setting", a.setting},
                            {"subject", a.subject},
                            {"path", a.path},
                            {"before", a.before},
                            {"requested", a.requested},
                            {"after", a.after},
                            {"status", apply_status_name(a.status)},
                            {"note", a.note},
                            {"written", a.written},
                            {"rollback", rollback_status_name(a.rollback)},
                            {"rollback_note", a.rollback_note}});
  j["exit_status"] = apply_exit_status(result);
  return j;
}

json warm_json(const WarmResult& result) {
  json pools = json::array();
  for (const auto& t : result.targets)
    pools.push_back({{"page_size", page_size_label(t.size_kb)},
                     {"page_size_kb", t.size_kb},
                     {"node", t.node >= 0 ? json(t.node) : json(nullptr)},
                     {"free_before", t.free_before},
                     {"pages", t.pages},
                     {"bytes", static_cast<uint64_t>(t.pages) * t.size_kb * 1024},
                     {"threads", t.threads},
                     {"warmed", t.warmed},
                     {"wall_us", t.micros},
                     {"free_after", or_null(t.free_after)},
                     {"error", t.error}});
  return {{"outcome", warm_outcome_name(result.outcome)},
          {"note", result.note},
          {"pages", result.pages()},
          {"bytes", result.bytes()},
          {"warmed", result.warmed()},
          {"wall_us", result.micros},
          {"pools", pools}};
}

}  // namespace hugeshim::doctor
