// The program's OWN registration of a large host range, as real frameworks do
// it, for tools/gpu-check.sh (issue 12). Linked against the shared cudart
// (-cudart shared) so LD_PRELOAD=libhugeshim.so can interpose; libcuda is
// opened with dlopen, as the frameworks do, never linked.
//
//   register_bench vllm BYTES [key=value...]
//       vLLM style: one /dev/shm file (MAP_SHARED), sized with ftruncate
//       (alloc=fallocate: fallocate), registered with cudaHostRegister by
//       `workers` (default 2) processes at once, like tensor-parallel workers
//       on one GPU. Each worker then copies its share H2D and D2H, checked
//       word by word on the device and on the host, and reads the other
//       workers' shares through its own registration (zero copy, on the
//       device): what one process wrote is what the other's GPU mapping sees.
//   register_bench trt BYTES [key=value...]
//       TensorRT-LLM style: an anonymous private mmap advised MADV_HUGEPAGE,
//       registered with the DRIVER API cuMemHostRegister, obtained through
//       cuGetProcAddress (via=procaddress, default) or dlsym on libcuda.so.1
//       (via=dlsym); copies checked as above; cuMemHostUnregister.
//   register_bench neighbour [key=value...]
//       (started by the two above and by torch_pinned.py register) another
//       process on the same GPU: a loop of cudaMemGetInfo + a 64 KiB H2D copy
//       + a kernel launch. It prints "ready" once its loop has run 300 ms,
//       then reads one line "START_NS END_NS" (CLOCK_MONOTONIC) on stdin: the
//       registration window. It stops and prints one JSON line: its loop's
//       p50/p99 before the window and p50/p99/longest iteration overlapping it.
//
// keys: round=N phase=cold|warm tag=TEXT (echoed; tag= also names the process
// in the shim's telemetry, so its populate/register phases can be joined)
// neighbour=1|0 (default 1) workers=N (vllm) alloc=ftruncate|fallocate (vllm)
// via=procaddress|dlsym (trt) flags=N (the register flags, default 0)
// shm=PATH (vllm, default /dev/shm/register-bench-PID).
//
// Every measurement is one JSON line on stdout ("test":"register" or
// "neighbour"); errors are a JSON line {"error":...} and a non-zero exit
// (3: no CUDA device, 2: a CUDA call failed, 4: a system call failed,
// 5: data mismatches).
#include <cuda.h>
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

std::map<std::string, std::string> g_args;
std::string g_self;

std::string arg(const char* key, const char* dflt) {
  auto it = g_args.find(key);
  return it == g_args.end() ? dflt : it->second;
}

uint64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

const char* run_label() {
  const char* run = getenv("PINNED_BENCH_RUN");
  if (run && *run) return run;
  const char* p = getenv("LD_PRELOAD");
  return p && strstr(p, "hugeshim") ? "shim" : "native";
}

// "scenario":...,"run":...,"round":...,"phase":...,"tag":... for every line.
std::string common(const char* scenario) {
  char buf[512];
  snprintf(buf, sizeof buf, "\"scenario\":\"%s\",\"run\":\"%s\",\"round\":%d,\"phase\":\"%s\",\"tag\":\"%s\"",
           scenario, run_label(), atoi(arg("round", "0").c_str()), arg("phase", "").c_str(),
           arg("tag", "").c_str());
  return buf;
}

[[noreturn]] void fail(int code, const char* scenario, const std::string& what) {
  printf("{\"test\":\"register\",%s,\"error\":\"%s\"}\n", common(scenario).c_str(), what.c_str());
  fflush(stdout);
  fprintf(stderr, "register_bench: %s\n", what.c_str());
  exit(code);
}

const char* g_scenario = "none";

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    fail(2, g_scenario, std::string(what) + ": " + cudaGetErrorString(e) + " (" + std::to_string(e) + ")");
}

void sys_check(bool ok, const char* what) {
  if (!ok) fail(4, g_scenario, std::string(what) + ": " + strerror(errno));
}

// A clean answer where there is no GPU (or no driver): exit 3, no crash.
void require_device() {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n < 1) {
    std::string why = e != cudaSuccess
                          ? std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e) + " (" + std::to_string(e) + ")"
                          : std::string("0 devices");
    fail(3, g_scenario, "no CUDA device (" + why + ")");
  }
  check(cudaSetDevice(0), "cudaSetDevice(0)");
  check(cudaFree(nullptr), "context");
}

// ------------------------------------------------------------ data checks
__host__ __device__ inline uint64_t pattern(uint64_t i) {
  uint64_t z = i + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

unsigned host_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n < 1 ? 1 : n > 16 ? 16 : n;
}

template <typename F>
void parallel_words(size_t words, F f) {
  unsigned n = host_threads();
  std::vector<std::thread> ts;
  size_t per = (words + n - 1) / n;
  for (unsigned t = 0; t < n; ++t)
    ts.emplace_back([=] {
      size_t lo = t * per, hi = std::min(words, lo + per);
      for (size_t i = lo; i < hi; ++i) f(i);
    });
  for (auto& t : ts) t.join();
}

uint64_t host_mismatches(const uint64_t* w, size_t words, uint64_t first) {
  std::atomic<uint64_t> bad{0};
  parallel_words(words, [&, w](size_t i) {
    if (w[i] != pattern(first + i)) bad.fetch_add(1, std::memory_order_relaxed);
  });
  return bad.load();
}

__global__ void device_mismatches(const uint64_t* w, size_t words, uint64_t first, unsigned long long* bad) {
  unsigned long long local = 0;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < words; i += (size_t)gridDim.x * blockDim.x)
    local += w[i] != pattern(first + i);
  if (local) atomicAdd(bad, local);
}

unsigned long long mismatches_on_device(const void* p, size_t bytes, uint64_t first_word) {
  unsigned long long* bad;
  check(cudaMalloc(&bad, sizeof *bad), "cudaMalloc(counter)");
  check(cudaMemset(bad, 0, sizeof *bad), "cudaMemset");
  device_mismatches<<<1024, 256>>>(static_cast<const uint64_t*>(p), bytes / 8, first_word, bad);
  check(cudaGetLastError(), "launch");
  check(cudaDeviceSynchronize(), "sync");
  unsigned long long h = 0;
  check(cudaMemcpy(&h, bad, sizeof h, cudaMemcpyDeviceToHost), "cudaMemcpy(counter)");
  cudaFree(bad);
  return h;
}

double timed_copy_gbps(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  uint64_t t0 = mono_ns();
  check(cudaMemcpy(dst, src, bytes, kind), kind == cudaMemcpyHostToDevice ? "H2D" : "D2H");
  return bytes / ((mono_ns() - t0) * 1e-9) / 1e9;
}

struct CopyCheck {
  double h2d_gbps = 0, d2h_gbps = 0;
  unsigned long long mismatches = 0;
};

// Words [first, first + bytes/8) of the pattern: written on the host, copied
// H2D (checked on the device), host zeroed, copied back D2H (checked on the host).
CopyCheck copy_check(char* host, size_t bytes, uint64_t first_word) {
  CopyCheck c;
  void* d = nullptr;
  check(cudaMalloc(&d, bytes), "cudaMalloc");
  auto* w = reinterpret_cast<uint64_t*>(host);
  size_t words = bytes / 8;
  parallel_words(words, [=](size_t i) { w[i] = pattern(first_word + i); });
  c.h2d_gbps = timed_copy_gbps(d, host, bytes, cudaMemcpyHostToDevice);
  c.mismatches += mismatches_on_device(d, bytes, first_word);
  parallel_words(words, [=](size_t i) { w[i] = 0; });
  c.d2h_gbps = timed_copy_gbps(host, d, bytes, cudaMemcpyDeviceToHost);
  c.mismatches += host_mismatches(w, words, first_word);
  cudaFree(d);
  return c;
}

// Bytes of [p, p + len) on huge pages, summed over the VMAs overlapping it
// (whole VMAs: AnonHugePages, ShmemPmdMapped, FilePmdMapped, *_Hugetlb).
uint64_t huge_bytes(const void* p, size_t len) {
  FILE* f = fopen("/proc/self/smaps", "r");
  if (!f) return 0;
  char line[512];
  uintptr_t lo = reinterpret_cast<uintptr_t>(p), hi = lo + len;
  bool in = false;
  uint64_t kb = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long a, b;
    if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' ')) {
      in = a < hi && b > lo;
      continue;
    }
    if (!in) continue;
    char key[64];
    unsigned long v;
    if (sscanf(line, "%63[^:]: %lu kB", key, &v) == 2 &&
        (!strcmp(key, "AnonHugePages") || !strcmp(key, "ShmemPmdMapped") || !strcmp(key, "FilePmdMapped") ||
         !strcmp(key, "Shared_Hugetlb") || !strcmp(key, "Private_Hugetlb")))
      kb += v;
  }
  fclose(f);
  return kb << 10;
}

// ---------------------------------------------------------------- processes
struct Child {
  pid_t pid = -1;
  int to = -1, from = -1;  // its stdin (our write end), its stdout (our read end)
};

// fork + exec of this program with `mode` and the current key=value args
// (plus `extra`); its stdin/stdout are pipes to us unless keep_stdout.
Child spawn_self(const std::vector<std::string>& argv_tail, bool keep_stdout, bool without_preload = false) {
  int in[2], out[2];
  sys_check(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0, "pipe");
  std::vector<std::string> args = {g_self};
  args.insert(args.end(), argv_tail.begin(), argv_tail.end());
  fflush(stdout);
  pid_t pid = fork();
  sys_check(pid >= 0, "fork");
  if (pid == 0) {
    dup2(in[0], 0);
    if (!keep_stdout) dup2(out[1], 1);
    close(in[0]), close(in[1]), close(out[0]), close(out[1]);
    if (without_preload) unsetenv("LD_PRELOAD");
    std::vector<char*> av;
    for (auto& s : args) av.push_back(const_cast<char*>(s.c_str()));
    av.push_back(nullptr);
    execv("/proc/self/exe", av.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  Child c;
  c.pid = pid;
  c.to = in[1];
  c.from = out[0];
  return c;
}

std::string read_line(int fd) {
  std::string s;
  char ch;
  while (read(fd, &ch, 1) == 1) {
    if (ch == '\n') return s;
    s += ch;
  }
  return s;
}

void write_all(int fd, const std::string& s) {
  const char* p = s.data();
  size_t n = s.size();
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w, n -= static_cast<size_t>(w);
  }
}

std::vector<std::string> key_args() {
  std::vector<std::string> v;
  for (auto& [k, val] : g_args) v.push_back(k + "=" + val);
  return v;
}

// The neighbour, started and ready (its loop has a baseline), or none.
Child start_neighbour(const char* scenario) {
  Child n;
  if (arg("neighbour", "1") == "0") return n;
  std::vector<std::string> tail = {"neighbour", std::string("scenario=") + scenario};
  for (auto& a : key_args())
    if (a.rfind("scenario=", 0) != 0) tail.push_back(a);
  // The neighbour is another program on the node: the same (no shim) in
  // native and shim runs.
  n = spawn_self(tail, false, true);
  std::string ready = read_line(n.from);
  if (ready != "ready") {
    // Its error line (no device, ...) is forwarded; the measurement goes on without it.
    if (!ready.empty()) printf("%s\n", ready.c_str());
    fprintf(stderr, "register_bench: neighbour did not start\n");
    close(n.to), close(n.from);
    waitpid(n.pid, nullptr, 0);
    return Child{};
  }
  return n;
}

// Tells the neighbour the window and forwards its JSON line.
void finish_neighbour(Child& n, uint64_t start, uint64_t end) {
  if (n.pid < 0) return;
  write_all(n.to, std::to_string(start) + " " + std::to_string(end) + "\n");
  close(n.to);
  std::string line;
  while (!(line = read_line(n.from)).empty()) printf("%s\n", line.c_str());
  close(n.from);
  waitpid(n.pid, nullptr, 0);
  fflush(stdout);
  n = Child{};
}

// ---------------------------------------------------------------- neighbour
__global__ void touch(char* p) { p[threadIdx.x] += 1; }

struct Stats {
  double p50 = 0, p99 = 0, max = 0;
  size_t n = 0;
};

Stats stats(std::vector<double> v) {
  Stats s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))]; };
  s.p50 = at(0.50);
  s.p99 = at(0.99);
  s.max = v.back();
  return s;
}

int mode_neighbour() {
  const std::string scen = arg("scenario", "none");
  g_scenario = "neighbour";
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n < 1) {
    printf("{\"test\":\"neighbour\",%s,\"error\":\"no CUDA device (%s)\"}\n", common(scen.c_str()).c_str(),
           e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    return 3;
  }
  check(cudaSetDevice(0), "cudaSetDevice(0)");
  check(cudaFree(nullptr), "context");
  const size_t small = 64 << 10;
  void* hs = nullptr;
  char* ds = nullptr;
  check(cudaHostAlloc(&hs, small, 0), "cudaHostAlloc(small)");
  check(cudaMalloc(&ds, small), "cudaMalloc(small)");
  cudaStream_t s;
  check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "stream");
  struct Sample {
    uint64_t start, total, info;
  };
  std::vector<Sample> samples;
  samples.reserve(1 << 23);
  std::atomic<bool> stop{false};
  std::thread loop([&] {
    cudaSetDevice(0);
    while (!stop.load(std::memory_order_relaxed)) {
      uint64_t t0 = mono_ns();
      size_t fr = 0, tot = 0;
      cudaMemGetInfo(&fr, &tot);
      uint64_t t1 = mono_ns();
      cudaMemcpyAsync(ds, hs, small, cudaMemcpyHostToDevice, s);
      touch<<<1, 32, 0, s>>>(ds);
      cudaStreamSynchronize(s);
      uint64_t t2 = mono_ns();
      if (samples.size() < samples.capacity()) samples.push_back({t0, t2 - t0, t1 - t0});
    }
  });
  usleep(300 * 1000);
  printf("ready\n");
  fflush(stdout);
  char line[128] = {0};
  unsigned long long start = 0, end = 0;
  bool have = fgets(line, sizeof line, stdin) && sscanf(line, "%llu %llu", &start, &end) == 2;
  stop = true;
  loop.join();
  std::vector<double> base, during, info;
  for (const Sample& x : samples) {
    if (!have) break;
    if (x.start + x.total < start) base.push_back(x.total * 1e-3);
    else if (x.start < end) {
      during.push_back(x.total * 1e-3);
      info.push_back(x.info * 1e-3);
    }
  }
  Stats b = stats(base), d = stats(during), mi = stats(info);
  printf("{\"test\":\"neighbour\",%s,\"window_s\":%.6f,\"base_n\":%zu,\"base_p50_us\":%.1f,\"base_p99_us\":%.1f,"
         "\"during_n\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"meminfo_max_us\":%.1f%s}\n",
         common(scen.c_str()).c_str(), have ? (end - start) * 1e-9 : 0.0, b.n, b.p50, b.p99, d.n, d.p50, d.p99,
         d.max, mi.max, have ? "" : ",\"error\":\"no window\"");
  fflush(stdout);
  cudaFreeHost(hs);
  cudaFree(ds);
  return have ? 0 : 1;
}

// ---------------------------------------------------------------- vllm
// Worker protocol (fd 0 from the coordinator, fd 1 is the shared stdout,
// REPORT fd to the coordinator): "r" ready, wait "g"; register; report
// "START END RC"; copies; "d"; wait "g"; peer check; unregister; JSON line.
int mode_vllm_worker(const std::string& path, size_t bytes, int index, int workers, int report_fd) {
  g_scenario = "vllm";
  require_device();
  int fd = open(path.c_str(), O_RDWR);
  sys_check(fd >= 0, "open shm");
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  sys_check(p != MAP_FAILED, "mmap shm");
  close(fd);
  char* h = static_cast<char*>(p);
  unsigned flags = static_cast<unsigned>(strtoul(arg("flags", "0").c_str(), nullptr, 0));
  write_all(report_fd, "r\n");
  char go;
  if (read(0, &go, 1) != 1) fail(4, "vllm", "worker: coordinator gone");
  uint64_t t0 = mono_ns();
  cudaError_t e = cudaHostRegister(h, bytes, flags);
  uint64_t t1 = mono_ns();
  write_all(report_fd, std::to_string(t0) + " " + std::to_string(t1) + " " + std::to_string(e) + "\n");
  if (e != cudaSuccess) {
    write_all(report_fd, "d\n");
    check(e, "cudaHostRegister(shm)");
  }
  uint64_t huge = huge_bytes(h, bytes);
  size_t share = bytes / workers / 8 * 8;
  size_t off = share * index;
  CopyCheck c = copy_check(h + off, share, off / 8);
  write_all(report_fd, "d\n");
  if (read(0, &go, 1) != 1) fail(4, "vllm", "worker: coordinator gone");
  // The other workers' shares, as they left them, read by this process's GPU
  // mapping of the same pages (zero copy).
  unsigned long long peer_bad = 0;
  int peer_rc = 0;
  for (int w = 0; w < workers; ++w) {
    if (w == index) continue;
    void* dp = nullptr;
    cudaError_t pe = cudaHostGetDevicePointer(&dp, h + share * w, 0);
    if (pe != cudaSuccess) {
      peer_rc = pe;
      peer_bad += share / 8;
      cudaGetLastError();
      continue;
    }
    peer_bad += mismatches_on_device(dp, share, share * w / 8);
  }
  uint64_t u0 = mono_ns();
  cudaError_t ue = cudaHostUnregister(h);
  double unregister_s = (mono_ns() - u0) * 1e-9;
  munmap(p, bytes);
  printf("{\"test\":\"register\",%s,\"api\":\"cudaHostRegister\",\"worker\":%d,\"workers\":%d,\"bytes\":%zu,"
         "\"register_s\":%.6f,\"register_start_ns\":%llu,\"unregister_s\":%.6f,\"unregister_rc\":%d,"
         "\"huge_bytes\":%llu,\"h2d_gbps\":%.3f,\"d2h_gbps\":%.3f,\"mismatches\":%llu,\"peer_mismatches\":%llu,"
         "\"peer_devptr_rc\":%d}\n",
         common("vllm").c_str(), index, workers, bytes, (t1 - t0) * 1e-9, static_cast<unsigned long long>(t0),
         unregister_s, static_cast<int>(ue), static_cast<unsigned long long>(huge), c.h2d_gbps, c.d2h_gbps,
         c.mismatches, peer_bad, peer_rc);
  fflush(stdout);
  return c.mismatches || peer_bad ? 5 : 0;
}

int mode_vllm(size_t bytes) {
  g_scenario = "vllm";
  int ndev = 0;
  cudaError_t e = cudaGetDeviceCount(&ndev);
  if (e != cudaSuccess || ndev < 1)
    fail(3, "vllm", e != cudaSuccess ? std::string("no CUDA device (cudaGetDeviceCount: ") + cudaGetErrorString(e) +
                                           " (" + std::to_string(e) + "))"
                                     : std::string("no CUDA device (0 devices)"));
  int workers = std::max(1, atoi(arg("workers", "2").c_str()));
  std::string path = arg("shm", ("/dev/shm/register-bench-" + std::to_string(getpid())).c_str());
  bytes = bytes / (workers * 8ull) * workers * 8ull;
  uint64_t c0 = mono_ns();
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  sys_check(fd >= 0, "create shm file");
  bool fallocated = arg("alloc", "ftruncate") == "fallocate";
  sys_check(ftruncate(fd, static_cast<off_t>(bytes)) == 0, "ftruncate");
  if (fallocated) sys_check(fallocate(fd, 0, 0, static_cast<off_t>(bytes)) == 0, "fallocate");
  close(fd);
  double create_s = (mono_ns() - c0) * 1e-9;
  Child n = start_neighbour("vllm");
  int report[2];
  sys_check(pipe(report) == 0, "pipe");
  std::vector<Child> ws;
  for (int i = 0; i < workers; ++i) {
    std::vector<std::string> tail = {"vllm-worker", path, std::to_string(bytes), std::to_string(i),
                                     std::to_string(workers), std::to_string(report[1])};
    for (auto& a : key_args())
      if (a.rfind("tag=", 0) != 0) tail.push_back(a);
    tail.push_back("tag=" + arg("tag", "vllm") + ".w" + std::to_string(i));
    ws.push_back(spawn_self(tail, true));
  }
  close(report[1]);
  // Lines from the workers interleave: "r" (ready), "START END RC" (its
  // registration returned), "d" (its copies are done; may come before
  // another worker's registration line).
  int ready = 0, failed = 0, reported = 0, done = 0;
  for (; ready < workers; ++ready)
    if (read_line(report[0]) != "r") break;
  uint64_t go = mono_ns();
  uint64_t first = UINT64_MAX, last = 0;
  if (ready == workers) {
    for (auto& w : ws) write_all(w.to, "g");
    while (reported < workers) {
      std::string l = read_line(report[0]);
      if (l == "d") {
        ++done;
        continue;
      }
      unsigned long long a = 0, b = 0;
      int rc = -1;
      if (sscanf(l.c_str(), "%llu %llu %d", &a, &b, &rc) != 3) {  // EOF: every worker gone
        failed += workers - reported;
        break;
      }
      ++reported;
      failed += rc != 0;
      first = std::min<uint64_t>(first, a);
      last = std::max<uint64_t>(last, b);
    }
  } else {
    failed = workers;
  }
  finish_neighbour(n, first == UINT64_MAX ? go : first, last ? last : mono_ns());
  while (done < workers && read_line(report[0]) == "d") ++done;  // copies done
  for (auto& w : ws) {
    write_all(w.to, "g");
    close(w.to);
    close(w.from);
  }
  close(report[0]);
  int worst = 0;
  for (auto& w : ws) {
    int st = 0;
    waitpid(w.pid, &st, 0);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    worst = std::max(worst, code);
  }
  unlink(path.c_str());
  printf("{\"test\":\"register\",%s,\"api\":\"cudaHostRegister\",\"worker\":\"all\",\"workers\":%d,\"bytes\":%zu,"
         "\"sized_with\":\"%s\",\"create_s\":%.6f,\"window_s\":%.6f,\"failed_workers\":%d,\"worst_exit\":%d}\n",
         common("vllm").c_str(), workers, bytes, fallocated ? "fallocate" : "ftruncate", create_s,
         last > first ? (last - first) * 1e-9 : 0.0, failed, worst);
  fflush(stdout);
  return worst ? worst : failed ? 2 : 0;
}

// ---------------------------------------------------------------- trt
using RegisterFn = CUresult (*)(void*, size_t, unsigned int);
using UnregisterFn = CUresult (*)(void*);
using ProcAddressFn = CUresult (*)(const char*, void**, int, cuuint64_t, CUdriverProcAddressQueryResult*);

int mode_trt(size_t bytes) {
  g_scenario = "trt";
  require_device();
  const std::string via = arg("via", "procaddress");
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
  if (!lib) fail(4, "trt", std::string("dlopen libcuda.so.1: ") + dlerror());
  RegisterFn reg = nullptr;
  UnregisterFn unreg = nullptr;
  if (via == "dlsym") {
    reg = reinterpret_cast<RegisterFn>(dlsym(lib, "cuMemHostRegister_v2"));
    unreg = reinterpret_cast<UnregisterFn>(dlsym(lib, "cuMemHostUnregister"));
  } else {
    auto gpa = reinterpret_cast<ProcAddressFn>(dlsym(lib, "cuGetProcAddress_v2"));
    if (!gpa) fail(4, "trt", "no cuGetProcAddress_v2 in libcuda.so.1");
    CUdriverProcAddressQueryResult st;
    void* f = nullptr;
    if (gpa("cuMemHostRegister", &f, CUDA_VERSION, CU_GET_PROC_ADDRESS_DEFAULT, &st) == CUDA_SUCCESS)
      reg = reinterpret_cast<RegisterFn>(f);
    if (gpa("cuMemHostUnregister", &f, CUDA_VERSION, CU_GET_PROC_ADDRESS_DEFAULT, &st) == CUDA_SUCCESS)
      unreg = reinterpret_cast<UnregisterFn>(f);
  }
  if (!reg || !unreg) fail(4, "trt", "cuMemHostRegister/cuMemHostUnregister not found via " + via);
  bytes = bytes / 8 * 8;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  sys_check(p != MAP_FAILED, "mmap anonymous");
  int advise_rc = madvise(p, bytes, MADV_HUGEPAGE) == 0 ? 0 : errno;
  unsigned flags = static_cast<unsigned>(strtoul(arg("flags", "0").c_str(), nullptr, 0));
  Child n = start_neighbour("trt");
  uint64_t t0 = mono_ns();
  CUresult r = reg(p, bytes, flags);
  uint64_t t1 = mono_ns();
  finish_neighbour(n, t0, t1);
  if (r != CUDA_SUCCESS) fail(2, "trt", "cuMemHostRegister: CUresult " + std::to_string(r));
  uint64_t huge = huge_bytes(p, bytes);
  CopyCheck c = copy_check(static_cast<char*>(p), bytes, 0);
  uint64_t u0 = mono_ns();
  CUresult ur = unreg(p);
  double unregister_s = (mono_ns() - u0) * 1e-9;
  munmap(p, bytes);
  printf("{\"test\":\"register\",%s,\"api\":\"cuMemHostRegister\",\"via\":\"%s\",\"bytes\":%zu,"
         "\"register_s\":%.6f,\"madvise_rc\":%d,\"unregister_s\":%.6f,\"unregister_rc\":%d,\"huge_bytes\":%llu,"
         "\"h2d_gbps\":%.3f,\"d2h_gbps\":%.3f,\"mismatches\":%llu}\n",
         common("trt").c_str(), via.c_str(), bytes, (t1 - t0) * 1e-9, advise_rc, unregister_s, static_cast<int>(ur),
         static_cast<unsigned long long>(huge), c.h2d_gbps, c.d2h_gbps, c.mismatches);
  fflush(stdout);
  return c.mismatches ? 5 : 0;
}

void parse_keys(int argc, char** argv, int from) {
  for (int i = from; i < argc; ++i)
    if (const char* eq = strchr(argv[i], '=')) g_args[std::string(argv[i], static_cast<size_t>(eq - argv[i]))] = eq + 1;
}

}  // namespace

int main(int argc, char** argv) {
  g_self = argv[0];
  setvbuf(stdout, nullptr, _IOLBF, 0);
  std::string mode = argc >= 2 ? argv[1] : "";
  if (mode == "vllm" && argc >= 3) {
    parse_keys(argc, argv, 3);
    return mode_vllm(strtoull(argv[2], nullptr, 0));
  }
  if (mode == "trt" && argc >= 3) {
    parse_keys(argc, argv, 3);
    return mode_trt(strtoull(argv[2], nullptr, 0));
  }
  if (mode == "neighbour") {
    parse_keys(argc, argv, 2);
    return mode_neighbour();
  }
  if (mode == "vllm-worker" && argc >= 7) {
    parse_keys(argc, argv, 7);
    return mode_vllm_worker(argv[2], strtoull(argv[3], nullptr, 0), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
  }
  fprintf(stderr,
          "usage: %s vllm BYTES | trt BYTES | neighbour  [round=N phase=cold|warm tag=T neighbour=1|0 workers=N "
          "alloc=ftruncate|fallocate via=procaddress|dlsym flags=N shm=PATH]\n",
          argv[0]);
  return 64;
}
