#include <iomanip>
#include <sstream>

#include "byte_size.h"
#include "hugeshim/events.h"
#include "report.h"

namespace hugeshim::doctor {
namespace {

std::string opt(const std::optional<int64_t>& v) { return v ? std::to_string(*v) : "?"; }

std::string limit(const std::optional<uint64_t>& v) { return v ? format_bytes(*v) : "unlimited"; }

// Word-wraps text to 100 columns, every line indented by `indent`.
void wrapped(std::ostream& out, const std::string& text, size_t indent) {
  constexpr size_t kWidth = 100;
  std::istringstream words(text);
  size_t col = 0;
  for (std::string w; words >> w;) {
    if (col > 0 && col + 1 + w.size() > kWidth) {
      out << "\n";
      col = 0;
    }
    if (col == 0) {
      out << std::string(indent, ' ') << w;
      col = indent + w.size();
    } else {
      out << ' ' << w;
      col += 1 + w.size();
    }
  }
  out << "\n";
}

void row(std::ostream& out, const std::string& label, const std::string& text) {
  out << "  " << std::left << std::setw(10) << label << text << "\n";
}

}  // namespace

void print_audit_text(std::ostream& out, const HostSnapshot& h, const Findings& findings) {
  out << "hugeshim doctor: host audit (root " << h.root << ")\n\n";
  row(out, "kernel", h.kernel.release.empty() ? "?" : h.kernel.release);
  if (h.thp.present)
    row(out, "THP", "enabled=" + h.thp.enabled + " defrag=" + h.thp.defrag +
                        " shmem_enabled=" + h.thp.shmem_enabled + " /dev/shm huge=" +
                        h.thp.dev_shm_huge.value_or("(not tmpfs)") +
                        " khugepaged.defrag=" + opt(h.thp.khugepaged_defrag));
  else
    row(out, "THP", "not available");
  for (const auto& p : h.pools) {
    std::string text = page_size_label(p.size_kb) + ": total " + std::to_string(p.total) +
                       " free " + std::to_string(p.free) + " reserved " +
                       std::to_string(p.reserved) + " surplus " + std::to_string(p.surplus) +
                       " overcommit " + std::to_string(p.overcommit);
    for (const auto& n : p.nodes)
      text += " | node" + std::to_string(n.node) + " " + std::to_string(n.free) + "/" +
              std::to_string(n.total) + " free";
    row(out, "hugetlb", text);
  }
  if (h.memlock.known)
    row(out, "memlock", "soft " + limit(h.memlock.soft) + ", hard " + limit(h.memlock.hard));
  else
    row(out, "memlock", "?");
  if (h.cgroup.version == 0) {
    row(out, "cgroup", "no hugetlb controller");
  } else {
    std::string text = "v" + std::to_string(h.cgroup.version) + " " + h.cgroup.path;
    // "unlimited" where neither the cgroup nor an ancestor sets a limit.
    for (const auto& l : h.cgroup.limits)
      text += " | " + page_size_label(l.size_kb) + " max " + limit(l.max) + " rsvd " +
              (l.rsvd_supported ? limit(l.rsvd_max) : "unsupported");
    row(out, "cgroup", text);
  }
  if (h.gpus.empty()) row(out, "GPUs", "none");
  for (const auto& g : h.gpus)
    row(out, "GPU", std::string(g.bus_id) + " node " + std::to_string(g.numa_node) + " cpus " +
                        (g.local_cpus[0] ? g.local_cpus : "?") + " iommu " +
                        hugeshim_iommu_type_name(g.iommu_type) +
                        (g.iommu_group >= 0 ? " (group " + std::to_string(g.iommu_group) + ")" : ""));
  std::string cmdline;
  for (const auto& [k, v] : h.iommu_cmdline) cmdline += " " + k + (v.empty() ? "" : "=" + v);
  row(out, "IOMMU", cmdline.empty() ? "no command-line options" : cmdline.substr(1));

  out << "\nFindings\n";
  for (const auto& f : findings) {
    std::string tag = std::string("[") + severity_name(f.severity) + "]";
    out << "  " << std::left << std::setw(8) << tag << f.id
        << (f.subject.empty() ? "" : " (" + f.subject + ")") << "\n";
    wrapped(out, f.explanation, 10);
    if (!f.fix.empty()) out << "          fix: " << f.fix << "\n";
  }
  Severity worst = worst_severity(findings);
  out << "\nWorst: " << severity_name(worst) << " (exit " << exit_status_for(worst) << ")\n";
}

void print_apply_text(std::ostream& out, const ApplyResult& result, bool dry_run) {
  out << "hugeshim doctor --apply" << (dry_run ? " --dry-run" : "") << "\n";
  const bool refused = result.outcome == ApplyOutcome::refused;
  // Not wrapped: each problem stays one line that names the flag.
  if (refused) out << "  refused, nothing was changed:\n";
  for (const auto& p : result.problems) out << "    " << p << "\n";
  if (result.actions.empty()) out << "  nothing to apply\n";
  auto name = [](const ApplyAction& a) {
    return a.setting + (a.subject.empty() ? "" : " " + a.subject);
  };
  for (const auto& a : result.actions) {
    out << "  " << std::left << std::setw(22) << name(a) << std::setw(10)
        << apply_status_name(a.status);
    switch (a.status) {
      case ApplyStatus::planned: out << a.before << " -> " << a.requested; break;
      case ApplyStatus::unchanged: out << "already " << a.after; break;
      case ApplyStatus::changed: out << a.before << " -> " << a.written; break;
      case ApplyStatus::short_:
        out << a.before << " -> " << a.written << " (asked " << a.requested << ")";
        break;
      case ApplyStatus::failed: out << "wanted " << a.requested; break;
      case ApplyStatus::skipped: out << a.before << " -> " << a.requested; break;
    }
    out << "   " << a.path << "\n";
    // A refused request lists its problems above; the notes would repeat them.
    if (!a.note.empty() && !refused) out << "      " << a.note << "\n";
  }
  if (result.outcome != ApplyOutcome::rolled_back &&
      result.outcome != ApplyOutcome::rollback_incomplete)
    return;
  bool any = false;
  for (const auto& a : result.actions) any |= a.rollback != RollbackStatus::none;
  if (any) out << "  rolled back, last change first:\n";
  for (auto a = result.actions.rbegin(); a != result.actions.rend(); ++a) {
    if (a->rollback == RollbackStatus::none) continue;
    out << "    " << std::left << std::setw(22) << name(*a);
    if (a->rollback == RollbackStatus::restored)
      out << "restored " << a->after << " (was " << a->written << ")\n";
    else
      out << "NOT restored: " << a->rollback_note << "\n";
  }
  if (result.outcome == ApplyOutcome::rolled_back)
    out << "  the host is as it was before\n";
  else
    out << "  the host is NOT as it was before: the settings NOT restored keep the values shown\n";
}

namespace {

std::string seconds(int64_t micros) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(3) << micros / 1e6 << " s";
  return s.str();
}

std::string pages_of(int64_t pages, uint64_t size_kb) {
  return std::to_string(pages) + " pages (" + format_bytes(pages * size_kb * 1024) + ")";
}

}  // namespace

void print_warm_text(std::ostream& out, const WarmResult& result) {
  if (result.outcome == WarmOutcome::skipped) {
    out << "  warm-up skipped: " << result.note << "\n";
    return;
  }
  if (result.outcome == WarmOutcome::nothing) {
    out << "  nothing to warm: no free huge pages\n";
    return;
  }
  uint64_t warmed_bytes = 0;
  for (const auto& t : result.targets) {
    std::string name = "warm " + page_size_label(t.size_kb) +
                       (t.node >= 0 ? "@" + std::to_string(t.node) : "");
    const bool planned = result.outcome == WarmOutcome::planned;
    const char* status = planned ? "planned" : t.error.empty() ? "warmed" : "failed";
    out << "  " << std::left << std::setw(22) << name << std::setw(10) << status;
    if (planned) {
      out << pages_of(t.pages, t.size_kb) << ", " << t.threads << " threads\n";
      continue;
    }
    const uint64_t bytes = t.warmed * t.size_kb * 1024;
    warmed_bytes += bytes;
    out << t.warmed << " of " << pages_of(t.pages, t.size_kb) << " in " << seconds(t.micros);
    if (t.warmed > 0 && t.micros > 0)
      out << " (" << format_bytes(static_cast<uint64_t>(bytes * 1e6 / t.micros)) << "/s)";
    out << ", " << t.threads << " threads, free " << t.free_before << " -> "
        << (t.free_after ? std::to_string(*t.free_after) : "?") << "\n";
    if (!t.error.empty()) out << "      " << t.error << "; unmapped\n";
  }
  if (!result.note.empty()) out << "  note: " << result.note << "\n";
  switch (result.outcome) {
    case WarmOutcome::planned:
      out << "  would warm " << result.pages() << " pages (" << format_bytes(result.bytes())
          << ")\n";
      break;
    case WarmOutcome::warmed:
      out << "  warmed " << result.warmed() << " pages (" << format_bytes(warmed_bytes) << ") in "
          << seconds(result.micros) << "\n";
      break;
    case WarmOutcome::failed:
      out << "  warm-up failed: " << result.warmed() << " of " << result.pages()
          << " pages faulted in " << seconds(result.micros)
          << "; every mapping was unmapped\n";
      break;
    case WarmOutcome::nothing:
    case WarmOutcome::skipped: break;
  }
}

}  // namespace hugeshim::doctor
