// hugeshim-doctor: audits a host for hugepage-backed LLM serving and, with
// --apply, sets THP modes and hugetlb pools. `hugeshim doctor ARGS` runs
// this program with the same ARGS.
#include <CLI/CLI.hpp>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <unistd.h>

#include "apply_settings.h"
#include "audit.h"
#include "byte_size.h"
#include "report.h"

using namespace hugeshim::doctor;

namespace {

struct Arguments {
  std::string root = "/";
  bool json = false;
  std::string expect_pinned;
  std::string cgroup;
  bool apply = false;
  bool dry_run = false;
  bool warm = false;
  std::string thp, defrag, shmem;
  std::vector<std::string> pools;
};

// One progress line on a terminal, rewritten in place. Recent kernels
// publish the page count in batches, so the count may jump; the elapsed
// time shows the reservation is still going.
class ProgressLine {
 public:
  explicit ProgressLine(bool enabled) : enabled_(enabled) {}
  void show(const std::string& what, int64_t now, int64_t target) {
    if (!enabled_) return;
    if (!shown_) start_ = std::chrono::steady_clock::now();
    double seconds =
        // The first report comes 100 ms into the write.
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count() + 0.1;
    std::cerr << "\r\033[K  " << what << ": " << now << " / " << target
              << " pages (" << std::fixed << std::setprecision(1) << seconds << " s)"
              << std::flush;
    shown_ = true;
  }
  void finish() {
    if (shown_) std::cerr << "\r\033[K" << std::flush;
    shown_ = false;
  }

 private:
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_;
};

// --warm, alone or after --apply: plans from `pools` and, unless it is a
// dry run, warms this host's pools as they are now.
WarmResult run_warmup(const Arguments& args, const HostFiles& files,
                      const std::vector<HugePool>& pools) {
  WarmResult warm = plan_warmup(pools);
  if (args.dry_run || warm.outcome == WarmOutcome::nothing) return warm;
  ProgressLine progress(isatty(STDERR_FILENO) && !args.json);
  warm_pools(files, warm, [&](int64_t now, int64_t total) {
    progress.show("warming huge pages", now, total);
  });
  progress.finish();
  return warm;
}

std::vector<HugePool> current_pools(const HostFiles& files) {
  return read_hugetlb_pools(files, read_meminfo(files));
}

std::string root_name(const HostFiles& files) {
  return files.root().empty() ? "/" : files.root();
}

int run_warm_only(const Arguments& args, const HostFiles& files) {
  WarmResult warm = run_warmup(args, files, current_pools(files));
  const int status = warm_exit_status(warm);
  if (args.json) {
    nlohmann::ordered_json j;
    j["schema"] = kJsonSchemaVersion;
    j["kind"] = "warm";
    j["root"] = root_name(files);
    j["dry_run"] = args.dry_run;
    j["warm"] = warm_json(warm);
    j["exit_status"] = status;
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << "hugeshim doctor --warm" << (args.dry_run ? " --dry-run" : "") << "\n";
    print_warm_text(std::cout, warm);
  }
  return status;
}

int run_apply(const Arguments& args, const HostFiles& files, const AuditOptions& options) {
  ApplyRequest request;
  if (!args.thp.empty()) request.thp = args.thp;
  if (!args.defrag.empty()) request.defrag = args.defrag;
  if (!args.shmem.empty()) request.shmem = args.shmem;
  for (const auto& text : args.pools) {
    auto t = parse_pool_target(text);
    if (!t) {
      std::cerr << "hugeshim doctor: --pool '" << text
                << "' is not SIZE:COUNT[@NODE] (e.g. 2M:512@0, 1G:4)\n";
      return kExitUsage;
    }
    request.pools.push_back(*t);
  }
  // No explicit setting: the recommended ones.
  if (!request.thp && !request.defrag && !request.shmem && request.pools.empty())
    request = recommended_request(read_host(files, ReadOptions{}), options);
  request.dry_run = args.dry_run;

  if (files.is_live_host() && !args.dry_run && geteuid() != 0) {
    std::cerr << "hugeshim doctor: --apply writes /sys and needs root (try --dry-run)\n";
    return kExitApplyFailed;
  }
  ProgressLine progress(isatty(STDERR_FILENO) && !args.json);
  ApplyResult result = apply_settings(
      files, request, [&](const ApplyAction& a, int64_t now, int64_t target) {
        progress.show("resizing " + a.subject + " pool", now, target);
      });
  progress.finish();
  int status = apply_exit_status(result);
  // The warm-up follows a complete apply (or its dry run, planned against
  // the pools the apply would leave).
  std::optional<WarmResult> warm;
  if (args.warm) {
    if (result.outcome == ApplyOutcome::applied) {
      warm = run_warmup(args, files, current_pools(files));
    } else if (result.outcome == ApplyOutcome::planned) {
      warm = run_warmup(args, files, pools_after_apply(current_pools(files), request, result));
    } else {
      warm = WarmResult{};
      warm->outcome = WarmOutcome::skipped;
      warm->note = std::string("--apply ended ") + apply_outcome_name(result.outcome) +
                   ", so nothing was warmed";
    }
    if (status == 0) status = warm_exit_status(*warm);
  }
  if (args.json) {
    auto j = apply_json(root_name(files), result, args.dry_run);
    if (warm) {
      j.erase("exit_status");
      j["warm"] = warm_json(*warm);
      j["exit_status"] = status;
    }
    std::cout << j.dump(2) << "\n";
  } else {
    print_apply_text(std::cout, result, args.dry_run);
    if (warm) print_warm_text(std::cout, *warm);
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  Arguments args;
  CLI::App app{
      "Audit this host for hugepage-backed GPU serving (THP, hugetlb pools per NUMA node, "
      "memlock, cgroup hugetlb limits, kernel, GPU NUMA/IOMMU) and apply the recommended "
      "settings.\nExit status: 0 ok/info, 1 warn, 2 error; with --apply 0 done, 3 the kernel "
      "gave fewer pages than asked (changes rolled back), 4 refused (nothing written) or a "
      "write failed (changes rolled back); with --warm 5 a page could not be faulted; 64 "
      "usage error.",
      "hugeshim doctor"};
  app.add_option("--root", args.root, "read (and --apply writes) below this directory")
      ->check(CLI::ExistingDirectory)
      ->capture_default_str();
  app.add_flag("--json", args.json, "machine-readable output (schema 1, docs/DOCTOR.md)");
  app.add_option("--expect-pinned", args.expect_pinned,
                 "pinned host memory the server will ask for (e.g. 16G); sizes the pool advice");
  app.add_option("--cgroup", args.cgroup,
                 "audit this cgroup path (e.g. /system.slice/vllm.service) instead of our own");
  app.add_flag("--apply", args.apply,
               "apply --thp/--defrag/--shmem/--pool, or the recommended settings when none is "
               "given");
  app.add_flag("--dry-run", args.dry_run,
               "with --apply or --warm: run the checks and show what would change or be "
               "warmed, change nothing");
  app.add_flag("--warm", args.warm,
               "fault every free page of the hugetlb pools once (per NUMA node, in parallel), "
               "so a fresh VM's host backs them now rather than at the first registration; "
               "after --apply, or alone for the pools as they are");
  app.add_option("--thp", args.thp, "THP enabled mode to apply")
      ->check(CLI::IsMember({"always", "madvise", "never"}));
  app.add_option("--defrag", args.defrag, "THP defrag mode to apply")
      ->check(CLI::IsMember({"always", "defer", "defer+madvise", "madvise", "never"}));
  app.add_option("--shmem", args.shmem,
                 "THP mode for shared memory (shmem_enabled) to apply; 'advise' on GPU hosts")
      ->check(CLI::IsMember({"always", "within_size", "advise", "never", "deny", "force"}));
  app.add_option("--pool", args.pools,
                 "hugetlb pool to apply: SIZE:COUNT[@NODE], e.g. 2M:512@0 (repeatable)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }

  bool wants_change = !args.thp.empty() || !args.defrag.empty() || !args.shmem.empty() ||
                      !args.pools.empty();
  if ((wants_change || (args.dry_run && !args.warm)) && !args.apply) {
    std::cerr << "hugeshim doctor: --thp, --defrag, --shmem, --pool go with --apply, "
                 "--dry-run with --apply or --warm\n";
    return kExitUsage;
  }
  AuditOptions options;
  if (!args.expect_pinned.empty()) {
    options.expect_pinned = parse_byte_size(args.expect_pinned);
    if (!options.expect_pinned || *options.expect_pinned == 0) {
      std::cerr << "hugeshim doctor: --expect-pinned '" << args.expect_pinned
                << "' is not a size (e.g. 16G, 512MiB, bytes)\n";
      return kExitUsage;
    }
  }
  HostFiles files(args.root);
  if (args.warm && !args.dry_run && !files.is_live_host()) {
    std::cerr << "hugeshim doctor: --warm faults this host's own huge pages, so with --root "
                 "only --dry-run plans it\n";
    return kExitUsage;
  }
  if (args.apply) return run_apply(args, files, options);
  if (args.warm) return run_warm_only(args, files);

  ReadOptions read_options;
  if (!args.cgroup.empty()) read_options.cgroup = args.cgroup;
  HostSnapshot host = read_host(files, read_options);
  Findings findings = audit(host, options);
  if (args.json)
    std::cout << audit_json(host, findings, options).dump(2) << "\n";
  else
    print_audit_text(std::cout, host, findings);
  return exit_status_for(worst_severity(findings));
}
