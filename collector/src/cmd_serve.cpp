// hugeshim serve [--listen ADDR:PORT] [--dir DIR]...: Prometheus /metrics
// from the rings of live processes (read-only: docs/OBSERVABILITY.md) and
// the host's hugetlb pools and THP counters. Each scrape rereads the ring
// headers; nothing is drained, so `hugeshim record` may run beside it.
#include <CLI/CLI.hpp>
#include <httplib.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>
#include <netdb.h>
#include <pthread.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "commands.h"
#include "metrics_host_memory.h"
#include "metrics_ring_source.h"
#include "prometheus_exposition.h"

namespace hugeshim::collector {
namespace {

struct ListenAddress {
  std::string host;
  int port = 0;
};

// "127.0.0.1:9464", "[::1]:9464", "0.0.0.0:0" (0: any free port).
ListenAddress parse_listen(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    throw std::runtime_error("--listen " + text + ": expected ADDR:PORT, e.g. 127.0.0.1:9464 or [::1]:9464");
  ListenAddress a;
  a.host = text.substr(0, colon);
  if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']') a.host = a.host.substr(1, a.host.size() - 2);
  const std::string port = text.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535)
    throw std::runtime_error("--listen " + text + ": port '" + port + "' is not a number from 0 to 65535");
  a.port = std::stoi(port);
  return a;
}

// Binds a socket to the address once, to say exactly why listening there
// fails (httplib only answers "no"); released before httplib binds.
void probe_bind(const ListenAddress& a) {
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string where = a.host + ":" + std::to_string(a.port);
  if (int rc = getaddrinfo(a.host.c_str(), std::to_string(a.port).c_str(), &hints, &found); rc != 0)
    throw std::runtime_error("cannot listen on " + where + ": " + gai_strerror(rc));
  const int fd = socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol);
  int yes = 1;
  const bool bound = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes) == 0 &&
                     bind(fd, found->ai_addr, found->ai_addrlen) == 0;
  const int e = errno;
  if (fd >= 0) close(fd);
  freeaddrinfo(found);
  if (!bound) throw std::runtime_error("cannot listen on " + where + ": " + strerror(e));
}

}  // namespace

int cmd_serve(int argc, char** argv) {
  CLI::App app("Serve Prometheus metrics of the processes writing rings", "hugeshim serve");
  std::string listen = "127.0.0.1:9464";
  std::vector<std::string> dirs, roots;
  app.add_option("--listen", listen, "ADDR:PORT to serve /metrics on (port 0: any free port, printed)")->capture_default_str();
  app.add_option("--dir", dirs, "ring directory, repeatable (default, without --root: HUGESHIM_RING_DIR or /dev/shm/hugeshim-UID)");
  app.add_option("--root", roots,
                 "shared ring root (HUGESHIM_RING_ROOT), repeatable: its per-UID directories, rescanned at every scrape");
  CLI11_PARSE(app, argc, argv);

  const ListenAddress address = parse_listen(listen);
  dirs = metrics_ring_dirs(std::move(dirs), roots);
  RingMetricsSource source(dirs, std::cerr, roots);

  // SIGINT/SIGTERM stop the server from a thread of their own (httplib's
  // stop() is not async-signal-safe): blocked here, before any thread
  // starts, so every thread inherits the mask and only sigwait sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a scraper that hangs up mid-answer

  httplib::Server server;
  server.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    MetricsSnapshot snapshot = source.scrape();
    snapshot.host = read_host_memory();
    res.set_content(render_prometheus(snapshot), kPrometheusContentType);
  });
  int port = address.port;
  if (port == 0) {
    port = server.bind_to_any_port(address.host);
    if (port < 0) throw std::runtime_error("cannot listen on " + address.host + ":0");
  } else {
    probe_bind(address);
    if (!server.bind_to_port(address.host, port))
      throw std::runtime_error("cannot listen on " + listen + ": address in use or not of this host");
  }
  const std::string shown = address.host.find(':') != std::string::npos ? "[" + address.host + "]" : address.host;
  std::cout << "hugeshim serve: listening on http://" << shown << ":" << port << "/metrics" << std::endl;

  std::thread stopper([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    server.stop();
  });
  // listen_after_bind() returns true once stopped, false when accepting
  // failed; then the stopper is woken so that it can be joined.
  const bool served = server.listen_after_bind();
  if (!served) pthread_kill(stopper.native_handle(), SIGTERM);
  stopper.join();
  if (!served) throw std::runtime_error("stopped: accepting connections on " + listen + " failed");
  return 0;
}

}  // namespace hugeshim::collector
