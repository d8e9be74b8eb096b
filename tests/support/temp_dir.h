// A private temporary directory for one test, removed with everything in it
// when the object goes. `prefix` names where and how ("/tmp/hugeshim-test-",
// "/dev/shm/..."); six random characters are appended.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace hugeshim_test {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "/tmp/hugeshim-test-") {
    std::string templ = prefix + "XXXXXX";
    if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp " + templ + " failed");
    path_ = templ;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace hugeshim_test
