#include "cuda_run.h"

#include <cstdio>
#include <sstream>

#include "ring_dir.h"

namespace cuda_test {

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
  hugeshim_test::RingDir ring;
  AppRun r;
  env = ring.recording(env);
  if (preload) env = hugeshim_test::with_shim(env);
  hugeshim_test::RunResult res = hugeshim_test::run({hugeshim_test::bin_dir() + "/" + app}, env, script);
  r.status = res.status;
  r.err = res.err;
  std::istringstream lines(res.out);
  for (std::string l; std::getline(lines, l);) r.lines.push_back(l);
  r.records = ring.drain().records;
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
