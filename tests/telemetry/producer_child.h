// Helpers for telemetry tests: a private ring directory, and producers run
// in forked children (the shim's real telemetry layer, without the malloc
// interposition) so the test process itself plays the collector.
#pragma once

#include "temp_dir.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "drain_loop.h"
#include "hugeshim/options.h"
#include "recorder.h"
#include "store.h"
#include "telemetry/telemetry.h"

namespace hugeshim::test {

// Ring tests keep their segments on tmpfs, as the shim's default does.
class TempDir : public hugeshim_test::TempDir {
 public:
  TempDir() : hugeshim_test::TempDir("/dev/shm/hugeshim-test-") {}
};

// Forks a child that opens its ring in `dir` with `slots` slots, runs body
// and exits (exit(0): the producer's exit path runs, as in a real program).
inline pid_t spawn_producer(const std::string& dir, unsigned slots, const std::function<void()>& body,
                            const char* ring = "on") {
  fflush(nullptr);  // the child must not print the parent's buffered output again
  pid_t pid = fork();
  if (pid != 0) return pid;
  setenv("HUGESHIM_RING_DIR", dir.c_str(), 1);
  setenv("HUGESHIM_RING_SLOTS", std::to_string(slots).c_str(), 1);
  setenv("HUGESHIM_RING", ring, 1);
  options_load();
  telemetry_init();
  body();
  exit(0);
}

inline int wait_status(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

inline Event large_event(uint32_t api, uint64_t bytes, uint64_t serial) {
  Event e;
  e.api = api;
  e.start_ns = now_ns();
  e.address = 0x7f0000000000ull + serial * 4096;
  e.requested = bytes;
  e.mapped = bytes;
  e.page_bytes[HUGESHIM_PAGE_2M] = bytes;
  e.phase_ns[HUGESHIM_PHASE_RESERVE] = 1000 + serial % 5000;
  e.fallback = serial % 7 == 0 ? HUGESHIM_FALLBACK_POOL_EMPTY : HUGESHIM_FALLBACK_NONE;
  e.caller = reinterpret_cast<uintptr_t>(&wait_status);
  return e;
}

// Drains until `recorder` holds no segment (every producer gone) or the
// deadline passes; returns false on timeout.
inline bool drain_until_finished(collector::Recorder& recorder, std::chrono::seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  collector::drain_while(recorder, [&] {
    return std::chrono::steady_clock::now() < end && !(recorder.attached() == 0 && recorder.stats().processes > 0);
  });
  return recorder.attached() == 0;
}

inline int64_t query_int(collector::Database& db, const std::string& sql) {
  collector::Statement q = db.prepare(sql);
  return q.step() ? q.int64(0) : -1;
}

}  // namespace hugeshim::test
