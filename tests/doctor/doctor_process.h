// Runs the built hugeshim-doctor executable and captures what it prints.
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <sys/wait.h>

namespace hugeshim::test {

struct DoctorRun {
  int exit_status = -1;
  std::string out;  // stdout only; stderr goes to the test log
  nlohmann::json json() const { return nlohmann::json::parse(out); }
};

inline DoctorRun run_doctor(const std::string& args) {
  std::string cmd = std::string(HUGESHIM_BIN_DIR) + "/hugeshim-doctor " + args;
  DoctorRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
  int status = pclose(p);
  r.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace hugeshim::test
