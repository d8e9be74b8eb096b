// populate_probe: the workloads of fragmented_host_test.
//
//   populate_probe base MIB COUNT
//     COUNT times: map MIB of anonymous memory advised MADV_NOHUGEPAGE,
//     populate it (MADV_POPULATE_WRITE, one thread), unmap it. Prints
//     "seconds=S" with the populate time summed.
//   populate_probe malloc MIB COUNT
//     COUNT times: malloc(MIB MiB), free. Under the shim with
//     HUGESHIM_POPULATE=eager the populate happens inside malloc; prints
//     "seconds=S" with the malloc calls' time summed (what the program
//     waits for: reserve, populate and the shim's bookkeeping).
//   populate_probe rounds R MIB COUNT SHIM
//     R interleaved rounds of `base` (no preload) then `malloc` with
//     LD_PRELOAD=SHIM (the environment's HUGESHIM_* apply), each a fresh
//     process; prints "round=I base_s=S shim_s=S" per round.
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int base(size_t len, int count) {
  double total = 0;
  for (int i = 0; i < count; ++i) {
    void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || madvise(p, len, MADV_NOHUGEPAGE) != 0) return 1;
    double t0 = now_s();
    if (madvise(p, len, MADV_POPULATE_WRITE) != 0) return 1;
    total += now_s() - t0;
    munmap(p, len);
  }
  printf("seconds=%.6f\n", total);
  return 0;
}

int with_malloc(size_t len, int count) {
  double total = 0;
  for (int i = 0; i < count; ++i) {
    double t0 = now_s();
    void* p = malloc(len);
    total += now_s() - t0;
    if (!p) return 1;
    static_cast<volatile char*>(p)[0] = 1;
    free(p);
  }
  printf("seconds=%.6f\n", total);
  return 0;
}

// Runs `self mode mib count` and returns its seconds, or -1.
double child(const char* self, const char* mode, const char* mib, const char* count, const char* preload) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    if (preload) setenv("LD_PRELOAD", preload, 1);
    execl(self, self, mode, mib, count, static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  char buf[128] = {};
  ssize_t n = read(fds[0], buf, sizeof buf - 1);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (n <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || strncmp(buf, "seconds=", 8) != 0) return -1;
  return strtod(buf + 8, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && !strcmp(argv[1], "base")) return base(strtoul(argv[2], nullptr, 10) << 20, atoi(argv[3]));
  if (argc == 4 && !strcmp(argv[1], "malloc"))
    return with_malloc(strtoul(argv[2], nullptr, 10) << 20, atoi(argv[3]));
  if (argc == 6 && !strcmp(argv[1], "rounds")) {
    unsetenv("LD_PRELOAD");
    for (int r = 0; r < atoi(argv[2]); ++r) {
      double b = child(argv[0], "base", argv[3], argv[4], nullptr);
      double s = child(argv[0], "malloc", argv[3], argv[4], argv[5]);
      if (b < 0 || s < 0) return 1;
      printf("round=%d base_s=%.6f shim_s=%.6f\n", r, b, s);
      fflush(stdout);
    }
    return 0;
  }
  fprintf(stderr, "usage: populate_probe base|malloc MIB COUNT | rounds R MIB COUNT SHIM\n");
  return 2;
}
