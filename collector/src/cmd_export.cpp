// hugeshim export --format FORMAT -o FILE: what the collector knows, in a
// format other tools read. One function per format, picked below; the file
// is replaced atomically (output_file.h), "-" is standard output.
//   prometheus   the metrics of `hugeshim serve`, once, for node_exporter's
//                textfile collector (--dir DIR..., as serve)
//   perfetto     a recording (FILE, default hugeshim.db) as Chrome
//                trace-event JSON for the Perfetto UI (perfetto_trace.h)
#include <CLI/CLI.hpp>

#include <iostream>
#include <stdexcept>

#include "commands.h"
#include "metrics_host_memory.h"
#include "metrics_ring_source.h"
#include "output_file.h"
#include "perfetto_trace.h"
#include "prometheus_exposition.h"
#include "recording_input.h"
#include "sqlite_db.h"

namespace hugeshim::collector {
namespace {

int export_prometheus(std::vector<std::string> dirs, const std::vector<std::string>& roots, const std::string& output) {
  RingMetricsSource source(metrics_ring_dirs(std::move(dirs), roots), std::cerr, roots);
  MetricsSnapshot snapshot = source.scrape();
  snapshot.host = read_host_memory();
  const std::string text = render_prometheus(snapshot);
  write_file_atomically(output, [&](std::ostream& out) { out << text; });
  return 0;
}

int export_perfetto(const std::string& file, const std::string& output) {
  prepare_recording_for_reading(file, "export");
  Database db(file, Database::Mode::read_only);
  write_file_atomically(output, [&](std::ostream& out) { write_perfetto_trace(db, out); });
  return 0;
}

}  // namespace

int cmd_export(int argc, char** argv) {
  CLI::App app("Export what the collector knows in another tool's format", "hugeshim export");
  std::string format;
  std::string output;
  std::string file = "hugeshim.db";
  std::vector<std::string> dirs, roots;
  app.add_option("--format", format,
                 "prometheus: the metrics of `hugeshim serve`, for node_exporter's textfile collector; "
                 "perfetto: a recording as Chrome trace-event JSON (ui.perfetto.dev, chrome://tracing)")
      ->required()
      ->check(CLI::IsMember({"prometheus", "perfetto"}));
  app.add_option("-o,--output", output, "file to write (replaced atomically; '-': standard output)")->required();
  app.add_option("file", file, "perfetto: SQLite file written by run or record")->capture_default_str();
  app.add_option("--dir", dirs,
                 "prometheus: ring directory, repeatable (default, without --root: HUGESHIM_RING_DIR or "
                 "/dev/shm/hugeshim-UID)");
  app.add_option("--root", roots, "prometheus: shared ring root (HUGESHIM_RING_ROOT), repeatable: its per-UID directories");
  CLI11_PARSE(app, argc, argv);
  if (format == "prometheus") return export_prometheus(std::move(dirs), roots, output);
  if (format == "perfetto") return export_perfetto(file, output);
  throw std::logic_error("format " + format + " accepted but not handled");
}

}  // namespace hugeshim::collector
