// hugeshim report [FILE] [--format text|json|csv|html] [--top N] [-o OUT]
#include <CLI/CLI.hpp>
#include <iostream>

#include "commands.h"
#include "output_file.h"
#include "recording_input.h"
#include "report.h"
#include "report_html.h"

namespace hugeshim::collector {

int cmd_report(int argc, char** argv) {
  CLI::App app("Report a recording", "hugeshim report");
  std::string file = "hugeshim.db";
  std::string format = "text";
  std::string output = "-";
  size_t top = 5;
  app.add_option("file", file, "SQLite file written by run or record")->capture_default_str();
  app.add_option("--format", format, "text, json, csv or html (one self-contained page with charts)")
      ->check(CLI::IsMember({"text", "json", "csv", "html"}))
      ->capture_default_str();
  app.add_option("--top", top, "largest/slowest events listed per process")->capture_default_str();
  app.add_option("-o,--output", output, "file to write ('-': stdout); replaced atomically")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  prepare_recording_for_reading(file, "report");
  Database db(file, Database::Mode::read_only);
  nlohmann::json report = build_report(db, top);
  write_file_atomically(output, [&](std::ostream& out) {
    if (format == "json") out << render_json(report) << "\n";
    else if (format == "csv") render_csv(report, out);
    else if (format == "html") render_html(report, db, out);
    else render_text(report, out);
  });
  return 0;
}

}  // namespace hugeshim::collector
