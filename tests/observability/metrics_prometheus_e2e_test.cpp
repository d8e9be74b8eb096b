// End to end with a real Prometheus server (Debian's /usr/bin/prometheus on
// loopback, a temporary data directory, scrape interval 1 s) scraping
// `hugeshim serve` while programs run under the shim: alloc_probe's large
// mallocs (default ladder over a 10-page 2 MiB pool, so some fall back) and
// cuda_app's pinned allocation and own registration (the cudart test double:
// no GPU here). PromQL through Prometheus's HTTP API must give the exact
// allocation count, the histogram quantile that the exposition's buckets
// imply, data for every query of the Grafana dashboard, and totals that stay
// after a process exits while its own series go.
#define BOOST_TEST_MODULE metrics_prometheus_e2e
#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "metrics_serve_process.h"
#include "prometheus_text_check.h"
#include "ring_dir.h"

namespace pc = prometheus_check;
using nlohmann::json;

namespace {

constexpr int kAllocations = 6;
constexpr uint64_t kSize = 8ull << 20;
constexpr const char* kPrometheus = "/usr/bin/prometheus";

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

bool wait_for(const std::function<bool()>& done, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return done();
}

// A Prometheus server scraping one target every second.
class PrometheusServer {
 public:
  explicit PrometheusServer(int target_port) {
    char t[] = "/tmp/hugeshim-prometheus-XXXXXX";
    if (!mkdtemp(t)) throw std::runtime_error("mkdtemp failed");
    dir_ = t;
    std::ofstream(dir_ + "/prometheus.yml") << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                                               "scrape_configs:\n  - job_name: hugeshim\n    static_configs:\n"
                                               "      - targets: ['127.0.0.1:" << target_port << "']\n";
    // The port is probed free, then taken by Prometheus: another program may
    // take it in between, so a server that does not come up gets a new one.
    for (int attempt = 0; attempt < 3 && !ready_; ++attempt) {
      port_ = free_port();
      child_ = std::make_unique<hugeshim_test::Child>(
          std::vector<std::string>{kPrometheus, "--config.file=" + dir_ + "/prometheus.yml",
                                   "--storage.tsdb.path=" + dir_ + "/data",
                                   "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"},
          hugeshim_test::Env{});
      auto answers = [&] {
        auto res = client().Get("/-/ready");
        return res && res->status == 200;
      };
      ready_ = wait_for([&] { return answers() || exited(); }, 20) && !exited();
      if (!ready_) BOOST_TEST_MESSAGE("prometheus did not start: " << stop_and_log());
    }
    if (!ready_) throw std::runtime_error("prometheus did not start");
  }
  ~PrometheusServer() {
    stop_and_log();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // An instant query; "data.result" of a successful answer (the test fails
  // when the query does not evaluate).
  json query(const std::string& promql) {
    auto res = client().Get("/api/v1/query", httplib::Params{{"query", promql}}, httplib::Headers{});
    if (!res) return json::array();
    json answer = json::parse(res->body, nullptr, false);
    BOOST_TEST(answer.value("status", "") == "success", promql << ": " << res->body);
    if (answer.value("status", "") != "success") return json::array();
    return answer["data"]["result"];
  }
  // The value of a query that gives one series (NaN when it gives none).
  double scalar(const std::string& promql) {
    const json r = query(promql);
    if (r.size() != 1) return NAN;
    return std::stod(r[0]["value"][1].get<std::string>());
  }

 private:
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_connection_timeout(2, 0);
    c.set_read_timeout(10, 0);
    return c;
  }
  // Exited (a zombie until Child::wait reaps it).
  bool exited() const {
    const std::string stat = hugeshim_test::read_file("/proc/" + std::to_string(child_->pid()) + "/stat");
    const size_t paren = stat.rfind(')');
    return paren == std::string::npos || (paren + 2 < stat.size() && stat[paren + 2] == 'Z');
  }
  std::string stop_and_log() {
    if (!child_) return "";
    kill(child_->pid(), SIGTERM);
    child_->wait();
    std::string log = child_->stderr_text();
    child_.reset();
    return log;
  }
  std::string dir_;
  int port_ = 0;
  bool ready_ = false;
  std::unique_ptr<hugeshim_test::Child> child_;
};

// What Prometheus's histogram_quantile() gives for cumulative buckets
// (upper bound, count) sorted by bound, the last one +Inf: linear
// interpolation inside the bucket holding the rank, the first bucket
// starting at 0.
double expected_quantile(double q, const std::vector<std::pair<double, double>>& buckets) {
  const double rank = q * buckets.back().second;
  size_t b = 0;
  while (b < buckets.size() && buckets[b].second < rank) ++b;
  if (b == buckets.size() - 1) return buckets[b - 1].first;
  const double start = b == 0 ? 0 : buckets[b - 1].first;
  const double below = b == 0 ? 0 : buckets[b - 1].second;
  return start + (buckets[b].first - start) * ((rank - below) / (buckets[b].second - below));
}

// Grafana's variables, as a dashboard with "All" selected sends them.
std::string as_grafana_sends(std::string expr) {
  for (const auto& [var, value] : {std::pair<std::string, std::string>{"$__rate_interval", "1m"}, {"$instance", ".*"}})
    for (size_t at; (at = expr.find(var)) != std::string::npos;) expr.replace(at, var.size(), value);
  return expr;
}

}  // namespace

BOOST_AUTO_TEST_CASE(prometheus_scrapes_serve_while_programs_run_under_the_shim) {
  hugeshim_test::HugePool pool(10);  // 20 MiB: the first mallocs get 2 MiB pages, later ones fall back
  hugeshim_test::RingDir ring;
  metrics_test::ServeProcess serve({ring.path()});
  PrometheusServer prometheus(serve.port());
  BOOST_REQUIRE(wait_for([&] { return prometheus.scalar("up{job=\"hugeshim\"}") == 1; }, 15));

  auto malloc_env = hugeshim_test::with_shim(
      ring.recording({{"HUGESHIM_PAGES", hugeshim_test::kShimDefaultLadder}, {"HUGESHIM_POPULATE", "eager"}, {"HUGESHIM_CACHE", "0"}}));
  hugeshim_test::Child probe({hugeshim_test::bin_dir() + "/alloc_probe"}, malloc_env);
  for (int i = 0; i < kAllocations; ++i) BOOST_REQUIRE(probe.ask("malloc " + std::to_string(kSize)).rfind("0 ", 0) != 0);

  auto cuda_env = hugeshim_test::with_shim(ring.recording({{"HUGESHIM_MIN_SIZE", "4M"}, {"HUGESHIM_PAGES", "2M"},
                                                           {"HUGESHIM_CACHE", "0"}, {"HUGESHIM_INTERCEPT", "malloc,cuda"}}));
  hugeshim_test::Child cuda({hugeshim_test::bin_dir() + "/cuda_app_double"}, cuda_env);
  BOOST_TEST_MESSAGE("cuda alloc: " << cuda.ask("alloc " + std::to_string(kSize) + " 0"));
  BOOST_TEST_MESSAGE("cuda mmap: " << cuda.ask("mmap " + std::to_string(kSize)));
  BOOST_TEST_MESSAGE("cuda register: " << cuda.ask("register " + std::to_string(kSize) + " 0"));

  // The exact count, through Prometheus.
  BOOST_TEST(wait_for([&] { return prometheus.scalar("sum(hugeshim_calls_total{api=\"malloc\"})") == kAllocations &&
                                   prometheus.scalar("sum(hugeshim_calls_total{api=\"cudaHostRegister\"})") == 1; },
                      15));
  BOOST_TEST(prometheus.scalar("sum(hugeshim_calls_total{api=\"malloc\"})") == kAllocations);
  BOOST_TEST(prometheus.scalar("sum(hugeshim_calls_total{api=\"cudaHostAlloc\"})") == 1);
  const std::string pid = std::to_string(probe.pid());
  BOOST_TEST(prometheus.scalar("hugeshim_process_calls_total{api=\"malloc\",pid=\"" + pid + "\",comm=\"alloc_probe\"}") ==
             kAllocations);
  BOOST_TEST(prometheus.scalar("sum(hugeshim_fallbacks_total{reason=\"pool_empty\"})") > 0);

  // A quantile: what the exposition's buckets imply, computed here, equals
  // what Prometheus computes from the samples it scraped.
  const std::string promql = "histogram_quantile(0.5, sum by (le) (hugeshim_phase_duration_seconds_bucket{phase=\"populate\"}))";
  std::map<double, double> by_le;
  for (const pc::Sample& s : pc::parse(serve.get("/metrics").body))
    if (s.name == "hugeshim_phase_duration_seconds_bucket" && s.labels.at("phase") == "populate" && !s.labels.count("pid"))
      by_le[s.labels.at("le") == "+Inf" ? INFINITY : std::stod(s.labels.at("le"))] += s.value;
  const double expected = expected_quantile(0.5, {by_le.begin(), by_le.end()});
  BOOST_TEST_MESSAGE("populate median: expected " << expected << " s from " << by_le.rbegin()->second << " observations");
  BOOST_TEST(by_le.rbegin()->second >= kAllocations);  // every malloc was populated (eager)
  BOOST_TEST(std::isfinite(expected));
  BOOST_TEST(wait_for([&] { return std::fabs(prometheus.scalar(promql) - expected) <= 1e-12 + 1e-9 * expected; }, 5),
             promql << " = " << prometheus.scalar(promql) << ", expected " << expected);

  // Every query of the dashboard evaluates and gives data: at least one
  // series with a number (rates see the calls made since scraping began).
  json dashboard = json::parse(std::ifstream(std::string(HUGESHIM_SOURCE_DIR) + "/tools/grafana/hugeshim-dashboard.json"));
  int queries = 0;
  for (const json& panel : dashboard["panels"])
    for (const json& target : panel["targets"]) {
      const std::string expr = as_grafana_sends(target["expr"].get<std::string>());
      const json result = prometheus.query(expr);
      bool finite = false;
      for (const json& series : result) finite = finite || std::isfinite(std::stod(series["value"][1].get<std::string>()));
      BOOST_TEST(finite, panel["title"].get<std::string>() << ": " << expr << " -> " << result.dump());
      ++queries;
    }
  BOOST_TEST(queries >= 10);
  const double register_p50 = prometheus.scalar(
      "histogram_quantile(0.5, sum by (le) (rate(hugeshim_phase_duration_seconds_bucket{phase=\"register\"}[1m])))");
  BOOST_TEST((std::isfinite(register_p50) && register_p50 > 0), "register p50 " << register_p50);

  // The program exits: its own series go stale after a scrape or two; the
  // totals stay.
  BOOST_REQUIRE_EQUAL(probe.wait(), 0);
  BOOST_TEST(wait_for([&] { return prometheus.query("hugeshim_process_calls_total{pid=\"" + pid + "\"}").empty(); }, 10));
  BOOST_TEST(prometheus.scalar("sum(hugeshim_calls_total{api=\"malloc\"})") == kAllocations);
  BOOST_TEST(prometheus.scalar("sum(hugeshim_exporter_processes_exited_total)") >= 1);
  BOOST_TEST(cuda.wait() == 0);
  BOOST_TEST(serve.stop() == 0);
}
