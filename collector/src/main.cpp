// `hugeshim`: git-style dispatch. Built-in subcommands run here; any other
// name X runs the executable hugeshim-X next to this one (hugeshim-doctor,
// ...), so tools can live in their own folders.
#include <cerrno>
#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <unistd.h>

#include "commands.h"
#include "recorder.h"
#include "segment_reaper.h"
#include "store.h"

namespace {

constexpr const char* kUsage =
    "usage: hugeshim <command> [options]\n"
    "\n"
    "  run [-o FILE] [--force|--append] -- CMD...\n"
    "                            run CMD with the shim preloaded, record its rings, print a summary\n"
    "  record [-o FILE] [--duration S] [--dir DIR]... [--root ROOT]\n"
    "                            drain ring directories into a SQLite file until stopped\n"
    "  report [FILE] [--format text|json|csv|html] [-o OUT]\n"
    "                            per process and API: counts, bytes, page sizes, latencies, fallbacks\n"
    "  export --format prometheus|perfetto -o FILE [RECORDING] [--dir DIR]... [--root ROOT]...\n"
    "                            prometheus: the metrics of 'serve' once (node_exporter textfile\n"
    "                            collector); perfetto: a recording as a Perfetto timeline (JSON)\n"
    "  serve [--listen ADDR:PORT] [--dir DIR]... [--root ROOT]...\n"
    "                            Prometheus /metrics from live rings (default 127.0.0.1:9464)\n"
    "  top [--dir DIR] [--once] [--sort KEY]\n"
    "                            live view of the processes writing rings (q quits)\n"
    "  config [--format text|json]\n"
    "                            the HUGESHIM_* options with their effective values\n"
    "  <name> ...                runs hugeshim-<name> from the directory of this executable\n"
    "\n"
    "'hugeshim <command> --help' describes a command's options; 'hugeshim --version' prints\n"
    "the version and the git commit it was built from.\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace hugeshim::collector;
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    std::cout << kUsage;
    return argc < 2 ? 1 : 0;
  }
  if (!strcmp(argv[1], "--version")) {
    std::cout << "hugeshim " HUGESHIM_VERSION " (git " HUGESHIM_GIT_COMMIT ")\n";
    return 0;
  }
  const std::string command = argv[1];
  // Whatever the command: segments of dead processes that nothing needs go
  // (a node without a running collector must not fill its ring directory).
  reap_finished_segments(default_ring_dir());
  try {
    if (command == "run") return cmd_run(argc - 1, argv + 1);
    if (command == "record") return cmd_record(argc - 1, argv + 1);
    if (command == "report") return cmd_report(argc - 1, argv + 1);
    if (command == "config") return cmd_config(argc - 1, argv + 1);
    if (command == "serve") return cmd_serve(argc - 1, argv + 1);
    if (command == "export") return cmd_export(argc - 1, argv + 1);
    if (command == "top") return cmd_top(argc - 1, argv + 1);
  } catch (const RefusedFile& e) {
    std::cerr << "hugeshim " << command << ": " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "hugeshim " << command << ": " << e.what() << "\n";
    return 1;
  }
  if (command.empty() || command[0] == '-' || command.find('/') != std::string::npos) {
    std::cerr << "hugeshim: unknown option '" << command << "'\n" << kUsage;
    return 1;
  }
  const std::string tool = own_directory() + "/hugeshim-" + command;
  argv[1] = const_cast<char*>(tool.c_str());
  execv(tool.c_str(), argv + 1);
  if (errno == ENOENT)
    std::cerr << "hugeshim: '" << command << "' is not a hugeshim command (no " << tool << "); see 'hugeshim --help'\n";
  else
    std::cerr << "hugeshim: cannot run " << tool << ": " << strerror(errno) << "\n";
  return 127;
}
