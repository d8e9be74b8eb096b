// hugeshim top [--dir DIR] [--once] [--sort KEY] [--interval S]: a live view
// of the processes writing rings in DIR, from their headers' exact counters
// (top_sampler.h: read-only, nothing consumed). Interactive on a terminal:
// redraws every interval, a key letter re-sorts, q quits. --once prints one
// frame (rates over one interval) without terminal control codes.
//
// Plain ANSI escapes and termios, no curses: the view is one block of text
// redrawn whole, which needs only "home + clear", the alternate screen and
// the terminal's size.
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <thread>
#include <unistd.h>

#include "commands.h"
#include "recorder.h"
#include "top_view.h"

namespace hugeshim::collector {
namespace {

std::atomic<bool> g_stop{false};
void request_stop(int) { g_stop = true; }
void note_resize(int) {}  // only interrupts poll(): the next frame reads the new size

// The terminal in "one key at a time, no echo" mode on the alternate
// screen for the object's lifetime.
class RawTerminal {
 public:
  RawTerminal() {
    tcgetattr(STDIN_FILENO, &saved_);
    termios raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    fputs("\x1b[?1049h\x1b[?25l", stdout);  // alternate screen, cursor hidden
    fflush(stdout);
  }
  ~RawTerminal() {
    fputs("\x1b[?25h\x1b[?1049l", stdout);
    fflush(stdout);
    tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  termios saved_{};
};

void terminal_size(unsigned* width, unsigned* height) {
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
    *width = ws.ws_col;
    *height = ws.ws_row;
  } else {
    *width = 80;
    *height = 24;
  }
}

int run_interactive(const std::string& dir, TopSortKey key, std::chrono::milliseconds interval) {
  RawTerminal terminal;
  // Rates need two samples: the first frame shows none.
  DirectorySample now = sample_ring_directory(dir);
  std::optional<DirectorySample> before;
  auto next = now.taken + interval;
  while (!g_stop) {
    if (std::chrono::steady_clock::now() >= next) {
      before = std::move(now);
      now = sample_ring_directory(dir);
      next = now.taken + interval;
    }
    std::vector<TopRow> rows = top_rows(now, before ? &*before : nullptr);
    sort_top_rows(rows, key);
    unsigned width, height;
    terminal_size(&width, &height);
    const std::string frame = render_top_frame(rows, key, dir, now.refused.size(), width, height);
    fputs("\x1b[H\x1b[2J", stdout);
    fputs(frame.c_str(), stdout);
    fflush(stdout);
    // Wait for a key or the next tick.
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next - std::chrono::steady_clock::now());
    pollfd in{STDIN_FILENO, POLLIN, 0};
    if (poll(&in, 1, static_cast<int>(std::max<int64_t>(left.count(), 0))) > 0) {
      char c;
      if (read(STDIN_FILENO, &c, 1) != 1) break;  // end of input
      if (c == 'q' || c == 'Q') break;
      if (auto k = top_sort_key_of_letter(c)) key = *k;
    }
  }
  return 0;
}

}  // namespace

int cmd_top(int argc, char** argv) {
  CLI::App app("Live view of the processes writing rings", "hugeshim top");
  std::string dir = default_ring_dir();
  bool once = false;
  std::string sort = "rate";
  double interval_s = 1.0;
  std::string keys;
  for (const auto& k : kTopSortKeys) keys += std::string(keys.empty() ? "" : ", ") + k.name;
  app.add_option("--dir", dir, "ring directory (HUGESHIM_RING_DIR)")->capture_default_str();
  app.add_flag("--once", once, "print one frame (rates over one interval) and exit");
  app.add_option("--sort", sort, "sort key: " + keys)->capture_default_str();
  app.add_option("--interval", interval_s, "seconds between samples")
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  const std::optional<TopSortKey> key = top_sort_key_named(sort);
  if (!key) throw std::runtime_error("unknown sort key '" + sort + "' (one of: " + keys + ")");
  const auto interval = std::chrono::milliseconds(static_cast<int64_t>(interval_s * 1000));

  if (once) {
    const DirectorySample before = sample_ring_directory(dir);
    std::this_thread::sleep_for(interval);
    const DirectorySample now = sample_ring_directory(dir);
    std::vector<TopRow> rows = top_rows(now, &before);
    sort_top_rows(rows, *key);
    std::cout << render_top_frame(rows, *key, dir, now.refused.size(), 0, 0);
    for (const std::string& r : now.refused) std::cerr << "hugeshim top: cannot read " << dir << "/" << r << "\n";
    return 0;
  }
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
    throw std::runtime_error("the live view needs a terminal (--once prints one frame)");
  sample_ring_directory(dir);  // a bad directory fails here, before the screen is taken over
  signal(SIGINT, request_stop);
  signal(SIGTERM, request_stop);
  signal(SIGHUP, request_stop);
  struct sigaction resize = {};
  resize.sa_handler = note_resize;
  sigaction(SIGWINCH, &resize, nullptr);
  return run_interactive(dir, *key, interval);
}

}  // namespace hugeshim::collector
