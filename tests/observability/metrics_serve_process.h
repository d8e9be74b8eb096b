// `hugeshim serve` run by a test: on a free port (it binds port 0 and says
// which), stopped with SIGTERM, scraped with cpp-httplib's client.
#pragma once

#include <httplib.h>
#include <signal.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "process.h"

namespace metrics_test {

class ServeProcess {
 public:
  explicit ServeProcess(const std::vector<std::string>& dirs) {
    std::vector<std::string> argv = {hugeshim_test::bin_dir() + "/hugeshim", "serve", "--listen", "127.0.0.1:0"};
    for (const std::string& d : dirs) {
      argv.push_back("--dir");
      argv.push_back(d);
    }
    child_ = std::make_unique<hugeshim_test::Child>(argv, hugeshim_test::Env{});
    const std::string line = child_->read_line();  // "hugeshim serve: listening on http://127.0.0.1:PORT/metrics"
    const size_t colon = line.rfind(':');
    const size_t slash = line.rfind("/metrics");
    if (colon == std::string::npos || slash == std::string::npos || slash < colon)
      throw std::runtime_error("hugeshim serve did not start: '" + line + "' " + child_->stderr_text());
    port_ = std::stoi(line.substr(colon + 1, slash - colon - 1));
  }
  ~ServeProcess() { stop(); }

  int port() const { return port_; }
  pid_t pid() const { return child_->pid(); }

  // GET path; status -1 when the request itself failed.
  struct Answer {
    int status = -1;
    std::string body;
    std::string content_type;
  };
  Answer get(const std::string& path) const {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(10, 0);
    Answer a;
    if (auto res = client.Get(path.c_str())) {
      a.status = res->status;
      a.body = res->body;
      a.content_type = res->get_header_value("Content-Type");
    }
    return a;
  }

  // SIGTERM; the exit status.
  int stop() {
    if (!stopped_) {
      kill(child_->pid(), SIGTERM);
      status_ = child_->wait();
      stopped_ = true;
    }
    return status_;
  }
  std::string stderr_text() { return child_->stderr_text(); }

 private:
  std::unique_ptr<hugeshim_test::Child> child_;
  int port_ = 0;
  bool stopped_ = false;
  int status_ = -1;
};

}  // namespace metrics_test
