// hugeshim record [-o FILE] [--duration S] [--dir DIR]: drains a ring
// directory (processes started elsewhere with the preload in their
// environment) into a SQLite file until SIGINT/SIGTERM or the duration.
// The file is appended to, so a restarted recorder continues where the last
// one stopped: what it committed was released, what it had not is re-read.
// A file that is not a recording (or empty) is refused, untouched (exit 2).
#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <iostream>

#include "commands.h"
#include "drain_loop.h"

namespace hugeshim::collector {
namespace {

std::atomic<bool> g_stop{false};
void request_stop(int) { g_stop = true; }

}  // namespace

int cmd_record(int argc, char** argv) {
  CLI::App app("Drain a ring directory into a SQLite file until stopped", "hugeshim record");
  std::string output = "hugeshim.db";
  std::string dir = default_ring_dir();
  double duration = 0;
  app.add_option("-o,--output", output, "recording to append to (created when absent; any other file is refused)")
      ->capture_default_str();
  app.add_option("--dir", dir, "ring directory (HUGESHIM_RING_DIR)")->capture_default_str();
  app.add_option("--duration", duration, "stop after S seconds (0: until SIGINT/SIGTERM)")->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);

  Store store(output, /*replace=*/false);
  Recorder recorder(store, dir, std::cerr);
  signal(SIGINT, request_stop);
  signal(SIGTERM, request_stop);
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(duration);
  drain_while(recorder, [&] { return !g_stop && (duration <= 0 || std::chrono::steady_clock::now() < end); });
  const RecorderStats& s = recorder.stats();
  std::cerr << "hugeshim record: " << s.records << " events from " << s.processes << " process(es) stored in "
            << output << " (" << s.finished << " finished, " << recorder.attached() << " still running, "
            << s.skipped << " slots skipped, " << s.rejected << " segments rejected)\n";
  return 0;
}

}  // namespace hugeshim::collector
