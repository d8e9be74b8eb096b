// hugeshim export --format perfetto -o FILE [RECORDING]: a recording as a
// Chrome trace-event JSON file for the Perfetto UI (perfetto_trace.h).
#include <CLI/CLI.hpp>

#include "commands.h"
#include "output_file.h"
#include "perfetto_trace.h"
#include "recording_input.h"
#include "sqlite_db.h"

namespace hugeshim::collector {

int cmd_export(int argc, char** argv) {
  CLI::App app("Export a recording for other tools", "hugeshim export");
  std::string format;
  std::string output;
  std::string file = "hugeshim.db";
  app.add_option("--format", format, "perfetto: Chrome trace-event JSON (ui.perfetto.dev, chrome://tracing)")
      ->required()
      ->check(CLI::IsMember({"perfetto"}));
  app.add_option("-o,--output", output, "file to write ('-': stdout); replaced atomically")->required();
  app.add_option("file", file, "SQLite file written by run or record")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (format == "perfetto") {
    prepare_recording_for_reading(file, "export");
    Database db(file, Database::Mode::read_only);
    write_file_atomically(output, [&](std::ostream& out) { write_perfetto_trace(db, out); });
  }
  return 0;
}

}  // namespace hugeshim::collector
