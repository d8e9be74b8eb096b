// hugeshim run [-o FILE] [--force|--append] [--top N] -- CMD...: runs CMD
// with libhugeshim.so preloaded and a private ring directory, drains the
// rings of CMD and its descendants (fork gives each its own segment in the
// same directory) while it runs, prints a summary to stderr, and exits with
// CMD's status (128 + signal when a signal killed it). Once CMD started,
// nothing that goes wrong in recording or reporting changes that status.
// --kernel (root) also records CMD's kernel events: CMD is followed from
// before it execs (it waits on a pipe until it is), its threads and
// children by the kernel's fork following (kernel_recording.h).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <iostream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "commands.h"
#include "drain_loop.h"
#include "kernel_attribution.h"
#include "kernel_recording.h"
#include "report.h"
#include "store.h"

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

// The private ring directory (mkdtemp: mode 0700), removed with whatever
// it holds on every way out of cmd_run, exceptions included.
class PrivateRingDir {
 public:
  PrivateRingDir() {
    const std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : fs::temp_directory_path().string();
    path_ = base + "/hugeshim-run-" + std::to_string(getuid()) + "-XXXXXX";
    if (!mkdtemp(path_.data())) throw std::runtime_error("cannot create a ring directory in " + base + ": " + strerror(errno));
  }
  PrivateRingDir(const PrivateRingDir&) = delete;
  ~PrivateRingDir() { remove(); }
  const std::string& path() const { return path_; }
  void remove() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }

 private:
  std::string path_;
};

int exit_status(int wait_status) {
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 1;
}

// `go` (-1: none): a pipe CMD waits on until the parent closes its end,
// so that the parent can follow its pid before it runs.
[[noreturn]] void exec_child(const std::vector<std::string>& command, const std::string& shim, const std::string& ring_dir,
                             int go) {
  signal(SIGINT, SIG_DFL);
  signal(SIGQUIT, SIG_DFL);
  if (go >= 0) {
    char byte;
    while (read(go, &byte, 1) < 0 && errno == EINTR) {
    }
    close(go);
  }
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
  bool force = false, append = false, kernel = false;
  std::vector<std::string> command;
  app.add_option("-o,--output", output, "SQLite file to write; must be absent, empty or a recording")
      ->capture_default_str();
  CLI::Option* force_flag = app.add_flag("--force", force, "replace FILE if it holds a recording");
  app.add_flag("--append", append, "add this run to the recording in FILE (created when absent)")->excludes(force_flag);
  app.add_option("--format", format, "summary format: text, json or none")
      ->check(CLI::IsMember({"text", "json", "none"}))->capture_default_str();
  app.add_option("--top", top, "largest/slowest events listed per process")->capture_default_str();
  app.add_flag("--kernel", kernel,
               "also record CMD's kernel events (compaction, huge page allocation, page faults, IOMMU and DMA "
               "mappings); needs root and tracefs");
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
  app.footer(
      "Usage: hugeshim run [OPTIONS] [--] CMD [ARGS...]\n"
      "FILE is never overwritten by surprise: a file that is not a hugeshim recording (text, another\n"
      "program's SQLite database, a directory) is refused, and an existing recording needs --force\n"
      "(replace it) or --append (add this run; the summary shows this run only). A refused FILE\n"
      "exits with status 2 before CMD runs; otherwise the exit status is CMD's.\n");
  CLI11_PARSE(app, ours_end, argv);
  if (command.empty()) {
    std::cerr << app.help() << "hugeshim run: no command given\n";
    return 2;
  }

  // Everything that can refuse the run is checked before anything is
  // created or removed.
  const std::string shim = find_shim();
  if (check_output(output) == FileKind::recording && !force && !append)
    throw RefusedFile(output + " holds a hugeshim recording: --force replaces it, --append adds this run to it");
  PrivateRingDir ring_dir;
  Store store(output, /*replace=*/force);
  const int64_t earlier_processes = store.last_process_id();
  Recorder recorder(store, ring_dir.path(), std::cerr);
  std::unique_ptr<KernelRecording> kernel_events;
  int go[2] = {-1, -1};
  if (kernel) kernel_events = KernelRecording::start(store, "hugeshim run", std::cerr);
  if (kernel_events) {
    recorder.on_attach([&](pid_t pid) { kernel_events->follow(pid); });
    if (pipe2(go, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe failed: ") + strerror(errno));
  }

  // Like time(1): the terminal's ^C and ^\ go to CMD, which decides; we stay
  // to drain and summarise. Termination requests are passed on to CMD.
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  signal(SIGTERM, forward_signal);
  signal(SIGHUP, forward_signal);

  pid_t child = fork();
  if (child < 0) throw std::runtime_error(std::string("fork failed: ") + strerror(errno));
  if (child == 0) {
    if (go[1] >= 0) close(go[1]);
    exec_child(command, shim, ring_dir.path(), go[0]);
  }
  g_child = child;
  if (kernel_events) {
    kernel_events->follow(child);
    close(go[0]);
    close(go[1]);  // CMD runs now
  }
  // A closed stderr (`hugeshim run ... 2>&1 | head`) must not kill us before
  // we return CMD's status. CMD got the disposition we were started with.
  signal(SIGPIPE, SIG_IGN);

  int status = 0;
  bool child_running = true;
  bool recorded = true;
  try {
    drain_while(recorder, [&] {
      if (kernel_events) kernel_events->poll();
      if (waitpid(child, &status, WNOHANG) == child) child_running = false;
      return child_running;
    });
    // Descendants that outlive CMD get a moment to finish, then what their
    // rings hold is taken as it is.
    const auto grace_end = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    drain_while(recorder, [&] {
      if (kernel_events) kernel_events->poll();
      return recorder.attached() > 0 && std::chrono::steady_clock::now() < grace_end;
    });
    if (recorder.attached() > 0)
      std::cerr << "hugeshim run: " << recorder.attached() << " process(es) still running after " << command[0]
                << " exited; their later events are not recorded\n";
    if (kernel_events) {
      kernel_events->finish();
      attribute_kernel_events(store.db());  // after the last batch was expanded
    }
  } catch (const std::exception& e) {
    // A recording that fails (disk full, a damaged file) must not lose
    // CMD's status: stop recording and wait for CMD.
    recorded = false;
    std::cerr << "hugeshim run: recording stopped: " << e.what() << "\n";
    while (child_running && waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
  }
  g_child = 0;
  ring_dir.remove();

  if (recorded && format != "none") {
    try {
      const nlohmann::json report = build_report(store.db(), top, earlier_processes);
      if (format == "json") std::cerr << render_json(report) << "\n";
      else render_text(report, std::cerr);
    } catch (const std::exception& e) {
      std::cerr << "hugeshim run: no summary: " << e.what() << "\n";
    }
  }
  std::cerr << "hugeshim run: " << recorder.stats().records << " events from " << recorder.stats().processes
            << " process(es) stored in " << output;
  if (kernel_events && recorded)
    std::cerr << "; kernel events: " << kernel_events->events() << " stored, " << kernel_events->lost() << " lost";
  std::cerr << "\n";
  return exit_status(status);
}

}  // namespace hugeshim::collector
