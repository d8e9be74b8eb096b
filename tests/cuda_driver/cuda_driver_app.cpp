// Drives the static-cudart double (first stdin line: getproc | dlsym) or
// asks the shared-cudart double how many wrappers it was given (cudart).
#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "static_cudart_double.h"

int main() {
  std::string how;
  std::getline(std::cin, how);
  if (how == "cudart") {
    void* rt = dlopen(CUDART_REQUESTER_DOUBLE_PATH, RTLD_NOW | RTLD_LOCAL);
    auto wrapped = rt ? reinterpret_cast<int (*)(const char*)>(dlsym(rt, "cudart_requester_double_wrapped"))
                      : nullptr;
    if (!wrapped) return 1;
    printf("cudart_wrapped=%d\n", wrapped(LIBCUDA_DOUBLE_PATH));
    return 0;
  }
  return static_cudart_double_run(LIBCUDA_DOUBLE_PATH, how.c_str());
}
