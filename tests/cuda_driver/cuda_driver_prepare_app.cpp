// Registers memory through the libcuda double's cuMemHostRegister and
// cuMemHostRegister_v2, looked up with dlsym as a static cudart does (so the
// shim hands out its wrappers), driven by commands on stdin, one answer line
// each:
//   shm SIZE RO | file SIZE | thp SIZE | romap SIZE | malloc SIZE   (see app_maps.h;
//                    shm/file use $CUDA_APP_SHM / $CUDA_APP_FILE)
//   write SIZE | check SIZE        the pattern through the last pointer
//   register V SIZE FLAGS          V=1: cuMemHostRegister, 2: _v2 (on the last pointer)
//   unregister | view              view: what the double's last register found
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "app_maps.h"
#include "libcuda_double.h"
#include "range_view.h"

int main() {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  void* h = dlopen(LIBCUDA_DOUBLE_PATH, RTLD_NOW | RTLD_LOCAL);
  if (!h) return 2;
  auto init = reinterpret_cast<int (*)(unsigned)>(dlsym(h, "cuInit"));
  using Reg = int (*)(void*, size_t, unsigned);
  auto reg1 = reinterpret_cast<Reg>(dlsym(h, "cuMemHostRegister"));
  auto reg2 = reinterpret_cast<Reg>(dlsym(h, "cuMemHostRegister_v2"));
  auto unreg = reinterpret_cast<int (*)(void*)>(dlsym(h, "cuMemHostUnregister"));
  auto view = reinterpret_cast<void (*)(range_view*)>(dlsym(h, "libcuda_double_last_view"));
  if (!init || !reg1 || !reg2 || !unreg || !view || init(0) != 0) return 3;
  void* last = nullptr;
  char line[256];
  while (fgets(line, sizeof line, stdin)) {
    char cmd[32] = {};
    unsigned long long a = 0, b = 0, c = 0;
    if (sscanf(line, "%31s %lli %lli %lli", cmd, &a, &b, &c) < 1) continue;
    std::string k = cmd;
    if (k == "shm" || k == "file") {
      last = app_maps::map_file(getenv(k == "shm" ? "CUDA_APP_SHM" : "CUDA_APP_FILE"), a, b != 0);
      printf("ptr=%p\n", last);
    } else if (k == "thp") {
      last = app_maps::map_thp(a);
      printf("ptr=%p\n", last);
    } else if (k == "romap") {
      last = mmap(nullptr, a, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      printf("ptr=%p\n", last);
    } else if (k == "malloc") {
      last = malloc(a);
      printf("ptr=%p\n", last);
    } else if (k == "write") {
      app_maps::write_pattern(last, a);
      printf("ok\n");
    } else if (k == "check") {
      printf("bad=%zu\n", app_maps::check_pattern(last, a));
    } else if (k == "register") {
      printf("rc=%d\n", (a == 1 ? reg1 : reg2)(last, b, static_cast<unsigned>(c)));
    } else if (k == "unregister") {
      printf("rc=%d\n", unreg(last));
    } else if (k == "view") {
      range_view v{};
      view(&v);
      printf("resident=%lu pages=%lu rss_kb=%lu anon_kb=%lu huge_kb=%lu\n",
             static_cast<unsigned long>(v.resident), static_cast<unsigned long>(v.pages),
             static_cast<unsigned long>(v.rss_kb), static_cast<unsigned long>(v.anon_kb),
             static_cast<unsigned long>(v.huge_kb));
    } else {
      printf("unknown %s\n", cmd);
    }
  }
  return 0;
}
