#include "cuda_run.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <optional>
#include <sstream>

#include "ring_reader.h"

namespace cuda_test {

using hugeshim::collector::DrainedSlot;
using hugeshim::collector::Segment;

namespace {

std::vector<hugeshim_ring_record> drain_dir(const std::string& dir) {
  std::vector<hugeshim_ring_record> out;
  int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return out;
  DIR* d = fdopendir(dup(dir_fd));
  std::vector<std::string> names;
  while (dirent* e = d ? readdir(d) : nullptr) {
    std::string n = e->d_name;
    if (n.rfind(HUGESHIM_RING_FILE_PREFIX, 0) == 0) names.push_back(n);
  }
  if (d) closedir(d);
  for (const std::string& n : names) {
    std::optional<Segment> seg;
    std::string why;
    if (Segment::open(dir_fd, n, &seg, &why) != Segment::OpenResult::ok) continue;
    DrainedSlot slots[256];
    size_t got = 0;
    while (seg->peek(slots, 256, true, &got) && got > 0) {
      for (size_t i = 0; i < got; ++i)
        if (slots[i].kind == DrainedSlot::Kind::record) out.push_back(slots[i].record);
      seg->release(got);
    }
  }
  close(dir_fd);
  return out;
}

}  // namespace

hugeshim_test::Env cuda_env(hugeshim_test::Env extra) {
  hugeshim_test::Env env = {{"HUGESHIM_RING", "on"},
                            {"HUGESHIM_MIN_SIZE", "4M"},
                            {"HUGESHIM_PAGES", "2M"},
                            {"HUGESHIM_CACHE", "0"},
                            {"HUGESHIM_INTERCEPT", "malloc,cuda"},
                            {"HUGESHIM_LOG", "warn"}};
  for (auto& [k, v] : extra) env[k] = v;
  return env;
}

AppRun run_app(const std::string& app, const std::string& script, hugeshim_test::Env env,
               bool preload) {
  char dir[] = "/tmp/hugeshim-cuda-test-XXXXXX";
  AppRun r;
  if (!mkdtemp(dir)) return r;
  env["HUGESHIM_RING_DIR"] = dir;
  if (preload) env = hugeshim_test::with_shim(env);
  hugeshim_test::RunResult res = hugeshim_test::run({hugeshim_test::bin_dir() + "/" + app}, env, script);
  r.status = res.status;
  r.err = res.err;
  std::istringstream lines(res.out);
  for (std::string l; std::getline(lines, l);) r.lines.push_back(l);
  r.records = drain_dir(dir);
  std::string cleanup = std::string("rm -rf ") + dir;
  if (system(cleanup.c_str()) != 0) r.err += "\n(ring directory not removed)";
  return r;
}

std::vector<DoubleCall> parse_calls(const std::string& line) {
  std::vector<DoubleCall> calls;
  std::istringstream in(line);
  std::string word;
  in >> word;  // "calls"
  while (in >> word) {
    DoubleCall c{};
    if (sscanf(word.c_str(), "%d:%lx:%lu:%u:%d", &c.op, &c.ptr, &c.size, &c.flags, &c.result) == 5)
      calls.push_back(c);
  }
  return calls;
}

std::string field(const std::string& line, const std::string& key) {
  std::istringstream in(line);
  std::string word;
  while (in >> word)
    if (word.rfind(key + "=", 0) == 0) return word.substr(key.size() + 1);
  return "";
}

std::vector<hugeshim_ring_record> of_api(const AppRun& run, uint32_t api) {
  std::vector<hugeshim_ring_record> out;
  for (const auto& r : run.records)
    if (r.api == api) out.push_back(r);
  return out;
}

}  // namespace cuda_test
