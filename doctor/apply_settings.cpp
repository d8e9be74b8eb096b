#include "apply_settings.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstring>
#include <map>
#include <sstream>
#include <thread>

#include "byte_size.h"
#include "memory_budget.h"
#include "pool_advice.h"

namespace hugeshim::doctor {
namespace {

// One requested setting: the action reported for it and, for a pool, its
// target.
struct Step {
  ApplyAction action;
  std::optional<PoolTarget> pool;
};

std::string join(const std::vector<std::string>& words) {
  std::string s;
  for (const auto& w : words) s += (s.empty() ? "" : ", ") + w;
  return s;
}

// pages * size_kb, saturated: counts come from files and flags, and an
// absurd one must be reported, not overflow.
int64_t pages_kb(int64_t pages, uint64_t size_kb) {
  int64_t size = static_cast<int64_t>(size_kb);
  if (pages > INT64_MAX / size) return INT64_MAX;
  if (pages < -(INT64_MAX / size)) return -INT64_MAX;
  return pages * size;
}

std::string pages_text(int64_t pages, uint64_t size_kb) {
  int64_t kb = pages_kb(pages, size_kb);
  return kb > INT64_MAX / 1024 ? "more than 8 EiB" : format_kb(kb);
}

ApplyAction refuse(ApplyAction a, std::vector<std::string>& problems, std::string problem) {
  a.status = ApplyStatus::failed;
  a.note = problem;
  problems.push_back(std::move(problem));
  return a;
}

// The words a sysfs choice file offers: "always [madvise] never".
std::vector<std::string> offered_choices(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in(text);
  for (std::string w; in >> w;) {
    if (w.size() > 2 && w.front() == '[' && w.back() == ']') w = w.substr(1, w.size() - 2);
    words.push_back(w);
  }
  return words;
}

ApplyAction plan_choice(const HostFiles& files, const std::string& flag,
                        const std::string& setting, const std::string& path,
                        const std::string& value, std::vector<std::string>& problems) {
  ApplyAction a{setting, "", path, "", value, "", "", ApplyStatus::planned, "",
                RollbackStatus::none, ""};
  auto text = files.read(path);
  if (!text) return refuse(a, problems, flag + ": cannot read " + path);
  a.before = selected_choice(*text);
  auto offered = offered_choices(*text);
  if (std::find(offered.begin(), offered.end(), value) == offered.end())
    return refuse(a, problems,
                  flag + ": this kernel offers only " + join(offered) + " in " + path);
  if (a.before == value) {
    a.after = a.before;
    a.status = ApplyStatus::unchanged;
  }
  return a;
}

std::string pool_subject(const PoolTarget& t) {
  return page_size_label(t.size_kb) + (t.node >= 0 ? "@" + std::to_string(t.node) : "");
}

std::string pool_dir(uint64_t size_kb) {
  return "/sys/kernel/mm/hugepages/hugepages-" + std::to_string(size_kb) + "kB";
}

// Checks pool targets in request order against the pool sizes the targets
// before them leave, so that a request is judged as a whole: two changes
// that fit one by one but not together are refused. A refused target
// counts as not applied, so each problem is reported once.
class PoolPlanner {
 public:
  explicit PoolPlanner(const HostFiles& files)
      : files_(files),
        nodes_(read_numa_nodes(files)),
        pools_(read_hugetlb_pools(files, MemInfo{})),
        host_(host_memory_budget(read_meminfo(files))) {}

  ApplyAction plan(const PoolTarget& t, std::vector<std::string>& problems) {
    const std::string flag = "--pool " + format_pool_target(t);
    ApplyAction a{"hugetlb.pool", pool_subject(t), pool_count_path(t), "",
                  std::to_string(t.count), "", "", ApplyStatus::planned, "",
                  RollbackStatus::none, ""};
    if (!files_.exists(pool_dir(t.size_kb))) {
      std::vector<std::string> sizes;
      for (const auto& p : pools_) sizes.push_back(page_size_label(p.size_kb));
      if (sizes.empty())
        return refuse(a, problems,
                      flag + ": /sys/kernel/mm/hugepages lists no huge page sizes (hidden, or "
                             "a kernel without CONFIG_HUGETLBFS)");
      return refuse(a, problems,
                    flag + ": the kernel has no " + page_size_label(t.size_kb) +
                        " huge pages (sizes: " + join(sizes) + ")");
    }
    if (t.node >= 0) {
      if (std::find(nodes_.begin(), nodes_.end(), t.node) == nodes_.end()) {
        std::vector<std::string> ids;
        for (int n : nodes_) ids.push_back(std::to_string(n));
        return refuse(a, problems,
                      flag + ": NUMA node " + std::to_string(t.node) + " does not exist (nodes: " +
                          (ids.empty() ? "none" : join(ids)) + ")");
      }
      std::string dir = a.path.substr(0, a.path.rfind('/'));
      if (!files_.exists(dir))
        return refuse(a, problems,
                      flag + ": node " + std::to_string(t.node) + " has no " +
                          page_size_label(t.size_kb) + " pool (no " + dir + ")");
    }
    auto now = count(a.path);
    if (!now) return refuse(a, problems, flag + ": cannot read " + a.path);
    a.before = std::to_string(*now);
    if (*now == t.count) {
      a.after = a.before;
      a.status = ApplyStatus::unchanged;
      return a;
    }
    const int64_t delta = t.count - *now;
    if (delta > 0)
      if (auto problem = check_growth(t, *now, delta))
        return refuse(a, problems, flag + ": " + *problem);
    record(t, delta);
    return a;
  }

 private:
  // The page count of a pool file after the targets checked so far.
  std::optional<int64_t> count(const std::string& path) {
    auto it = counts_.find(path);
    if (it != counts_.end()) return it->second;
    auto value = files_.read_int(path);
    if (value) counts_[path] = *value;
    return value;
  }

  // A node's own memory bounds its pool on hosts with several nodes; on a
  // single node host the node is the host, and /proc/meminfo gives the
  // kernel's MemAvailable instead of an estimate (and stays right on
  // kernels that initialise the node's memory lazily, where the node's
  // meminfo shows only the part initialised so far).
  std::optional<std::string> check_growth(const PoolTarget& t, int64_t now, int64_t delta) {
    if (t.node >= 0 && nodes_.size() > 1) {
      auto budget = node_memory_budget(files_, t.node);
      if (!budget)
        return "cannot read MemTotal and MemFree in " + node_meminfo_path(t.node) +
               ", so the pool cannot be checked against node " + std::to_string(t.node) +
               "'s memory";
      if (auto problem = exceeds(*budget, node_grown_kb_[t.node], t, now, delta)) return problem;
    }
    if (!host_)
      return std::string(
          "cannot read MemTotal and MemAvailable in /proc/meminfo, so the pool cannot be "
          "checked against the host's memory");
    return exceeds(*host_, host_grown_kb_, t, now, delta);
  }

  static std::optional<std::string> exceeds(const MemoryBudget& budget, int64_t grown_kb,
                                            const PoolTarget& t, int64_t now, int64_t delta) {
    const int64_t left_kb = budget.growth_kb() - grown_kb;
    const int64_t most = std::max<int64_t>(left_kb, 0) / static_cast<int64_t>(t.size_kb);
    if (delta <= most) return std::nullopt;
    std::string problem = std::to_string(delta) + " more " + page_size_label(t.size_kb) +
                          " pages (" + pages_text(delta, t.size_kb) + ") do not fit: " +
                          budget.describe();
    if (grown_kb > 0)
      problem += ", and the changes before this one take " + format_kb(grown_kb) + " of it";
    else if (grown_kb < 0)
      problem += ", plus " + format_kb(-grown_kb) + " the changes before this one free";
    PoolTarget fits = t;
    fits.count = now + most;
    return problem + "; at most --pool " + format_pool_target(fits);
  }

  void record(const PoolTarget& t, int64_t delta) {
    const int64_t kb = pages_kb(delta, t.size_kb);
    counts_[pool_count_path(t)] = t.count;
    host_grown_kb_ += kb;
    const std::string global = pool_count_path({t.size_kb, -1, 0});
    if (t.node >= 0) {
      node_grown_kb_[t.node] += kb;
      if (auto total = count(global)) counts_[global] = *total + delta;
    } else if (nodes_.size() == 1) {
      // One node holds the whole global pool. With several, the kernel
      // spreads a global change over them as it sees fit: node counts stay
      // as last known, and only the host bound applies to it.
      PoolTarget node{t.size_kb, nodes_[0], t.count};
      if (count(pool_count_path(node))) counts_[pool_count_path(node)] = t.count;
    }
  }

  const HostFiles& files_;
  const std::vector<int> nodes_;
  const std::vector<HugePool> pools_;  // for the list of page sizes
  const std::optional<MemoryBudget> host_;
  std::map<std::string, int64_t> counts_;  // pool file -> count after the targets so far
  int64_t host_grown_kb_ = 0;              // what the targets so far add to the host's pools
  std::map<int, int64_t> node_grown_kb_;   // ... and to each node's
};

// The value a setting has now: the selected word, or the page count.
std::optional<std::string> read_value(const HostFiles& files, const Step& s) {
  if (s.pool) {
    auto n = files.read_int(s.action.path);
    return n ? std::optional(std::to_string(*n)) : std::nullopt;
  }
  auto text = files.read(s.action.path);
  return text ? std::optional(selected_choice(*text)) : std::nullopt;
}

// Writes a value; returns 0 or an errno. The kernel allocates a pool's
// pages inside write(2), which can take seconds for a large pool; the page
// count grows meanwhile, so a second thread writes while this one polls
// and reports.
int write_value(const HostFiles& files, const Step& s, const std::string& value,
                const PoolProgress& progress) {
  if (!s.pool) return files.write(s.action.path, value);
  const int64_t target = std::stoll(value);
  std::atomic<bool> done{false};
  int err = 0;
  std::thread writer([&] {
    err = files.write(s.action.path, value);
    done.store(true);
  });
  auto last_report = std::chrono::steady_clock::now();
  while (!done.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto now = std::chrono::steady_clock::now();
    if (progress && now - last_report >= std::chrono::milliseconds(100)) {
      last_report = now;
      progress(s.action, files.read_int(s.action.path).value_or(0), target);
    }
  }
  writer.join();
  return err;
}

// Why a pool reads back `got` instead of `wanted`.
std::string pool_shortfall(const PoolTarget& t, const std::string& got, const std::string& wanted,
                           int64_t from) {
  if (std::stoll(wanted) > from)
    return "the kernel found memory for only " + got + " of " + wanted + " pages (" +
           format_bytes(t.size_kb * 1024) +
           " each); free or compact memory (sync; echo 1 > /proc/sys/vm/compact_memory) and run "
           "again";
  return "pages still in use are released only when freed";
}

// Applies one checked step. Reads the value again first: an earlier global
// pool change may have moved a node's count.
void execute(const HostFiles& files, Step& s, const PoolProgress& progress) {
  ApplyAction& a = s.action;
  auto now = read_value(files, s);
  if (!now) {
    a.status = ApplyStatus::failed;
    a.note = "cannot read " + a.path;
    return;
  }
  a.before = *now;
  if (a.before == a.requested) {
    a.after = a.before;
    a.status = ApplyStatus::unchanged;
    return;
  }
  int err = write_value(files, s, a.requested, progress);
  auto back = read_value(files, s);
  a.written = a.after = back.value_or("");
  if (err) {
    a.status = ApplyStatus::failed;
    a.note = std::strerror(err);
  } else if (!back) {
    a.status = ApplyStatus::failed;
    a.note = "cannot read " + a.path + " back";
  } else if (a.written == a.requested) {
    a.status = ApplyStatus::changed;
  } else if (s.pool) {
    a.status = ApplyStatus::short_;
    a.note = pool_shortfall(*s.pool, a.written, a.requested, std::stoll(a.before));
  } else {
    a.status = ApplyStatus::failed;
    a.note = "reads back as '" + a.written + "'";
  }
}

// Puts a setting back to `before`. True when it reads back so.
bool restore(const HostFiles& files, Step& s, const PoolProgress& progress) {
  ApplyAction& a = s.action;
  int err = write_value(files, s, a.before, progress);
  auto back = read_value(files, s);
  a.after = back.value_or("");
  if (!err && back == a.before) {
    a.rollback = RollbackStatus::restored;
    return true;
  }
  a.rollback = RollbackStatus::failed;
  if (err)
    a.rollback_note = "writing " + a.before + " failed: " + std::strerror(err);
  else if (!back)
    a.rollback_note = "wrote " + a.before + ", cannot read " + a.path + " back";
  else
    a.rollback_note = "wrote " + a.before + ", reads back " + a.after +
                      (s.pool ? " (" + pool_shortfall(*s.pool, a.after, a.before,
                                                      std::stoll(a.written)) + ")"
                              : "");
  return false;
}

std::string step_name(const ApplyAction& a) {
  return a.setting + (a.subject.empty() ? "" : " " + a.subject);
}

}  // namespace

const char* apply_status_name(ApplyStatus s) {
  switch (s) {
    case ApplyStatus::planned: return "planned";
    case ApplyStatus::unchanged: return "unchanged";
    case ApplyStatus::changed: return "changed";
    case ApplyStatus::short_: return "short";
    case ApplyStatus::failed: return "failed";
    case ApplyStatus::skipped: return "skipped";
  }
  return "unknown";
}

const char* rollback_status_name(RollbackStatus s) {
  switch (s) {
    case RollbackStatus::none: return "none";
    case RollbackStatus::restored: return "restored";
    case RollbackStatus::failed: return "failed";
  }
  return "unknown";
}

const char* apply_outcome_name(ApplyOutcome o) {
  switch (o) {
    case ApplyOutcome::applied: return "applied";
    case ApplyOutcome::planned: return "planned";
    case ApplyOutcome::refused: return "refused";
    case ApplyOutcome::rolled_back: return "rolled_back";
    case ApplyOutcome::rollback_incomplete: return "rollback_incomplete";
  }
  return "unknown";
}

ApplyRequest recommended_request(const HostSnapshot& host, const AuditOptions& options) {
  ApplyRequest r;
  r.thp = "madvise";
  r.defrag = "never";
  // Hosts with GPUs register shared memory with CUDA (audit: thp.shmem_enabled).
  const std::string& shmem = host.thp.shmem_enabled;
  if (!host.gpus.empty() && (shmem == "never" || shmem == "deny" || shmem == "force"))
    r.shmem = "advise";
  if (options.expect_pinned)
    if (const HugePool* pool = host.pool(kPool2MKb))
      r.pools = advise_pool(host, *pool, pages_for(*options.expect_pinned, kPool2MKb));
  return r;
}

ApplyResult apply_settings(const HostFiles& files, const ApplyRequest& request,
                           const PoolProgress& progress) {
  ApplyResult result;
  std::vector<Step> steps;
  if (request.thp)
    steps.push_back({plan_choice(files, "--thp " + *request.thp, "thp.enabled",
                                 "/sys/kernel/mm/transparent_hugepage/enabled", *request.thp,
                                 result.problems),
                     std::nullopt});
  if (request.defrag)
    steps.push_back({plan_choice(files, "--defrag " + *request.defrag, "thp.defrag",
                                 "/sys/kernel/mm/transparent_hugepage/defrag", *request.defrag,
                                 result.problems),
                     std::nullopt});
  if (request.shmem)
    steps.push_back({plan_choice(files, "--shmem " + *request.shmem, "thp.shmem_enabled",
                                 "/sys/kernel/mm/transparent_hugepage/shmem_enabled",
                                 *request.shmem, result.problems),
                     std::nullopt});
  PoolPlanner planner(files);
  for (const auto& t : request.pools) steps.push_back({planner.plan(t, result.problems), t});

  auto skip_planned = [&](size_t from, const std::string& why) {
    for (size_t i = from; i < steps.size(); ++i)
      if (steps[i].action.status == ApplyStatus::planned) {
        steps[i].action.status = ApplyStatus::skipped;
        steps[i].action.note = why;
      }
  };
  if (!result.problems.empty()) {
    skip_planned(0, "not written: the request was refused");
    result.outcome = ApplyOutcome::refused;
  } else if (request.dry_run) {
    result.outcome = ApplyOutcome::planned;
  } else {
    result.outcome = ApplyOutcome::applied;
    for (size_t i = 0; i < steps.size(); ++i) {
      execute(files, steps[i], progress);
      const ApplyAction& a = steps[i].action;
      if (a.status != ApplyStatus::short_ && a.status != ApplyStatus::failed) continue;
      skip_planned(i + 1, "not written: " + step_name(a) + " failed before it");
      // Last change first, the failed step included when it changed
      // anything (a pool the kernel grew part way).
      result.outcome = ApplyOutcome::rolled_back;
      for (size_t j = i + 1; j-- > 0;) {
        const ApplyAction& done = steps[j].action;
        if (done.after.empty() || done.after == done.before) continue;
        if (!restore(files, steps[j], progress)) result.outcome = ApplyOutcome::rollback_incomplete;
      }
      break;
    }
  }
  for (auto& s : steps) result.actions.push_back(std::move(s.action));
  return result;
}

int apply_exit_status(const ApplyResult& result) {
  switch (result.outcome) {
    case ApplyOutcome::applied:
    case ApplyOutcome::planned: return 0;
    case ApplyOutcome::refused:
    case ApplyOutcome::rollback_incomplete: return kExitApplyFailed;
    case ApplyOutcome::rolled_back: break;
  }
  for (const auto& a : result.actions)
    if (a.status == ApplyStatus::failed) return kExitApplyFailed;
  return kExitApplyShort;
}

}  // namespace hugeshim::doctor
