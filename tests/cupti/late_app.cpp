// Loads CUDA late (dlopen of a library linked against cudart), makes one
// CUDA call and says on stderr where it is at each step, so a test can see
// when the shim spoke.
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <unistd.h>

namespace {
void say(const char* what) {
  ssize_t ignored = write(STDERR_FILENO, what, strlen(what));
  (void)ignored;
}
}  // namespace

int main() {
  say("app: started\n");
  void* lib = dlopen(LATE_CUDA_PATH, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "app: %s\n", dlerror());
    return 2;
  }
  auto late_host_alloc = reinterpret_cast<int (*)(unsigned long)>(dlsym(lib, "late_host_alloc"));
  say("app: cudart loaded\n");
  int rc = late_host_alloc(8ul << 20);
  say("app: called\n");
  printf("rc=%d\n", rc);
  return 0;
}
