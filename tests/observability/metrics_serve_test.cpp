// `hugeshim serve` and `hugeshim export --format prometheus` on the rings of
// a real program under the shim (alloc_probe, THP ladder, eager populate):
// its counts per process while it runs, once more after it exits, then in
// the exporter's totals only; nothing consumed (the records are all still
// there for a collector afterwards); concurrent scrapes; 404; a ring
// directory removed under the server; and each bad input: one line, exit != 0.
#define BOOST_TEST_MODULE metrics_serve
#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "metrics_serve_process.h"
#include "prometheus_text_check.h"
#include "ring_dir.h"

namespace pc = prometheus_check;
using metrics_test::ServeProcess;

namespace {

constexpr int kAllocations = 6;
constexpr uint64_t kSize = 8ull << 20;

// alloc_probe under the shim, recording into `ring`, after kAllocations
// large mallocs (kept, not freed).
std::unique_ptr<hugeshim_test::Child> start_workload(const hugeshim_test::RingDir& ring) {
  auto env = hugeshim_test::with_shim(ring.recording({{"HUGESHIM_POPULATE", "eager"}, {"HUGESHIM_CACHE", "0"}}));
  auto probe = std::make_unique<hugeshim_test::Child>(
      std::vector<std::string>{hugeshim_test::bin_dir() + "/alloc_probe"}, env);
  for (int i = 0; i < kAllocations; ++i) {
    const std::string answer = probe->ask("malloc " + std::to_string(kSize));
    BOOST_REQUIRE(answer.rfind("0 ", 0) != 0);  // not NULL
  }
  return probe;
}

std::vector<pc::Sample> scrape_checked(const ServeProcess& serve) {
  const auto a = serve.get("/metrics");
  BOOST_REQUIRE_EQUAL(a.status, 200);
  BOOST_TEST(a.content_type.find("text/plain; version=0.0.4") == 0u);
  const auto problems = pc::structural_problems(a.body);
  for (const auto& p : problems) BOOST_TEST_MESSAGE(p);
  BOOST_TEST(problems.empty());
  return pc::parse(a.body);
}

double value(const std::vector<pc::Sample>& s, const std::string& name, const std::map<std::string, std::string>& l = {}) {
  return pc::value_of(s, name, l).value_or(-1);
}

hugeshim_test::RunResult hugeshim(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {hugeshim_test::bin_dir() + "/hugeshim"};
  argv.insert(argv.end(), args.begin(), args.end());
  return hugeshim_test::run(argv);
}

int lines(const std::string& text) { return static_cast<int>(std::count(text.begin(), text.end(), '\n')); }

}  // namespace

BOOST_AUTO_TEST_CASE(serves_a_running_program_then_keeps_its_totals_after_it_exits) {
  hugeshim_test::RingDir ring;
  auto probe = start_workload(ring);
  ServeProcess serve({ring.path()});
  const std::map<std::string, std::string> mine = {{"pid", std::to_string(probe->pid())}, {"comm", "alloc_probe"}, {"api", "malloc"}};

  auto s = scrape_checked(serve);
  BOOST_TEST(value(s, "hugeshim_process_calls_total", mine) == kAllocations);
  BOOST_TEST(value(s, "hugeshim_process_requested_bytes_total", mine) == kAllocations * double(kSize));
  BOOST_TEST(value(s, "hugeshim_calls_total", {{"api", "malloc"}}) == kAllocations);
  BOOST_TEST(value(s, "hugeshim_process_exited", {{"pid", std::to_string(probe->pid())}}) == 0);
  BOOST_TEST(value(s, "hugeshim_process_phase_duration_seconds_count",
                   {{"pid", std::to_string(probe->pid())}, {"phase", "populate"}}) == kAllocations);
  BOOST_TEST(value(s, "hugeshim_exporter_processes") == 1);

  // Scrapers at once: every answer whole and sound.
  std::atomic<int> good{0};
  std::vector<std::thread> scrapers;
  for (int t = 0; t < 8; ++t)
    scrapers.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        const auto a = serve.get("/metrics");
        if (a.status == 200 && pc::structural_problems(a.body).empty() &&
            pc::value_of(pc::parse(a.body), "hugeshim_calls_total", {{"api", "malloc"}}) == kAllocations)
          ++good;
      }
    });
  for (auto& t : scrapers) t.join();
  BOOST_TEST(good.load() == 40);
  BOOST_TEST(serve.get("/").status == 404);
  BOOST_TEST(serve.get("/metrics/extra").status == 404);
  BOOST_TEST(serve.get("/favicon.ico").status == 404);

  BOOST_REQUIRE_EQUAL(probe->wait(), 0);
  s = scrape_checked(serve);  // exited: listed once more, with its last values
  BOOST_TEST(value(s, "hugeshim_process_calls_total", mine) == kAllocations);
  BOOST_TEST(value(s, "hugeshim_process_exited", {{"pid", std::to_string(probe->pid())}}) == 1);
  s = scrape_checked(serve);  // then dropped; the totals stay
  BOOST_TEST(!pc::value_of(s, "hugeshim_process_calls_total", mine));
  BOOST_TEST(value(s, "hugeshim_calls_total", {{"api", "malloc"}}) == kAllocations);
  BOOST_TEST(value(s, "hugeshim_phase_duration_seconds_count", {{"phase", "populate"}, {"page_size", "thp"}}) +
                 value(s, "hugeshim_phase_duration_seconds_count", {{"phase", "populate"}, {"page_size", "base"}}) ==
             kAllocations);
  BOOST_TEST(value(s, "hugeshim_exporter_processes_exited_total") == 1);
  BOOST_TEST(value(s, "hugeshim_exporter_processes") == 0);
  BOOST_TEST(serve.stop() == 0);
  BOOST_TEST(serve.stderr_text() == "");

  // Serving read nothing away: every record is still there for a collector.
  const auto contents = ring.drain();
  BOOST_TEST(contents.counters[HUGESHIM_API_MALLOC].events == uint64_t{kAllocations});
  size_t mallocs = 0;
  for (const auto& r : contents.records) mallocs += r.api == HUGESHIM_API_MALLOC;
  BOOST_TEST(mallocs == size_t{kAllocations});
}

BOOST_AUTO_TEST_CASE(a_ring_directory_removed_under_the_server) {
  auto ring = std::make_unique<hugeshim_test::RingDir>();
  hugeshim_test::RingDir other;
  auto probe = start_workload(other);
  ServeProcess serve({ring->path(), other.path()});
  auto s = scrape_checked(serve);
  BOOST_TEST(value(s, "hugeshim_exporter_ring_directory_readable", {{"dir", ring->path()}}) == 1);
  const std::string gone = ring->path();
  ring.reset();  // removed with everything in it
  s = scrape_checked(serve);
  BOOST_TEST(value(s, "hugeshim_exporter_ring_directory_readable", {{"dir", gone}}) == 0);
  BOOST_TEST(value(s, "hugeshim_calls_total", {{"api", "malloc"}}) == kAllocations);  // what remains
  BOOST_TEST(probe->wait() == 0);
  BOOST_TEST(serve.stop() == 0);
}

BOOST_AUTO_TEST_CASE(export_writes_the_same_exposition_atomically) {
  hugeshim_test::RingDir ring;
  auto probe = start_workload(ring);
  char dir_template[] = "/tmp/hugeshim-export-test-XXXXXX";
  BOOST_REQUIRE(mkdtemp(dir_template));
  const std::string dir = dir_template;
  const std::string file = dir + "/hugeshim.prom";
  std::ofstream(file) << "old\n";
  const auto r = hugeshim({"export", "--format", "prometheus", "-o", file, "--dir", ring.path()});
  BOOST_TEST(r.status == 0, r.err);
  BOOST_TEST(r.out + r.err == "");
  const std::string text = hugeshim_test::read_file(file);
  BOOST_TEST(pc::structural_problems(text).empty());
  const auto s = pc::parse(text);
  BOOST_TEST(value(s, "hugeshim_process_calls_total", {{"pid", std::to_string(probe->pid())}, {"api", "malloc"}}) ==
             kAllocations);
  struct stat st;
  BOOST_REQUIRE(stat(file.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0644u);  // readable by node_exporter
  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) entries += !e.path().empty();
  BOOST_TEST(entries == 1u);  // no temporary file left
  const auto lint = hugeshim_test::run({"promtool", "check", "metrics"}, {}, text);
  BOOST_TEST(lint.status == 0, lint.out + lint.err);
  BOOST_TEST(probe->wait() == 0);
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(bad_input_gets_one_line_and_a_failing_status) {
  hugeshim_test::RingDir ring;
  // A port in use.
  const int taken = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(bind(taken, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  BOOST_REQUIRE(listen(taken, 1) == 0);
  socklen_t len = sizeof addr;
  getsockname(taken, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string port = std::to_string(ntohs(addr.sin_port));
  auto r = hugeshim({"serve", "--listen", "127.0.0.1:" + port, "--dir", ring.path()});
  BOOST_TEST(r.status != 0);
  BOOST_TEST(r.err == "hugeshim serve: cannot listen on 127.0.0.1:" + port + ": Address already in use\n");
  close(taken);

  struct Case {
    std::vector<std::string> args;
    std::string error_start;
  };
  const std::string file_not_dir = ring.path() + "/plain";
  std::ofstream(file_not_dir) << "x";
  const std::vector<Case> cases = {
      {{"serve", "--dir", "/nonexistent/rings"}, "hugeshim serve: ring directory /nonexistent/rings: No such file or directory"},
      {{"serve", "--dir", file_not_dir}, "hugeshim serve: ring directory " + file_not_dir + ": Not a directory"},
      {{"serve", "--listen", "9464", "--dir", ring.path()}, "hugeshim serve: --listen 9464: expected ADDR:PORT"},
      {{"serve", "--listen", "127.0.0.1:70000", "--dir", ring.path()}, "hugeshim serve: --listen 127.0.0.1:70000: port '70000'"},
      {{"serve", "--listen", "no.such.host.invalid:9464", "--dir", ring.path()}, "hugeshim serve: cannot listen on no.such.host.invalid:9464"},
      {{"export", "--format", "prometheus", "-o", "/nonexistent/dir/x.prom", "--dir", ring.path()},
       "hugeshim export: cannot write /nonexistent/dir/x.prom: No such file or directory"},
      {{"export", "--format", "prometheus", "-o", "/proc/version", "--dir", ring.path()}, "hugeshim export: cannot write /proc/version"},
      // A device is written in place (and its error reported), never replaced by a file.
      {{"export", "--format", "prometheus", "-o", "/dev/full", "--dir", ring.path()},
       "hugeshim export: cannot write /dev/full: No space left on device"},
      {{"export", "--format", "prometheus", "-o", "x.prom", "--dir", "/nonexistent/rings"},
       "hugeshim export: ring directory /nonexistent/rings: No such file or directory"},
  };
  for (const Case& c : cases) {
    r = hugeshim(c.args);
    BOOST_TEST(r.status != 0, c.args[0] << " " << c.args.back());
    BOOST_TEST(r.err.rfind(c.error_start, 0) == 0u, "got: " << r.err << "want: " << c.error_start);
    BOOST_TEST(lines(r.err) == 1, r.err);
  }
  struct stat full;
  BOOST_TEST((stat("/dev/full", &full) == 0 && S_ISCHR(full.st_mode)));  // still the device
  // An unknown format is CLI11's: a failing status and a line naming the choices.
  r = hugeshim({"export", "--format", "csv", "-o", "x"});
  BOOST_TEST(r.status != 0);
  BOOST_TEST(r.err.find("prometheus") != std::string::npos);

  // A directory the user may not read: root reads everything, so as root
  // the command runs as nobody (setpriv, util-linux) against a 0700 directory
  // (when nobody may run the build's hugeshim at all: not from under /root).
  const std::vector<std::string> as_nobody = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"};
  if (geteuid() == 0) {
    std::vector<std::string> probe = as_nobody;
    probe.insert(probe.end(), {"test", "-x", hugeshim_test::bin_dir() + "/hugeshim"});
    if (hugeshim_test::run(probe).status != 0) {
      BOOST_TEST_MESSAGE("unreadable directory not checked: nobody may not run " << hugeshim_test::bin_dir());
      return;
    }
  }
  char locked_template[] = "/tmp/hugeshim-locked-XXXXXX";
  BOOST_REQUIRE(mkdtemp(locked_template));
  const std::string locked = locked_template;
  BOOST_REQUIRE(chmod(locked.c_str(), geteuid() == 0 ? 0700 : 0) == 0);
  for (const std::string command : {"serve", "export"}) {
    std::vector<std::string> argv;
    if (geteuid() == 0) argv = as_nobody;
    argv.push_back(hugeshim_test::bin_dir() + "/hugeshim");
    argv.push_back(command);
    if (command == "export") argv.insert(argv.end(), {"--format", "prometheus", "-o", "-"});
    argv.insert(argv.end(), {"--dir", locked});
    r = hugeshim_test::run(argv);
    BOOST_TEST(r.status != 0);
    BOOST_TEST(r.err == "hugeshim " + command + ": ring directory " + locked + ": Permission denied\n");
  }
  std::filesystem::remove(locked);
}
