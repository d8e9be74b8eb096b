// hugeshim run [-o FILE] [--top N] -- CMD...: runs CMD with libhugeshim.so
// preloaded and a private ring directory, drains the rings of CMD and its
// descendants (fork gives each its own segment in the same directory) while
// it runs, prints a summary to stderr, and exits with CMD's status (128 +
// signal when a signal killed it).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "commands.h"
#include "drain_loop.h"
#include "report.h"

namespace hugeshim::collector {
namespace {

namespace fs = std::filesystem;

std::atomic<pid_t> g_child{0};

void forward_signal(int sig) {
  if (pid_t child = g_child.load()) kill(child, sig);
}

// HUGESHIM_LIBRARY, else ../lib/libhugeshim.so from this executable (the
// build and install layout), else next to it.
std::string find_shim() {
  if (const char* env = getenv("HUGESHIM_LIBRARY"); env && *env) {
    if (access(env, R_OK) != 0) throw std::runtime_error(std::string("HUGESHIM_LIBRARY=") + env + " is not readable");
    return fs::absolute(env).string();
  }
  const std::string dir = own_directory();
  for (const std::string& candidate : {dir + "/../lib/libhugeshim.so", dir + "/libhugeshim.so"})
    if (access(candidate.c_str(), R_OK) == 0) return fs::weakly_canonical(candidate).string();
  throw std::runtime_error("cannot find libhugeshim.so (looked in " + dir + "/../lib and " + dir +
                           "); set HUGESHIM_LIBRARY");
}

std::string make_private_ring_dir() {
  std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : fs::temp_directory_path().string();
  std::string templ = base + "/hugeshim-run-" + std::to_string(getuid()) + "-XXXXXX";
  if (!mkdtemp(templ.data())) throw std::runtime_error("cannot create a ring directory in " + base + ": " + strerror(errno));
  return templ;  // mkdtemp creates it 0700
}

[[noreturn]] void exec_child(const std::vector<std::string>& command, const std::string& shim, const std::string& ring_dir) {
  signal(SIGINT, SIG_DFL);
  signal(SIGQUIT, SIG_DFL);
  const char* old = getenv("LD_PRELOAD");
  std::string preload = old && *old ? std::string(old) + ":" + shim : shim;
  setenv("LD_PRELOAD", preload.c_str(), 1);
  setenv("HUGESHIM_RING_DIR", ring_dir.c_str(), 1);
  std::vector<char*> args;
  for (const std::string& a : command) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execvp(args[0], args.data());
  std::cerr << "hugeshim run: cannot run " << command[0] << ": " << strerror(errno) << "\n";
  _exit(errno == ENOENT ? 127 : 126);
}

}  // namespace

int cmd_run(int argc, char** argv) {
  CLI::App app("Run a command with the shim preloaded and record its telemetry", "hugeshim run");
  std::string output = "hugeshim.db";
  std::string format = "text";
  size_t top = 5;
  std::vector<std::string> command;
  app.add_option("-o,--output", output, "SQLite file to write (replaced)")->capture_default_str();
  app.add_option("--format", format, "summary format: text, json or none")
      ->check(CLI::IsMember({"text", "json", "none"}))->capture_default_str();
  app.add_option("--top", top, "largest/slowest events listed per process")->capture_default_str();
  // Our options come first; CMD starts at "--" or at the first word that is
  // not an option of ours, and everything from there on is CMD's own.
  int ours_end = 1;
  while (ours_end < argc && argv[ours_end][0] == '-' && strcmp(argv[ours_end], "--") != 0) {
    const std::string a = argv[ours_end];
    const bool takes_value = (a == "-o" || a == "--output" || a == "--format" || a == "--top");
    ours_end += takes_value ? 2 : 1;
  }
  ours_end = std::min(ours_end, argc);
  const int command_start = ours_end < argc && strcmp(argv[ours_end], "--") == 0 ? ours_end + 1 : ours_end;
  for (int i = command_start; i < argc; ++i) command.emplace_back(argv[i]);
  app.footer("Usage: hugeshim run [OPTIONS] [--] CMD [ARGS...]");
  CLI11_PARSE(app, ours_end, argv);
  if (command.empty()) {
    std::cerr << app.help() << "hugeshim run: no command given\n";
    return 2;
  }

  const std::string shim = find_shim();
  const std::string ring_dir = make_private_ring_dir();
  Store store(output, /*fresh=*/true);
  Recorder recorder(store, ring_dir, std::cerr);

  // Like time(1): the terminal's ^C and ^\ go to CMD, which decides; we stay
  // to drain and summarise. Termination requests are passed on to CMD.
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  signal(SIGTERM, forward_signal);
  signal(SIGHUP, forward_signal);

  pid_t child = fork();
  if (child < 0) throw std::runtime_error(std::string("fork failed: ") + strerror(errno));
  if (child == 0) exec_child(command, shim, ring_dir);
  g_child = child;

  int status = 0;
  bool child_running = true;
  drain_while(recorder, [&] {
    if (waitpid(child, &status, WNOHANG) == child) child_running = false;
    return child_running;
  });
  g_child = 0;
  // Descendants that outlive CMD get a moment to finish, then what their
  // rings hold is taken as it is.
  const auto grace_end = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  drain_while(recorder, [&] { return recorder.attached() > 0 && std::chrono::steady_clock::now() < grace_end; });
  if (recorder.attached() > 0)
    std::cerr << "hugeshim run: " << recorder.attached() << " process(es) still running after " << command[0]
              << " exited; their later events are not recorded\n";
  std::error_code ignored;
  fs::remove_all(ring_dir, ignored);

  if (format != "none") {
    nlohmann::json report = build_report(store.db(), top);
    if (format == "json") std::cerr << report.dump(2) << "\n";
    else render_text(report, std::cerr);
  }
  std::cerr << "hugeshim run: " << recorder.stats().records << " events from " << recorder.stats().processes
            << " process(es) stored in " << output << "\n";
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

}  // namespace hugeshim::collector
