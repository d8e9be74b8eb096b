#include "ring_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <stdexcept>

#include "ring_reader.h"

namespace hugeshim_test {

using hugeshim::collector::DrainedSlot;
using hugeshim::collector::RingTotals;
using hugeshim::collector::Segment;

RingDir::RingDir() {
  char templ[] = "/tmp/hugeshim-ring-test-XXXXXX";
  if (!mkdtemp(templ)) throw std::runtime_error("mkdtemp failed");
  path_ = templ;
}

RingDir::~RingDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

Env RingDir::recording(Env env) const {
  env["HUGESHIM_RING"] = "on";
  env["HUGESHIM_RING_DIR"] = path_;
  return env;
}

RingContents RingDir::drain() const {
  RingContents out;
  int dir_fd = open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return out;
  std::vector<std::string> names;
  if (DIR* d = fdopendir(dup(dir_fd))) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.rfind(HUGESHIM_RING_FILE_PREFIX, 0) == 0) names.push_back(n);
    }
    closedir(d);
  }
  for (const std::string& n : names) {
    std::optional<Segment> seg;
    std::string why;
    if (Segment::open(dir_fd, n, &seg, &why) != Segment::OpenResult::ok) continue;
    RingTotals totals;
    if (!seg->totals(&totals)) continue;
    ++out.segments;
    for (uint32_t api = 0; api < HUGESHIM_API_COUNT; ++api) {
      hugeshim_ring_api_counters& sum = out.counters[api];
      const hugeshim_ring_api_counters& c = totals.counters[api];
      sum.events += c.events;
      sum.bytes_requested += c.bytes_requested;
      sum.bytes_mapped += c.bytes_mapped;
      for (int p = 0; p < HUGESHIM_PAGE_COUNT; ++p) sum.page_bytes[p] += c.page_bytes[p];
      for (int f = 0; f < HUGESHIM_RING_FALLBACK_SLOTS; ++f) sum.fallbacks[f] += c.fallbacks[f];
      sum.records_written += c.records_written;
      sum.records_dropped += c.records_dropped;
    }
    DrainedSlot slots[256];
    size_t got = 0;
    while (seg->peek(slots, 256, true, &got) && got > 0) {
      for (size_t i = 0; i < got; ++i)
        if (slots[i].kind == DrainedSlot::Kind::record) out.records.push_back(slots[i].record);
      seg->release(got);
    }
  }
  close(dir_fd);
  return out;
}

}  // namespace hugeshim_test
