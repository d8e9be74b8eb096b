// The `hugeshim` CLI when things are not as expected: an output file that
// is not a recording (or is one the user may not want replaced), command
// lines and paths that are not UTF-8, and failures before the program runs
// (nothing may be left behind in /dev/shm).
//
// Every `hugeshim run` here uses HUGESHIM_PAGES=thp: this test does not hold
// the hugetlb pool lock (tests/support/process.h).
#define BOOST_TEST_MODULE cli_reliability
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <dirent.h>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <unistd.h>

#include "process.h"
#include "producer_child.h"
#include "report.h"
#include "sqlite_db.h"
#include "store.h"

using hugeshim::test::query_int;
using hugeshim::test::TempDir;
using hugeshim_test::run;
using hugeshim_test::RunResult;
namespace collector = hugeshim::collector;

namespace {

const std::string kHugeshim = std::string(HUGESHIM_BIN_DIR) + "/hugeshim";
// A ladder without hugetlb rungs: the shims started here never touch the pool.
const hugeshim_test::Env kEnv = {{"HUGESHIM_PAGES", "thp"}};

std::string contents(const std::string& path) { return hugeshim_test::read_file(path); }

void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// The program run under `hugeshim run`: one python3 process that makes one
// 8 MiB allocation (so the shim records it), creates the file MARKER (so the
// test sees whether it ran) and exits with STATUS. TAG, unused, marks its
// command line in the recording.
std::vector<std::string> program(const std::string& marker, int status, const std::string& tag) {
  return {"/usr/bin/python3", "-c", "import sys; b = bytearray(8 << 20); open(sys.argv[1], 'w'); sys.exit(int(sys.argv[2]))",
          marker, std::to_string(status), tag};
}

// `hugeshim run OPTIONS -- program(...)`.
RunResult run_program(const std::vector<std::string>& options, const std::string& marker, int status = 0,
                      const std::string& tag = "tag") {
  std::vector<std::string> argv = {kHugeshim, "run"};
  argv.insert(argv.end(), options.begin(), options.end());
  argv.push_back("--");
  for (const std::string& a : program(marker, status, tag)) argv.push_back(a);
  return run(argv, kEnv);
}

// A recording made by `hugeshim run` with TAG on the command line.
void make_recording(const std::string& path, const std::string& tag) {
  RunResult r = run_program({"--format", "none", "-o", path}, "/dev/null", 0, tag);
  BOOST_REQUIRE_MESSAGE(r.status == 0, r.err);
}

int64_t processes_with_cmdline(const std::string& path, const std::string& needle) {
  collector::Database db(path, collector::Database::Mode::read_only);
  return query_int(db, "SELECT count(*) FROM processes WHERE instr(cmdline, '" + needle + "') > 0");
}

// The JSON report that `run --format json` prints on stderr: from the line
// "{" to the line "}".
nlohmann::json summary_json(const std::string& err) {
  const size_t begin = err.find("{\n");
  const size_t end = err.rfind("\n}\n");
  BOOST_REQUIRE_MESSAGE(begin != std::string::npos && end != std::string::npos && begin < end, err);
  return nlohmann::json::parse(err.substr(begin, end + 2 - begin));
}

// Where `hugeshim run` puts its private ring directories.
std::string ring_dir_base() {
  return access("/dev/shm", W_OK) == 0 ? "/dev/shm" : std::filesystem::temp_directory_path().string();
}

std::set<std::string> run_ring_dirs() {
  const std::string prefix = "hugeshim-run-" + std::to_string(getuid()) + "-";
  std::set<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator(ring_dir_base()))
    if (entry.path().filename().string().rfind(prefix, 0) == 0) found.insert(entry.path().string());
  return found;
}

// The ring directories that appeared since `before` and are still there,
// empty (a run that failed before its command started leaves no segment):
// other tests' `hugeshim run`s may be running now, so one is only counted
// when it outlives a few seconds (theirs last about one). Leftovers are
// removed (rmdir never removes another run's segments).
std::set<std::string> leaked_ring_dirs(const std::set<std::string>& before) {
  std::set<std::string> left;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  do {
    left.clear();
    std::error_code gone;  // a directory removed while we look is not left
    for (const std::string& d : run_ring_dirs())
      if (!before.count(d) && std::filesystem::is_empty(d, gone) && !gone) left.insert(d);
    if (left.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < end);
  for (const std::string& d : left) rmdir(d.c_str());
  return left;
}

}  // namespace

BOOST_AUTO_TEST_CASE(run_refuses_an_output_that_is_not_a_recording) {
  TempDir dir;
  const std::string marker = dir.file("ran");

  const std::string text = dir.file("notes.txt");
  write_file(text, "precious notes\n");
  RunResult r = run_program({"-o", text}, marker);
  BOOST_TEST_MESSAGE(r.err);
  BOOST_CHECK_EQUAL(r.status, 2);
  BOOST_CHECK(r.err.find("not a hugeshim recording") != std::string::npos);
  BOOST_CHECK_EQUAL(contents(text), "precious notes\n");
  BOOST_CHECK(!exists(marker));

  // An SQLite database of another program, with --force too: --force only
  // replaces recordings.
  const std::string other = dir.file("app.db");
  {
    collector::Database db(other, collector::Database::Mode::read_write);
    db.exec("CREATE TABLE accounts (name TEXT, balance INTEGER); INSERT INTO accounts VALUES ('alice', 10)");
  }
  const std::string before = contents(other);
  for (const std::vector<std::string>& options : {std::vector<std::string>{"-o", other}, {"-o", other, "--force"}}) {
    r = run_program(options, marker);
    BOOST_TEST_MESSAGE(r.err);
    BOOST_CHECK_EQUAL(r.status, 2);
    BOOST_CHECK(r.err.find("not a hugeshim recording") != std::string::npos);
    BOOST_CHECK(contents(other) == before);
    BOOST_CHECK(!exists(other + "-wal"));
    BOOST_CHECK(!exists(marker));
  }

  // A directory.
  r = run_program({"-o", dir.path()}, marker);
  BOOST_CHECK_EQUAL(r.status, 2);
  BOOST_CHECK(!exists(marker));

  // An empty file holds nothing to lose (mktemp's): it becomes the recording.
  const std::string empty = dir.file("empty.db");
  write_file(empty, "");
  r = run_program({"-o", empty, "--format", "none"}, marker);
  BOOST_CHECK_EQUAL(r.status, 0);
  BOOST_CHECK(exists(marker));
  BOOST_CHECK_EQUAL(processes_with_cmdline(empty, "python3"), 1);
}

BOOST_AUTO_TEST_CASE(run_replaces_a_recording_only_with_force) {
  TempDir dir;
  const std::string marker = dir.file("ran");
  const std::string recording = dir.file("old.db");
  make_recording(recording, "first-run");
  const std::string before = contents(recording);

  RunResult r = run_program({"-o", recording}, marker);
  BOOST_TEST_MESSAGE(r.err);
  BOOST_CHECK_EQUAL(r.status, 2);
  BOOST_CHECK(r.err.find("--force") != std::string::npos);
  BOOST_CHECK(r.err.find("--append") != std::string::npos);
  BOOST_CHECK(contents(recording) == before);
  BOOST_CHECK(!exists(marker));

  // The default output, ./hugeshim.db, is protected the same way.
  make_recording(dir.file("hugeshim.db"), "default-output");
  std::vector<std::string> argv = {"env", "-C", dir.path(), kHugeshim, "run", "--"};
  for (const std::string& a : program(marker, 0, "tag")) argv.push_back(a);
  r = run(argv, kEnv);
  BOOST_CHECK_EQUAL(r.status, 2);
  BOOST_CHECK(!exists(marker));
  BOOST_CHECK_EQUAL(processes_with_cmdline(dir.file("hugeshim.db"), "default-output"), 1);

  r = run_program({"-o", recording, "--force", "--format", "none"}, marker, 4);
  BOOST_CHECK_EQUAL(r.status, 4);
  BOOST_CHECK(exists(marker));
  BOOST_CHECK_EQUAL(processes_with_cmdline(recording, "first-run"), 0);
  BOOST_CHECK_EQUAL(processes_with_cmdline(recording, "python3"), 1);

  // --force and --append contradict each other.
  r = run_program({"-o", recording, "--force", "--append"}, dir.file("ran-again"));
  BOOST_CHECK_NE(r.status, 0);
  BOOST_CHECK(!exists(dir.file("ran-again")));
}

BOOST_AUTO_TEST_CASE(run_appends_to_a_recording) {
  TempDir dir;
  const std::string recording = dir.file("runs.db");
  make_recording(recording, "first-run");
  RunResult r = run_program({"--append", "--format", "json", "-o", recording}, "/dev/null", 5, "second-run");
  BOOST_TEST_MESSAGE(r.err);
  BOOST_CHECK_EQUAL(r.status, 5);
  BOOST_CHECK_EQUAL(processes_with_cmdline(recording, "first-run"), 1);
  BOOST_CHECK_EQUAL(processes_with_cmdline(recording, "second-run"), 1);
  // The summary is this run's; `hugeshim report` shows both.
  nlohmann::json summary = summary_json(r.err);
  BOOST_REQUIRE_EQUAL(summary["processes"].size(), 1u);
  BOOST_CHECK(summary["processes"][0]["cmdline"].get<std::string>().find("second-run") != std::string::npos);
  RunResult report = run({kHugeshim, "report", recording, "--format", "json"});
  BOOST_REQUIRE_EQUAL(report.status, 0);
  BOOST_CHECK_EQUAL(nlohmann::json::parse(report.out)["processes"].size(), 2u);
}

BOOST_AUTO_TEST_CASE(record_refuses_an_output_that_is_not_a_recording) {
  TempDir dir;
  TempDir rings;
  auto record = [&](const std::string& output) {
    return run({kHugeshim, "record", "-o", output, "--dir", rings.path(), "--duration", "0.05"});
  };
  const std::string text = dir.file("notes.txt");
  write_file(text, "precious notes\n");
  RunResult r = record(text);
  BOOST_TEST_MESSAGE(r.err);
  BOOST_CHECK_EQUAL(r.status, 2);
  BOOST_CHECK(r.err.find("not a hugeshim recording") != std::string::npos);
  BOOST_CHECK_EQUAL(contents(text), "precious notes\n");

  const std::string other = dir.file("app.db");
  {
    collector::Database db(other, collector::Database::Mode::read_write);
    db.exec("CREATE TABLE accounts (name TEXT, balance INTEGER)");
  }
  const std::string before = contents(other);
  r = record(other);
  BOOST_TEST_MESSAGE(r.err);
  BOOST_CHECK_EQUAL(r.status, 2);
  BOOST_CHECK(contents(other) == before);

  // A recording is appended to, as before.
  const std::string recording = dir.file("rec.db");
  make_recording(recording, "first-run");
  r = record(recording);
  BOOST_CHECK_EQUAL(r.status, 0);
  BOOST_CHECK_EQUAL(processes_with_cmdline(recording, "first-run"), 1);
}

BOOST_AUTO_TEST_CASE(json_reports_carry_command_lines_that_are_not_utf8) {
  TempDir dir;
  const std::string recording = dir.file("bytes.db");
  RunResult r = run_program({"--format", "json", "-o", recording}, "/dev/null", 3, "\xff\xfe");
  BOOST_TEST_MESSAGE(r.err);
  BOOST_CHECK_EQUAL(r.status, 3);  // the program's status, whatever the report does

  // The recording's cmdline is argv joined by spaces.
  std::string head;
  for (const std::string& a : program("/dev/null", 3, "")) head += a + " ";
  head.pop_back();  // the empty tag
  const std::string raw = head + "\xff\xfe";
  const std::string readable = head + "\xEF\xBF\xBD\xEF\xBF\xBD";
  auto check = [&](const nlohmann::json& report) {
    BOOST_REQUIRE_EQUAL(report["processes"].size(), 1u);
    const nlohmann::json& p = report["processes"][0];
    // Readable: each invalid byte is U+FFFD; exact: the raw bytes in hex.
    BOOST_CHECK_EQUAL(p["cmdline"].get<std::string>(), readable);
    BOOST_REQUIRE(p.contains("cmdline_hex"));
    std::string hex;
    for (unsigned char c : raw) {
      char buf[3];
      snprintf(buf, sizeof buf, "%02x", c);
      hex += buf;
    }
    BOOST_CHECK_EQUAL(p["cmdline_hex"].get<std::string>(), hex);
    BOOST_CHECK(!p.contains("exe_hex"));  // valid strings get no twin
  };
  check(summary_json(r.err));

  RunResult report = run({kHugeshim, "report", recording, "--format", "json"});
  BOOST_TEST_MESSAGE(report.err);
  BOOST_REQUIRE_EQUAL(report.status, 0);
  check(nlohmann::json::parse(report.out));
  // The recording keeps the bytes as they were.
  collector::Database db(recording, collector::Database::Mode::read_only);
  collector::Statement q = db.prepare("SELECT cmdline FROM processes");
  BOOST_REQUIRE(q.step());
  BOOST_CHECK(q.text(0) == raw);
}

BOOST_AUTO_TEST_CASE(report_model_replaces_each_invalid_byte) {
  TempDir dir;
  collector::Store store(dir.file("r.db"), /*replace=*/false);
  // Valid: 2-, 3- and 4-byte sequences. Invalid: an overlong form, a
  // surrogate, a code point above U+10FFFF, a sequence cut short.
  const std::string exe = "/opt/\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";
  const std::string cmdline = "a\xC0\xAF" "b\xED\xA0\x80" "c\xF4\x90\x80\x80" "d\xE2\x82";
  store.db()
      .prepare("INSERT INTO processes (pid, start_ticks, start_monotonic_ns, exe, cmdline) VALUES (1, 1, 1, ?1, ?2)")
      .bind(1, exe).bind(2, cmdline).run();
  // A damaged recording: a name column that is not UTF-8.
  store.db().prepare("INSERT INTO counters (process_id, api, events) VALUES (1, ?1, 1)").bind(1, "x\xff").run();

  const nlohmann::json report = collector::build_report(store.db(), 5);
  const nlohmann::json& p = report["processes"][0];
  BOOST_CHECK_EQUAL(p["exe"].get<std::string>(), exe);
  BOOST_CHECK(!p.contains("exe_hex"));
  const std::string r = "\xEF\xBF\xBD";  // U+FFFD
  BOOST_CHECK_EQUAL(p["cmdline"].get<std::string>(), "a" + r + r + "b" + r + r + r + "c" + r + r + r + r + "d" + r + r);
  BOOST_CHECK_EQUAL(p["cmdline_hex"].get<std::string>(), "61c0af62eda08063f490808064e282");
  const nlohmann::json parsed = nlohmann::json::parse(collector::render_json(report));
  BOOST_CHECK_EQUAL(parsed["processes"][0]["apis"][0]["api"].get<std::string>(), "x" + r);
}

BOOST_AUTO_TEST_CASE(run_returns_the_status_when_its_summary_cannot_be_written) {
  // stderr is a pipe whose reader is gone before the summary is written.
  TempDir dir;
  const std::string command = "'" + kHugeshim + "' run -o '" + dir.file("pipe.db") +
                              "' -- /usr/bin/python3 -c 'import time, sys; time.sleep(0.3); sys.exit(3)' "
                              "2>&1 >/dev/null | true; echo ${PIPESTATUS[0]}";
  RunResult r = run({"/bin/bash", "-c", command}, kEnv);
  BOOST_CHECK_EQUAL(r.out, "3\n");
}

BOOST_AUTO_TEST_CASE(run_leaves_no_ring_directory_when_it_fails) {
  TempDir dir;
  const std::string marker = dir.file("ran");
  std::set<std::string> before = run_ring_dirs();
  RunResult r = run_program({"-o", "/nonexistent/dir/x.db"}, marker);
  BOOST_TEST_MESSAGE(r.err);
  BOOST_CHECK_EQUAL(r.status, 2);
  BOOST_CHECK(r.err.find("/nonexistent/dir") != std::string::npos);
  BOOST_CHECK(!exists(marker));
  std::set<std::string> leaked = leaked_ring_dirs(before);
  BOOST_CHECK_MESSAGE(leaked.empty(), "left behind: " + (leaked.empty() ? "" : *leaked.begin()));

  // A recording another process holds a write transaction on: the output
  // passes the checks, opening it fails after SQLite's busy timeout.
  const std::string recording = dir.file("busy.db");
  make_recording(recording, "first-run");
  collector::Database holder(recording, collector::Database::Mode::read_write);
  holder.exec("BEGIN EXCLUSIVE");
  holder.exec("INSERT INTO meta VALUES ('held', 'by the test')");
  before = run_ring_dirs();
  r = run_program({"-o", recording, "--append"}, marker);
  BOOST_TEST_MESSAGE(r.err);
  BOOST_CHECK_NE(r.status, 0);
  BOOST_CHECK(!exists(marker));
  leaked = leaked_ring_dirs(before);
  BOOST_CHECK_MESSAGE(leaked.empty(), "left behind: " + (leaked.empty() ? "" : *leaked.begin()));
  holder.exec("ROLLBACK");
}
