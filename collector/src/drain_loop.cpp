#include "drain_loop.h"

#include <thread>

namespace hugeshim::collector {

void drain_while(Recorder& recorder, const std::function<bool()>& keep_going, DrainCadence cadence) {
  using clock = std::chrono::steady_clock;
  auto next_discover = clock::now();
  while (keep_going()) {
    const auto now = clock::now();
    if (now >= next_discover) {
      recorder.discover();
      next_discover = now + cadence.discover;
    }
    recorder.drain();
    // Rings first: expansion only uses the time until the next drain.
    while (clock::now() < now + cadence.drain && recorder.expand_one()) {
    }
    std::this_thread::sleep_until(now + cadence.drain);
  }
  recorder.discover();
  recorder.drain();
  recorder.expand_all();
}

}  // namespace hugeshim::collector
