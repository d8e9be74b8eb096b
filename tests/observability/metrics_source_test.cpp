// The ring side of the metrics, on segment files written here: a process is
// listed while it runs, once more after it has gone, then folded into the
// exporter's totals; the segments are only read (no lock, no attach, no
// slot consumed); hostile files and a vanished directory cost one line and
// nothing else. Also the cgroup parser and the sysfs pool reader.
#define BOOST_TEST_MODULE metrics_source
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "metrics_host_memory.h"
#include "metrics_ring_source.h"
#include "ring_image.h"
#include "temp_dir.h"

using namespace hugeshim::collector;
namespace fs = std::filesystem;

namespace {

using hugeshim_test::TempDir;

uint64_t own_start_ticks() {
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::string field;
  for (int i = 3; i <= 22; ++i) rest >> field;  // fields 3..22
  return std::stoull(field);
}

// A segment of process (pid, ticks) with `malloc_events` large mallocs and
// one populate of 1 ms on 2 MiB pages.
std::string write_segment(const std::string& dir, int32_t pid, uint64_t ticks, uint64_t malloc_events) {
  auto image = hugeshim_test::ring_image(64);
  auto* h = reinterpret_cast<hugeshim_ring_header*>(image.data());
  h->pid = pid;
  h->start_ticks = ticks;
  snprintf(h->exe, sizeof h->exe, "/usr/bin/some-long-program-name");
  h->counters[HUGESHIM_API_MALLOC].events = malloc_events;
  h->counters[HUGESHIM_API_MALLOC].page_bytes[HUGESHIM_PAGE_2M] = malloc_events << 22;
  h->histograms[HUGESHIM_PHASE_POPULATE][HUGESHIM_PAGE_2M].buckets[19] = 1;  // 2^19..2^20-1 ns
  h->histograms[HUGESHIM_PHASE_POPULATE][HUGESHIM_PAGE_2M].sum_ns = 1000000;
  const std::string name = "ring-" + std::to_string(pid) + "-" + std::to_string(ticks) + "-1.hsr";
  const std::string path = dir + "/" + name;
  const int fd = open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600);
  BOOST_REQUIRE(fd >= 0);
  const size_t bytes = image.size() * sizeof(uint64_t);
  BOOST_REQUIRE(write(fd, image.data(), bytes) == static_cast<ssize_t>(bytes));
  close(fd);
  return path;
}

template <typename T>
void poke(const std::string& path, size_t offset, T value) {
  const int fd = open(path.c_str(), O_WRONLY);
  BOOST_REQUIRE(pwrite(fd, &value, sizeof value, static_cast<off_t>(offset)) == sizeof value);
  close(fd);
}

template <typename T>
T peek(const std::string& path, size_t offset) {
  T value{};
  const int fd = open(path.c_str(), O_RDONLY);
  BOOST_REQUIRE(pread(fd, &value, sizeof value, static_cast<off_t>(offset)) == sizeof value);
  close(fd);
  return value;
}

uint64_t total_calls(const MetricsSnapshot& s) {
  RingCounts all = s.exited;
  for (const ProcessMetrics& p : s.processes) all.add(p.counts);
  return all.counters[HUGESHIM_API_MALLOC].events;
}

pid_t dead_pid() {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  return child;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_process_is_listed_until_one_scrape_after_it_has_gone) {
  TempDir dir;
  const std::string path = write_segment(dir.path(), getpid(), own_start_ticks(), 5);
  std::ostringstream messages;
  RingMetricsSource source({dir.path()}, messages);

  MetricsSnapshot s = source.scrape();
  BOOST_REQUIRE_EQUAL(s.processes.size(), 1u);
  BOOST_TEST(s.processes[0].pid == getpid());
  BOOST_TEST(!s.processes[0].gone);
  BOOST_TEST(s.processes[0].identity.comm.size() <= 15u);
  BOOST_TEST(!s.processes[0].identity.comm.empty());
  BOOST_TEST(total_calls(s) == 5u);

  poke<uint64_t>(path, offsetof(hugeshim_ring_header, counters) + HUGESHIM_API_MALLOC * sizeof(hugeshim_ring_api_counters), 6);
  poke<uint32_t>(path, offsetof(hugeshim_ring_header, producer_state), HUGESHIM_PRODUCER_EXITED);
  s = source.scrape();  // gone: listed with its last values, once
  BOOST_REQUIRE_EQUAL(s.processes.size(), 1u);
  BOOST_TEST(s.processes[0].gone);
  BOOST_TEST(total_calls(s) == 6u);
  BOOST_TEST(s.processes_exited == 0u);

  s = source.scrape();  // dropped, folded: the total does not move
  BOOST_TEST(s.processes.empty());
  BOOST_TEST(s.processes_exited == 1u);
  BOOST_TEST(total_calls(s) == 6u);
  BOOST_TEST(s.exited.histograms[HUGESHIM_PHASE_POPULATE][HUGESHIM_PAGE_2M].buckets[19] == 1u);

  s = source.scrape();  // the file is still there: not counted twice
  BOOST_TEST(total_calls(s) == 6u);
  BOOST_TEST(s.processes_exited == 1u);
  BOOST_TEST(messages.str() == "");

  // Read-only: no lock held, no reader marked, no slot position moved.
  const int fd = open(path.c_str(), O_RDONLY);
  BOOST_TEST(flock(fd, LOCK_EX | LOCK_NB) == 0);
  close(fd);
  BOOST_TEST(peek<uint32_t>(path, offsetof(hugeshim_ring_header, reader_attached)) == 0u);
  BOOST_TEST(peek<uint64_t>(path, offsetof(hugeshim_ring_header, dequeue_pos)) == 0u);
}

BOOST_AUTO_TEST_CASE(rings_of_processes_gone_before_the_first_scrape_are_folded_at_once) {
  TempDir dir;
  write_segment(dir.path(), dead_pid(), 12345, 3);
  std::ostringstream messages;
  RingMetricsSource source({dir.path()}, messages);
  MetricsSnapshot s = source.scrape();
  BOOST_TEST(s.processes.empty());
  BOOST_TEST(s.processes_exited == 1u);
  BOOST_TEST(total_calls(s) == 3u);
  BOOST_TEST(total_calls(source.scrape()) == 3u);
}

BOOST_AUTO_TEST_CASE(a_removed_segment_or_directory_keeps_the_totals) {
  TempDir dir;
  const std::string path = write_segment(dir.path(), getpid(), own_start_ticks(), 4);
  std::ostringstream messages;
  RingMetricsSource source({dir.path()}, messages);
  BOOST_TEST(source.scrape().processes.size() == 1u);
  fs::remove_all(dir.path());  // a collector drained and removed it, then the directory went
  MetricsSnapshot s = source.scrape();
  BOOST_REQUIRE_EQUAL(s.processes.size(), 1u);
  BOOST_TEST(s.processes[0].gone);
  BOOST_REQUIRE_EQUAL(s.directories.size(), 1u);
  BOOST_TEST(!s.directories[0].readable);
  s = source.scrape();
  BOOST_TEST(s.processes.empty());
  BOOST_TEST(total_calls(s) == 4u);
}

BOOST_AUTO_TEST_CASE(a_shared_root_is_expanded_into_its_per_uid_directories_at_every_scrape) {
  TempDir root;
  std::ostringstream messages;
  RingMetricsSource source({}, messages, {root.path()});
  MetricsSnapshot s = source.scrape();  // an empty root: nothing yet, no error
  BOOST_TEST(s.processes.empty());
  BOOST_TEST(messages.str() == "");

  // The shim's layout: ROOT/<uid>, mode 0700, owned by that uid; a
  // directory that appears after the server started is found.
  const std::string mine = root.path() + "/" + std::to_string(geteuid());
  BOOST_REQUIRE(mkdir(mine.c_str(), 0700) == 0);
  BOOST_REQUIRE(mkdir((root.path() + "/not-a-uid").c_str(), 0700) == 0);
  write_segment(mine, getpid(), own_start_ticks(), 7);
  s = source.scrape();
  BOOST_REQUIRE_EQUAL(s.processes.size(), 1u);
  BOOST_TEST(s.processes[0].pid == getpid());
  BOOST_TEST(total_calls(s) == 7u);
  BOOST_TEST(std::count_if(s.directories.begin(), s.directories.end(),
                           [&](const auto& d) { return d.path == mine && d.readable; }) == 1);
  source.scrape();  // a skipped entry is reported once, not per scrape
  const std::string text = messages.str();
  BOOST_TEST(std::count(text.begin(), text.end(), '\n') == 1);
  BOOST_TEST(text.find("not-a-uid") != std::string::npos);

  // The user's directory goes: its process is listed once more, folded, and
  // then the directory is no longer reported.
  fs::remove_all(mine);
  s = source.scrape();
  BOOST_REQUIRE_EQUAL(s.processes.size(), 1u);
  BOOST_TEST(s.processes[0].gone);
  s = source.scrape();  // folded; the directory is reported unreadable once more
  BOOST_TEST(s.processes.empty());
  BOOST_TEST(total_calls(s) == 7u);
  s = source.scrape();
  BOOST_TEST(total_calls(s) == 7u);
  BOOST_TEST(std::none_of(s.directories.begin(), s.directories.end(), [&](const auto& d) { return d.path == mine; }));
}

BOOST_AUTO_TEST_CASE(a_missing_ring_root_is_one_clear_error) {
  BOOST_CHECK_EXCEPTION(metrics_ring_dirs({}, {"/nonexistent/hugeshim-root"}), std::runtime_error,
                        [](const std::runtime_error& e) {
                          return std::string(e.what()) ==
                                 "ring root /nonexistent/hugeshim-root: No such file or directory";
                        });
}

BOOST_AUTO_TEST_CASE(hostile_files_are_refused_with_one_line_each) {
  TempDir dir;
  {
    std::ofstream junk(dir.path() + "/ring-1-2-3.hsr");
    junk << std::string(30000, 'x');
  }
  auto image = hugeshim_test::ring_image(64);
  reinterpret_cast<hugeshim_ring_header*>(image.data())->abi_version = 99;
  {
    std::ofstream future(dir.path() + "/ring-4-5-6.hsr", std::ios::binary);
    future.write(reinterpret_cast<const char*>(image.data()), static_cast<std::streamsize>(image.size() * 8));
  }
  fs::create_symlink("/etc/passwd", dir.path() + "/ring-7-8-9.hsr");
  std::ostringstream messages;
  RingMetricsSource source({dir.path()}, messages);
  MetricsSnapshot s = source.scrape();
  s = source.scrape();
  BOOST_TEST(s.processes.empty());
  BOOST_TEST(s.segments_rejected == 3u);
  const std::string text = messages.str();
  BOOST_TEST(std::count(text.begin(), text.end(), '\n') == 3);
  BOOST_TEST(text.find("ring-4-5-6.hsr: ring ABI version 99") != std::string::npos);
  BOOST_TEST(text.find("ring-1-2-3.hsr: bad magic") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(kubernetes_pod_and_container_from_cgroup) {
  auto id = kubernetes_identity(
      "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0c6a9f2e_1d3b_4f4e_9a7c_5b2e8d1f0a11.slice/"
      "cri-containerd-4a5b6c7d8e9f00112233445566778899aabbccddeeff00112233445566778899.scope\n");
  BOOST_TEST(id.pod_uid == "0c6a9f2e-1d3b-4f4e-9a7c-5b2e8d1f0a11");
  BOOST_TEST(id.container_id == "4a5b6c7d8e9f00112233445566778899aabbccddeeff00112233445566778899");
  id = kubernetes_identity(
      "12:memory:/kubepods/besteffort/pod7d1e0c3a-2222-4444-8888-000011112222/0123456789abcdef0123456789ab\n"
      "0::/\n");
  BOOST_TEST(id.pod_uid == "7d1e0c3a-2222-4444-8888-000011112222");
  BOOST_TEST(id.container_id == "0123456789abcdef0123456789ab");
  id = kubernetes_identity("0::/kubepods.slice/kubepods-pod11112222_3333_4444_5555_666677778888.slice/docker-abcdefabcdef12.scope");
  BOOST_TEST(id.pod_uid == "11112222-3333-4444-5555-666677778888");
  BOOST_TEST(id.container_id == "abcdefabcdef12");
  // Not a pod, and junk: nothing made up.
  for (const char* text : {"0::/user.slice/user-1000.slice/session-3.scope\n", "0::/system.slice/podman-pod1234.scope",
                           "", "garbage", "::::\n\n", "0::/kubepods.slice/kubepods-podXYZ.slice/cri-containerd-zz.scope"}) {
    id = kubernetes_identity(text);
    BOOST_TEST(id.pod_uid.empty(), text);
    BOOST_TEST(id.container_id.empty(), text);
  }
}

BOOST_AUTO_TEST_CASE(hugetlb_pools_per_node_and_vmstat_from_a_fake_tree) {
  TempDir root;
  auto put = [&](const std::string& rel, const std::string& text) {
    fs::create_directories(fs::path(root.path() + "/" + rel).parent_path());
    std::ofstream(root.path() + "/" + rel) << text;
  };
  for (const char* size : {"hugepages-2048kB", "hugepages-1048576kB"}) {
    const std::string base = std::string("sys/kernel/mm/hugepages/") + size + "/";
    put(base + "nr_hugepages", "24\n");
    put(base + "free_hugepages", "10\n");
    put(base + "resv_hugepages", "3\n");
    put(base + "surplus_hugepages", "0\n");
  }
  put("sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages", "16\n");
  put("sys/devices/system/node/node0/hugepages/hugepages-2048kB/free_hugepages", "4\n");
  put("sys/devices/system/node/node0/hugepages/hugepages-2048kB/surplus_hugepages", "1\n");
  put("sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages", "8\n");
  put("sys/devices/system/node/node1/hugepages/hugepages-2048kB/free_hugepages", "6\n");
  put("sys/devices/system/node/nodeX/hugepages/hugepages-2048kB/nr_hugepages", "99\n");  // not a node
  put("sys/devices/system/node/node0/hugepages/hugepages-junk/nr_hugepages", "99\n");    // not a pool
  put("proc/vmstat", "nr_free_pages 100\nthp_fault_fallback 7\ncompact_stall 2\nunrelated 9\n");
  const HostMemory host = read_host_memory(root.path());
  BOOST_REQUIRE_EQUAL(host.host_pools.size(), 2u);
  BOOST_TEST(host.host_pools[0].page_size == "2M");
  BOOST_TEST(host.host_pools[1].page_size == "1G");
  BOOST_TEST(host.host_pools[1].page_bytes == uint64_t{1} << 30);
  BOOST_TEST(host.host_pools[0].reserved == 3u);
  BOOST_REQUIRE_EQUAL(host.node_pools.size(), 2u);
  BOOST_TEST(host.node_pools[0].node == 0);
  BOOST_TEST(host.node_pools[0].pages == 16u);
  BOOST_TEST(host.node_pools[0].free == 4u);
  BOOST_TEST(host.node_pools[0].surplus == 1u);
  BOOST_TEST(host.node_pools[1].node == 1);
  BOOST_TEST(host.node_pools[1].free == 6u);
  BOOST_REQUIRE_EQUAL(host.vmstat.size(), 2u);
  BOOST_TEST(host.vmstat[0].first == "thp_fault_fallback");
  BOOST_TEST(host.vmstat[0].second == 7u);
  BOOST_TEST(host.vmstat[1].first == "compact_stall");
}
