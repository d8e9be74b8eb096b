#include "process.h"

#include <fcntl.h>
#include <signal.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace hugeshim_test {
namespace {

std::vector<std::string> merged_env(const Env& extra) {
  std::map<std::string, std::string> all;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) all[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  // The test binary itself may run preloaded; children decide for themselves.
  all.erase("LD_PRELOAD");
  for (auto& [k, v] : extra) {
    if (v.empty()) all.erase(k);
    else all[k] = v;
  }
  std::vector<std::string> out;
  for (auto& [k, v] : all) out.push_back(k + "=" + v);
  return out;
}

pid_t spawn(const std::vector<std::string>& argv, const Env& env, int in_fd, int out_fd, int err_fd) {
  auto envs = merged_env(env);
  std::vector<char*> args, envp;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (auto& e : envs) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    execvpe(args[0], args.data(), envp.data());
    _exit(127);
  }
  return pid;
}

int decode(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

// Creates an empty private file and returns its path.
std::string temp_path(const char* tag) {
  std::string pattern = std::string("/tmp/hugeshim-test-XXXXXX") + tag;
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back(0);
  int fd = mkstemps(buf.data(), static_cast<int>(strlen(tag)));
  if (fd < 0) throw std::runtime_error("mkstemps failed");
  close(fd);
  return buf.data();
}

// Throws unless this test holds the pool lock; `what` says what needed it.
void require_pool_lock(const std::string& what) {
  if (holds_pool_lock()) return;
  throw std::logic_error(what +
                         " touches the global hugetlb pool: give this test RESOURCE_LOCK hugetlb_pool in "
                         "hugeshim_test(), or run the shim with HUGESHIM_PAGES=" + kPoolFreeLadder);
}

}  // namespace

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string shim_path() { return HUGESHIM_SHIM_PATH; }
std::string bin_dir() { return HUGESHIM_BIN_DIR; }

bool ladder_reaches_pool(const std::string& pages) {
  // As the shim parses it: a comma list of distinct rungs, none empty.
  int thp_rungs = 0;
  for (size_t at = 0;;) {
    size_t end = pages.find(',', at);
    std::string rung = pages.substr(at, end == std::string::npos ? std::string::npos : end - at);
    if (strcasecmp(rung.c_str(), "thp") == 0) ++thp_rungs;
    else if (strcasecmp(rung.c_str(), "base") != 0) return true;  // 1G, 2M, or invalid: the default
    if (end == std::string::npos) return thp_rungs > 1;             // a repeated rung is invalid too
    at = end + 1;
  }
}

Env with_shim(Env env) {
  env.emplace("LD_PRELOAD", shim_path());
  env.emplace("HUGESHIM_RING", "off");
  const std::string& pages = env.emplace("HUGESHIM_PAGES", kPoolFreeLadder).first->second;
  if (ladder_reaches_pool(pages))
    require_pool_lock("the shim with HUGESHIM_PAGES='" + pages + "'" + (pages.empty() ? " (its default)" : ""));
  return env;
}

RunResult run(const std::vector<std::string>& argv, const Env& env, const std::string& input) {
  std::string in_path = temp_path(".in"), out_path = temp_path(".out"), err_path = temp_path(".err");
  { std::ofstream(in_path) << input; }
  int in = open(in_path.c_str(), O_RDONLY);
  int out = open(out_path.c_str(), O_WRONLY | O_TRUNC);
  int err = open(err_path.c_str(), O_WRONLY | O_TRUNC);
  pid_t pid = spawn(argv, env, in, out, err);
  close(in);
  close(out);
  close(err);
  int status = 0;
  waitpid(pid, &status, 0);
  RunResult r;
  r.status = decode(status);
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  unlink(in_path.c_str());
  unlink(out_path.c_str());
  unlink(err_path.c_str());
  return r;
}

Child::Child(const std::vector<std::string>& argv, const Env& env) {
  int to_child[2], from_child[2];
  if (pipe2(to_child, O_CLOEXEC) || pipe2(from_child, O_CLOEXEC)) throw std::runtime_error("pipe failed");
  err_path_ = temp_path(".err");
  int err = open(err_path_.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  pid_ = spawn(argv, env, to_child[0], from_child[1], err);
  close(to_child[0]);
  close(from_child[1]);
  close(err);
  in_ = to_child[1];
  out_ = from_child[0];
}

Child::~Child() {
  if (pid_ > 0 && status_ < 0) {
    kill(pid_, SIGKILL);
    wait();
  }
  if (in_ >= 0) close(in_);
  if (out_ >= 0) close(out_);
  unlink(err_path_.c_str());
}

void Child::send(const std::string& line) {
  std::string l = line + "\n";
  if (write(in_, l.data(), l.size()) != static_cast<ssize_t>(l.size()))
    throw std::runtime_error("write to child failed");
}

std::string Child::read_line() {
  while (true) {
    auto nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    char buf[4096];
    ssize_t n = read(out_, buf, sizeof buf);
    if (n <= 0) {
      std::string rest = buffer_;
      buffer_.clear();
      return rest;
    }
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

int Child::wait() {
  if (status_ >= 0) return status_;
  if (in_ >= 0) {
    close(in_);
    in_ = -1;
  }
  int status = 0;
  waitpid(pid_, &status, 0);
  status_ = decode(status);
  return status_;
}

std::string Child::stderr_text() { return read_file(err_path_); }

SmapsSummary smaps_range(pid_t pid, uint64_t addr, uint64_t len) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/smaps");
  SmapsSummary s;
  std::string line;
  bool in = false;
  uint64_t vma_kb = 0;
  while (std::getline(f, line)) {
    unsigned long lo, hi;
    if (line.find('-') != std::string::npos && sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 &&
        line.find(':') > line.find(' ')) {
      in = lo < addr + len && hi > addr;
      vma_kb = (hi - lo) / 1024;
      if (in) s.size_kb += vma_kb;
      continue;
    }
    if (!in) continue;
    unsigned long v;
    if (sscanf(line.c_str(), "AnonHugePages: %lu kB", &v) == 1) s.anon_huge_kb += v;
    else if (sscanf(line.c_str(), "Rss: %lu kB", &v) == 1) s.rss_kb += v;
    else if (sscanf(line.c_str(), "Private_Hugetlb: %lu kB", &v) == 1) s.hugetlb_kb += v;
    else if (sscanf(line.c_str(), "Shared_Hugetlb: %lu kB", &v) == 1) s.hugetlb_kb += v;
    else if (sscanf(line.c_str(), "KernelPageSize: %lu kB", &v) == 1) s.kb_by_page_size[v] += vma_kb;
  }
  return s;
}

SmapsSummary smaps_process(pid_t pid) { return smaps_range(pid, 0, UINT64_MAX); }

std::string vm_flags(pid_t pid, uint64_t addr) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/smaps");
  std::string line;
  bool in = false;
  while (std::getline(f, line)) {
    unsigned long lo, hi;
    if (sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > line.find(' ')) {
      in = lo <= addr && addr < hi;
      continue;
    }
    if (in && line.rfind("VmFlags:", 0) == 0) return line.substr(8) + " ";
  }
  return "";
}

long meminfo(const std::string& key) {
  if (key.rfind("HugePages_", 0) == 0) require_pool_lock("reading " + key);
  std::ifstream f("/proc/meminfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::strtol(line.c_str() + key.size() + 1, nullptr, 10);
  }
  return -1;
}

std::string thp_mode() {
  std::string modes = read_file("/sys/kernel/mm/transparent_hugepage/enabled");
  auto open = modes.find('['), close = modes.find(']');
  if (open == std::string::npos || close == std::string::npos || close < open) return "";
  return modes.substr(open + 1, close - open - 1);
}

HugePool::HugePool(long pages) {
  require_pool_lock("sizing the pool (nr_hugepages)");
  previous_ = std::strtol(read_file("/proc/sys/vm/nr_hugepages").c_str(), nullptr, 10);
  std::ofstream("/proc/sys/vm/nr_hugepages") << pages;
  long got = std::strtol(read_file("/proc/sys/vm/nr_hugepages").c_str(), nullptr, 10);
  if (got < pages) {
    std::ofstream("/proc/sys/vm/nr_hugepages") << previous_;
    throw std::runtime_error("hugetlb pool: asked " + std::to_string(pages) + " pages, kernel gave " +
                             std::to_string(got));
  }
}

HugePool::~HugePool() { std::ofstream("/proc/sys/vm/nr_hugepages") << previous_; }

}  // namespace hugeshim_test
