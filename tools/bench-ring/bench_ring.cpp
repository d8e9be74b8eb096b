// bench-ring: costs of the telemetry ring, measured side by side.
//
//   bench-ring producer [--rounds N]   ns per telemetry_emit (record published), and per
//                                      telemetry_count_small; medians over rounds
//   bench-ring drain [--rounds N]      collector drain rate: in-memory (copy out + validate +
//                                      release) and into SQLite (Recorder), records/s, medians
//   bench-ring rate [--rate R] [--seconds S] [--hugeshim PATH]
//                                      a producer process paced at R events/s for S seconds
//                                      while `hugeshim record` runs at its defaults; prints
//                                      events, stored and dropped
//
// The producer is the shim's own telemetry layer (hugeshim_telemetry) linked in.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <filesystem>
#include <optional>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "commands.h"
#include "drain_loop.h"
#include "hugeshim/options.h"
#include "recorder.h"
#include "ring_reader.h"
#include "store.h"
#include "telemetry/telemetry.h"

using namespace hugeshim;
using Clock = std::chrono::steady_clock;

namespace {

std::string make_dir() {
  std::string templ = "/dev/shm/hugeshim-bench-XXXXXX";
  if (!mkdtemp(templ.data())) {
    perror("mkdtemp");
    exit(1);
  }
  return templ;
}

void start_producer(const std::string& dir, unsigned slots) {
  setenv("HUGESHIM_RING_DIR", dir.c_str(), 1);
  setenv("HUGESHIM_RING_SLOTS", std::to_string(slots).c_str(), 1);
  options_load();
  telemetry_init();
}

Event sample_event(uint64_t i) {
  Event e;
  e.api = HUGESHIM_API_MALLOC;
  e.start_ns = 1000 + i;
  e.address = 0x7f0000000000ull + (i << 21);
  e.requested = e.mapped = 64ull << 20;
  e.page_bytes[HUGESHIM_PAGE_2M] = 64ull << 20;
  e.phase_ns[HUGESHIM_PHASE_RESERVE] = 20000 + (i & 1023);
  e.phase_ns[HUGESHIM_PHASE_POPULATE] = 300000 + (i & 4095);
  e.caller = 0x401000 + (i & 255);
  return e;
}

// Our own segment, opened as the collector would (in this process).
collector::Segment open_own_segment(const std::string& dir) {
  int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::optional<collector::Segment> segment;
    std::string why;
    if (collector::Segment::open(dir_fd, entry.path().filename(), &segment, &why) == collector::Segment::OpenResult::ok)
      return std::move(*segment);
  }
  fprintf(stderr, "no segment in %s\n", dir.c_str());
  exit(1);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int bench_producer(int rounds) {
  const std::string dir = make_dir();
  constexpr unsigned kSlots = 16384, kBatch = kSlots / 2;
  start_producer(dir, kSlots);
  collector::Segment segment = open_own_segment(dir);
  std::vector<collector::DrainedSlot> out(kSlots);
  std::vector<double> emit_ns, small_ns;
  uint64_t serial = 0;
  for (int r = 0; r < rounds; ++r) {
    std::vector<Event> events;
    for (unsigned i = 0; i < kBatch; ++i) events.push_back(sample_event(serial++));
    auto t = Clock::now();
    for (const Event& e : events) telemetry_emit(e);
    emit_ns.push_back(seconds_since(t) * 1e9 / kBatch);
    size_t got = 0;
    segment.peek(out.data(), kSlots, false, &got);  // untimed: make room for the next round
    segment.release(got);
    if (got != kBatch) fprintf(stderr, "round %d: %zu of %u published\n", r, got, kBatch);
    t = Clock::now();
    for (unsigned i = 0; i < 1000000; ++i) telemetry_count_small(HUGESHIM_API_MALLOC);
    small_ns.push_back(seconds_since(t) * 1e9 / 1e6);
  }
  printf("producer: telemetry_emit %.1f ns/event (median of %d rounds x %u events, min %.1f, max %.1f)\n",
         median(emit_ns), rounds, kBatch, *std::min_element(emit_ns.begin(), emit_ns.end()),
         *std::max_element(emit_ns.begin(), emit_ns.end()));
  printf("producer: telemetry_count_small %.2f ns/call (median of %d rounds x 1e6 calls)\n", median(small_ns), rounds);
  std::filesystem::remove_all(dir);
  return 0;
}

int bench_drain(int rounds) {
  const std::string dir = make_dir();
  constexpr unsigned kSlots = 16384;
  start_producer(dir, kSlots);
  std::vector<double> memory_rate, sqlite_rate;
  {
    collector::Segment segment = open_own_segment(dir);
    std::vector<collector::DrainedSlot> out(kSlots);
    uint64_t serial = 0;
    for (int r = 0; r < rounds; ++r) {
      for (unsigned i = 0; i < kSlots; ++i) telemetry_emit(sample_event(serial++));
      auto t = Clock::now();
      size_t got = 0;
      segment.peek(out.data(), kSlots, false, &got);
      segment.release(got);
      memory_rate.push_back(static_cast<double>(got) / seconds_since(t));
    }
  }  // closing the segment drops its consumer lock for the Recorder
  const std::string db = dir + "/bench.db";
  collector::Store store(db, true);
  collector::Recorder recorder(store, dir, std::cerr);
  recorder.discover();
  recorder.drain();
  std::vector<double> expand_rate;
  uint64_t serial = 0;
  for (int r = 0; r < rounds; ++r) {
    for (unsigned i = 0; i < kSlots; ++i) telemetry_emit(sample_event(serial++));
    const uint64_t before = recorder.stats().records;
    auto t = Clock::now();
    recorder.drain();  // copy out, stage in SQLite, commit, release
    sqlite_rate.push_back(static_cast<double>(recorder.stats().records - before) / seconds_since(t));
    t = Clock::now();
    recorder.expand_all();  // staged batches -> events rows
    expand_rate.push_back(static_cast<double>(kSlots) / seconds_since(t));
  }
  printf("drain: in memory %.2f M records/s (median of %d rounds x %u records)\n", median(memory_rate) / 1e6, rounds, kSlots);
  printf("drain: ring -> SQLite staging %.2f M records/s (median of %d rounds x %u records, WAL, synchronous=OFF)\n",
         median(sqlite_rate) / 1e6, rounds, kSlots);
  printf("drain: staging -> events rows %.2f M records/s (median of %d rounds x %u records)\n",
         median(expand_rate) / 1e6, rounds, kSlots);
  std::filesystem::remove_all(dir);
  return 0;
}

int bench_rate(double rate, double seconds, const std::string& hugeshim) {
  const std::string dir = make_dir();
  const std::string db = dir + "/rate.db";
  fflush(nullptr);
  pid_t recorder = fork();
  if (recorder == 0) {
    execl(hugeshim.c_str(), "hugeshim", "record", "--dir", dir.c_str(), "-o", db.c_str(), nullptr);
    perror("exec hugeshim");
    _exit(127);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  pid_t producer = fork();
  if (producer == 0) {
    start_producer(dir, 16384);  // the default ring size
    const auto start = Clock::now();
    uint64_t sent = 0;
    const uint64_t total = static_cast<uint64_t>(rate * seconds);
    while (sent < total) {
      // Emit what is due by now (bursts at the scheduler's granularity).
      const uint64_t due = std::min<uint64_t>(total, static_cast<uint64_t>(seconds_since(start) * rate) + 1);
      for (; sent < due; ++sent) telemetry_emit(sample_event(sent));
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    printf("rate: produced %llu events in %.2f s (%.0f events/s)\n", static_cast<unsigned long long>(sent),
           seconds_since(start), sent / seconds_since(start));
    exit(0);
  }
  int status;
  waitpid(producer, &status, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  kill(recorder, SIGINT);
  waitpid(recorder, &status, 0);
  collector::Database database(db, collector::Database::Mode::read_only);
  collector::Statement q = database.prepare(
      "SELECT events, records_dropped, (SELECT count(*) FROM events) FROM counters WHERE api = 'malloc'");
  if (!q.step()) {
    fprintf(stderr, "no counters recorded\n");
    return 1;
  }
  printf("rate: target %.0f events/s for %.0f s: events %lld, stored %lld, dropped %lld\n", rate, seconds,
         static_cast<long long>(q.int64(0)), static_cast<long long>(q.int64(2)), static_cast<long long>(q.int64(1)));
  std::filesystem::remove_all(dir);
  return q.int64(1) == 0 ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench-ring producer|drain|rate [--rounds N] [--rate R] [--seconds S] [--hugeshim PATH]\n");
    return 1;
  }
  const std::string mode = argv[1];
  int rounds = 21;
  double rate = 200000, seconds = 5;
  std::string hugeshim = collector::own_directory() + "/hugeshim";
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--rounds") rounds = atoi(argv[i + 1]);
    else if (flag == "--rate") rate = atof(argv[i + 1]);
    else if (flag == "--seconds") seconds = atof(argv[i + 1]);
    else if (flag == "--hugeshim") hugeshim = argv[i + 1];
  }
  if (mode == "producer") return bench_producer(rounds);
  if (mode == "drain") return bench_drain(rounds);
  if (mode == "rate") return bench_rate(rate, seconds, hugeshim);
  fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 1;
}
