// hugeshim export --format FORMAT -o FILE: what the collector knows, in a
// format other tools read. One function per format, picked below.
//   prometheus   the metrics of `hugeshim serve`, once, for node_exporter's
//                textfile collector (--dir DIR..., as serve)
#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "metrics_host_memory.h"
#include "metrics_ring_source.h"
#include "prometheus_exposition.h"

namespace hugeshim::collector {
namespace {

// Writes `content` to `path` so that a reader sees the old file or the whole
// new one, never a part: a temporary file beside it, then rename(). "-" is
// standard output.
void write_atomically(const std::string& path, const std::string& content) {
  if (path == "-") {
    std::cout << content << std::flush;
    if (!std::cout) throw std::runtime_error("cannot write to standard output");
    return;
  }
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  std::string temp = dir + "/." + base + ".tmp-XXXXXX";
  const int fd = mkstemp(temp.data());
  if (fd < 0) throw std::runtime_error("cannot write " + path + ": " + dir + ": " + strerror(errno));
  size_t done = 0;
  int error = 0;
  while (done < content.size() && !error) {
    const ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n > 0) done += static_cast<size_t>(n);
    else if (n == 0) error = EIO;
    else if (errno != EINTR) error = errno;
  }
  // mkstemp makes 0600 files; metrics are for other readers (node_exporter).
  if (!error && fchmod(fd, 0644) != 0) error = errno;
  if (!error && fsync(fd) != 0) error = errno;
  if (close(fd) != 0 && !error) error = errno;
  if (!error && rename(temp.c_str(), path.c_str()) != 0) error = errno;
  if (error) {
    unlink(temp.c_str());
    throw std::runtime_error("cannot write " + path + ": " + strerror(error));
  }
}

int export_prometheus(std::vector<std::string> dirs, const std::string& output) {
  RingMetricsSource source(metrics_ring_dirs(std::move(dirs)), std::cerr);
  MetricsSnapshot snapshot = source.scrape();
  snapshot.host = read_host_memory();
  write_atomically(output, render_prometheus(snapshot));
  return 0;
}

}  // namespace

int cmd_export(int argc, char** argv) {
  CLI::App app("Export what the collector knows in another tool's format", "hugeshim export");
  std::string format;
  std::string output;
  std::vector<std::string> dirs;
  app.add_option("--format", format, "prometheus: the metrics of `hugeshim serve`, for node_exporter's textfile collector")
      ->required()
      ->check(CLI::IsMember({"prometheus"}));
  app.add_option("-o,--output", output, "file to write (replaced atomically; '-': standard output)")->required();
  app.add_option("--dir", dirs, "prometheus: ring directory, repeatable (default: HUGESHIM_RING_DIR or /dev/shm/hugeshim-UID)");
  CLI11_PARSE(app, argc, argv);
  if (format == "prometheus") return export_prometheus(std::move(dirs), output);
  throw std::logic_error("format " + format + " accepted but not handled");
}

}  // namespace hugeshim::collector
