// hugeshim report [FILE] [--format text|json|csv] [--top N]
#include <CLI/CLI.hpp>
#include <iostream>
#include <unistd.h>

#include "commands.h"
#include "report.h"
#include "store.h"

namespace hugeshim::collector {

int cmd_report(int argc, char** argv) {
  CLI::App app("Report a recording", "hugeshim report");
  std::string file = "hugeshim.db";
  std::string format = "text";
  size_t top = 5;
  app.add_option("file", file, "SQLite file written by run or record")->capture_default_str();
  app.add_option("--format", format, "text, json or csv")->check(CLI::IsMember({"text", "json", "csv"}))->capture_default_str();
  app.add_option("--top", top, "largest/slowest events listed per process")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (access(file.c_str(), R_OK) != 0) throw std::runtime_error("cannot read " + file);
  if (const FileKind found = inspect_file(file); found.kind != FileKind::recording)
    throw RefusedFile(file + " is not a hugeshim recording (" +
                      (found.kind == FileKind::empty ? std::string("an empty file") : found.what) + ")");
  {
    // A recorder that was killed may have left staged batches: expand them
    // first when we may write the file (idempotent, see store.h).
    Database probe(file, Database::Mode::read_only);
    Statement table = probe.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'staged_batches'");
    bool pending = table.step() && table.int64(0) > 0;
    if (pending) {
      Statement staged = probe.prepare("SELECT EXISTS (SELECT 1 FROM staged_batches)");
      pending = staged.step() && staged.int64(0) > 0;
    }
    if (pending) {
      if (access(file.c_str(), W_OK) == 0) {
        Store store(file, /*replace=*/false);
        while (store.expand_staged_batch()) {
        }
      } else {
        std::cerr << "hugeshim report: " << file << " holds staged records not yet expanded (read-only file)\n";
      }
    }
  }
  Database db(file, Database::Mode::read_only);
  nlohmann::json report = build_report(db, top);
  if (format == "json") std::cout << render_json(report) << "\n";
  else if (format == "csv") render_csv(report, std::cout);
  else render_text(report, std::cout);
  return 0;
}

}  // namespace hugeshim::collector
