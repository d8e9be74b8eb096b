// alloc_probe: a program driven over stdin, one command per line, that makes
// malloc-family calls so tests can look at the result from outside
// (/proc/PID/smaps, /proc/meminfo). Every answer is one line.
//
//   malloc N | calloc N | valloc N | pvalloc N | new N   -> "ADDR ERRNO"
//   realloc ADDR N                                     -> "ADDR ERRNO"
//   posix_memalign ALIGN N                             -> "ADDR RC"
//   aligned_alloc ALIGN N | memalign ALIGN N           -> "ADDR ERRNO"
//   free ADDR | delete ADDR                            -> "ok ERRNO" (errno preserved?)
//   fill ADDR N BYTE                                   -> "ok"
//   check ADDR N BYTE                                  -> "ok" | "bad OFFSET"
//   usable ADDR                                        -> "N"
//   fork_check ADDR N BYTE NEWBYTE                     -> child checks, rewrites; "STATUS"
//   fork_exec                                          -> child execs /bin/true; "STATUS"
#include <errno.h>
#include <stdint.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <new>

namespace {

void* parse_ptr(const char* s) { return reinterpret_cast<void*>(strtoull(s, nullptr, 16)); }

void answer_ptr(void* p, int code) {
  printf("%llx %d\n", static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(p)), code);
}

int check(const unsigned char* p, size_t n, unsigned char b) {
  for (size_t i = 0; i < n; ++i)
    if (p[i] != b) return static_cast<int>(i < 0x7fffffff ? i : 0x7fffffff);
  return -1;
}

int child_status(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

}  // namespace

int main() {
  char line[512];
  while (fgets(line, sizeof line, stdin)) {
    char cmd[64] = {}, a[64] = {}, b[64] = {}, c[64] = {}, d[64] = {};
    sscanf(line, "%63s %63s %63s %63s %63s", cmd, a, b, c, d);
    errno = 0;
    if (!strcmp(cmd, "malloc")) {
      void* p = malloc(strtoull(a, nullptr, 0));
      answer_ptr(p, errno);
    } else if (!strcmp(cmd, "calloc")) {
      void* p = calloc(1, strtoull(a, nullptr, 0));
      answer_ptr(p, errno);
    } else if (!strcmp(cmd, "valloc")) {
      void* p = valloc(strtoull(a, nullptr, 0));
      answer_ptr(p, errno);
    } else if (!strcmp(cmd, "pvalloc")) {
      void* p = pvalloc(strtoull(a, nullptr, 0));
      answer_ptr(p, errno);
    } else if (!strcmp(cmd, "new")) {
      char* p = new (std::nothrow) char[strtoull(a, nullptr, 0)];
      answer_ptr(p, errno);
    } else if (!strcmp(cmd, "delete")) {
      errno = 4242;
      delete[] static_cast<char*>(parse_ptr(a));
      printf("ok %d\n", errno);
    } else if (!strcmp(cmd, "realloc")) {
      void* p = realloc(parse_ptr(a), strtoull(b, nullptr, 0));
      answer_ptr(p, errno);
    } else if (!strcmp(cmd, "posix_memalign")) {
      void* p = nullptr;
      int rc = posix_memalign(&p, strtoull(a, nullptr, 0), strtoull(b, nullptr, 0));
      answer_ptr(p, rc);
    } else if (!strcmp(cmd, "aligned_alloc")) {
      void* p = aligned_alloc(strtoull(a, nullptr, 0), strtoull(b, nullptr, 0));
      answer_ptr(p, errno);
    } else if (!strcmp(cmd, "memalign")) {
      void* p = memalign(strtoull(a, nullptr, 0), strtoull(b, nullptr, 0));
      answer_ptr(p, errno);
    } else if (!strcmp(cmd, "free")) {
      errno = 4242;  // free must leave errno alone
      free(parse_ptr(a));
      printf("ok %d\n", errno);
    } else if (!strcmp(cmd, "fill")) {
      memset(parse_ptr(a), static_cast<int>(strtol(c, nullptr, 0)), strtoull(b, nullptr, 0));
      printf("ok\n");
    } else if (!strcmp(cmd, "check")) {
      int bad = check(static_cast<unsigned char*>(parse_ptr(a)), strtoull(b, nullptr, 0),
                      static_cast<unsigned char>(strtol(c, nullptr, 0)));
      if (bad < 0) printf("ok\n");
      else printf("bad %d\n", bad);
    } else if (!strcmp(cmd, "usable")) {
      printf("%zu\n", malloc_usable_size(parse_ptr(a)));
    } else if (!strcmp(cmd, "fork_check")) {
      fflush(stdout);
      auto* p = static_cast<unsigned char*>(parse_ptr(a));
      size_t n = strtoull(b, nullptr, 0);
      pid_t pid = fork();
      if (pid == 0) {
        if (check(p, n, static_cast<unsigned char>(strtol(c, nullptr, 0))) >= 0) _exit(1);
        memset(p, static_cast<int>(strtol(d, nullptr, 0)), n);  // child's private copy
        void* q = malloc(n);  // the child can allocate large memory too
        if (!q) _exit(2);
        memset(q, 7, n);
        free(q);
        _exit(check(p, n, static_cast<unsigned char>(strtol(d, nullptr, 0))) >= 0 ? 3 : 0);
      }
      printf("%d\n", child_status(pid));
    } else if (!strcmp(cmd, "fork_exec")) {
      fflush(stdout);
      pid_t pid = fork();
      if (pid == 0) {
        execl("/bin/sh", "sh", "-c", "exit 0", static_cast<char*>(nullptr));
        _exit(127);
      }
      printf("%d\n", child_status(pid));
    } else if (!strcmp(cmd, "quit")) {
      return 0;
    } else {
      printf("unknown %s\n", cmd);
    }
    fflush(stdout);
  }
  return 0;
}
