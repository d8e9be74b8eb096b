// hugeshim record [-o FILE] [--duration S] [--dir DIR]... [--root ROOT]:
// drains ring directories (processes started elsewhere with the preload in
// their environment) into a SQLite file until SIGINT/SIGTERM or the
// duration. --root reads a shared ring root (ring_root.h): every per-UID
// directory under it for root, one's own otherwise, looked for again every
// second so users who start later are found.
// The file is appended to, so a restarted recorder continues where the last
// one stopped: what it committed was released, what it had not is re-read.
// A file that is not a recording (or empty) is refused, untouched (exit 2).
// --kernel (root) also records the kernel events of the recorded processes,
// each followed from the moment its ring is found (kernel_recording.h).
#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <iostream>
#include <memory>
#include <set>
#include <thread>
#include <unistd.h>

#include "commands.h"
#include "drain_loop.h"
#include "kernel_attribution.h"
#include "kernel_recording.h"
#include "ring_root.h"

namespace hugeshim::collector {
namespace {

std::atomic<bool> g_stop{false};
void request_stop(int) { g_stop = true; }

// The recorders of the named directories and of a shared root's per-UID
// directories, all storing into one Store.
class Recorders {
 public:
  Recorders(Store& store, const std::vector<std::string>& dirs, std::string root)
      : store_(store), root_(std::move(root)) {
    for (const std::string& dir : dirs) add(dir);
    rescan_root();
  }

  // New per-UID directories under the root; each problem is told once. A
  // root that cannot be read at the start is an error; later (removed
  // while recording) it is reported and what is attached keeps draining.
  void rescan_root() {
    if (root_.empty()) return;
    std::vector<std::string> skipped;
    std::vector<RingRootDirectory> found;
    try {
      found = ring_root_directories(root_, &skipped);
    } catch (const std::runtime_error& e) {
      if (!scanned_) throw;
      if (told_.insert(e.what()).second) std::cerr << "hugeshim record: " << e.what() << "\n";
    }
    scanned_ = true;
    for (const RingRootDirectory& d : found)
      if ((geteuid() == 0 || d.uid == geteuid()) && !opened_.count(d.path)) {
        opened_.insert(d.path);
        try {
          add(d.path, d.uid);
        } catch (const std::runtime_error& e) {
          std::cerr << "hugeshim record: skipping " << d.path << ": " << e.what() << "\n";
        }
      }
    for (const std::string& line : skipped)
      if (told_.insert(line).second) std::cerr << "hugeshim record: skipping " << line << "\n";
  }

  std::vector<std::unique_ptr<Recorder>>& all() { return recorders_; }
  // Called with each process attached, by every recorder, later ones too.
  void on_attach(std::function<void(pid_t)> callback) {
    on_attach_ = std::move(callback);
    for (auto& r : recorders_) r->on_attach(on_attach_);
  }

 private:
  void add(const std::string& dir, uid_t owner = geteuid()) {
    recorders_.push_back(std::make_unique<Recorder>(store_, dir, std::cerr, owner));
    if (on_attach_) recorders_.back()->on_attach(on_attach_);
    opened_.insert(dir);
  }
  Store& store_;
  std::string root_;
  std::vector<std::unique_ptr<Recorder>> recorders_;
  std::set<std::string> opened_, told_;
  bool scanned_ = false;
  std::function<void(pid_t)> on_attach_;
};

// drain_while (drain_loop.h) over several recorders, with the same cadence.
void drain_all_while(Recorders& recorders, const std::function<bool()>& keep_going) {
  using clock = std::chrono::steady_clock;
  const DrainCadence cadence;
  auto next_discover = clock::now(), next_rescan = clock::now() + std::chrono::seconds(1);
  while (keep_going()) {
    const auto now = clock::now();
    if (now >= next_rescan) {
      recorders.rescan_root();
      next_rescan = now + std::chrono::seconds(1);
    }
    if (now >= next_discover) {
      for (auto& r : recorders.all()) r->discover();
      next_discover = now + cadence.discover;
    }
    for (auto& r : recorders.all()) r->drain();
    // Staged batches live in the one Store: any recorder expands them.
    while (clock::now() < now + cadence.drain && recorders.all().front()->expand_one()) {
    }
    std::this_thread::sleep_until(now + cadence.drain);
  }
  for (auto& r : recorders.all()) {
    r->discover();
    r->drain();
  }
  recorders.all().front()->expand_all();
}

}  // namespace

int cmd_record(int argc, char** argv) {
  CLI::App app("Drain ring directories into a SQLite file until stopped", "hugeshim record");
  std::string output = "hugeshim.db";
  std::vector<std::string> dirs;
  std::string root;
  double duration = 0;
  bool kernel = false;
  app.add_option("-o,--output", output, "recording to append to (created when absent; any other file is refused)")
      ->capture_default_str();
  app.add_option("--dir", dirs, "ring directory, repeatable (default HUGESHIM_RING_DIR: " + default_ring_dir() + ")");
  app.add_option("--root", root,
                 "shared ring root (HUGESHIM_RING_ROOT, e.g. /run/hugeshim): its per-UID directories, "
                 "every user's for root, one's own otherwise");
  app.add_option("--duration", duration, "stop after S seconds (0: until SIGINT/SIGTERM)")->check(CLI::NonNegativeNumber);
  app.add_flag("--kernel", kernel,
               "also record the kernel events (compaction, huge page allocation, page faults, IOMMU and DMA "
               "mappings) of the recorded processes; needs root and tracefs");
  CLI11_PARSE(app, argc, argv);
  if (dirs.empty() && root.empty()) dirs.push_back(default_ring_dir());
  // First, so that a stop asked for while the store and the directories
  // are being opened ends the recording cleanly too.
  signal(SIGINT, request_stop);
  signal(SIGTERM, request_stop);

  Store store(output, /*replace=*/false);
  // Opened before anything runs: a bad directory or root is an error now.
  Recorders recorders(store, dirs, root);
  std::unique_ptr<KernelRecording> kernel_events;
  if (kernel) kernel_events = KernelRecording::start(store, "hugeshim record", std::cerr);
  if (kernel_events) recorders.on_attach([&](pid_t pid) { kernel_events->follow(pid); });
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(duration);
  auto keep_going = [&] {
    if (kernel_events) kernel_events->poll();
    return !g_stop && (duration <= 0 || std::chrono::steady_clock::now() < end);
  };
  // An empty root is valid: users' directories appear as they start.
  while (recorders.all().empty() && keep_going()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    recorders.rescan_root();
  }
  RecorderStats s;
  size_t attached = 0;
  if (!recorders.all().empty()) {
    drain_all_while(recorders, keep_going);
    for (const auto& r : recorders.all()) {
      s.records += r->stats().records;
      s.processes += r->stats().processes;
      s.finished += r->stats().finished;
      s.skipped += r->stats().skipped;
      s.rejected += r->stats().rejected;
      attached += r->attached();
    }
  }
  if (kernel_events) {
    kernel_events->finish();
    attribute_kernel_events(store.db());  // after the last batch was expanded
  }
  std::cerr << "hugeshim record: " << s.records << " events from " << s.processes << " process(es) stored in "
            << output << " (" << s.finished << " finished, " << attached << " still running, " << s.skipped
            << " slots skipped, " << s.rejected << " segments rejected)";
  if (kernel_events) std::cerr << "; kernel events: " << kernel_events->events() << " stored, " << kernel_events->lost() << " lost";
  std::cerr << "\n";
  return 0;
}

}  // namespace hugeshim::collector
