// os/next_dl.h: the dynamic linker's own dlsym and dlvsym, found by walking
// the loaded objects' symbol tables (no dlsym call, no allocation), and
// lookups made through them. In this executable the shim's objects are
// linked in, so "next" is the first object after the executable: libc.
#define BOOST_TEST_MODULE next_dl
#include <boost/test/unit_test.hpp>

#include <dlfcn.h>

#include <atomic>
#include <thread>
#include <vector>

#include "os/next_dl.h"

using namespace hugeshim;

namespace {

void* libc_handle() {
  void* h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  BOOST_REQUIRE(h);
  return h;
}

}  // namespace

// First, so that the lazy one-time lookup is what the threads race on.
BOOST_AUTO_TEST_CASE(racing_first_lookups_all_get_the_answer) {
  constexpr int kThreads = 8;
  std::vector<void*> got(kThreads * 2);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      got[2 * t] = os_dlsym(RTLD_DEFAULT, "realpath");
      got[2 * t + 1] = os_dlvsym(RTLD_DEFAULT, "realpath", "GLIBC_2.2.5");
    });
  go.store(true, std::memory_order_release);
  for (auto& th : threads) th.join();
  void* expected_default = dlsym(RTLD_DEFAULT, "realpath");
  void* expected_compat = dlvsym(RTLD_DEFAULT, "realpath", "GLIBC_2.2.5");
  BOOST_REQUIRE(expected_default != expected_compat);
  for (int t = 0; t < kThreads; ++t) {
    BOOST_TEST(got[2 * t] == expected_default);
    BOOST_TEST(got[2 * t + 1] == expected_compat);
  }
}

BOOST_AUTO_TEST_CASE(the_next_dlsym_and_dlvsym_are_libcs_default_versions) {
  void* libc = libc_handle();
  NextDl next = next_dl_find();
  BOOST_TEST(next.dlsym == dlvsym(libc, "dlsym", "GLIBC_2.34"));
  BOOST_TEST(next.dlvsym == dlvsym(libc, "dlvsym", "GLIBC_2.34"));
}

BOOST_AUTO_TEST_CASE(lookups_answer_as_the_loaders_own_calls_do) {
  void* libc = libc_handle();
  BOOST_TEST(os_dlsym(RTLD_DEFAULT, "malloc") == dlsym(RTLD_DEFAULT, "malloc"));
  // RTLD_NEXT is relative to the caller's object: this executable for both.
  BOOST_TEST(os_dlsym(RTLD_NEXT, "malloc") == dlsym(RTLD_NEXT, "malloc"));
  BOOST_TEST(os_dlsym(libc, "realpath") == dlvsym(libc, "realpath", "GLIBC_2.3"));
  BOOST_TEST(os_dlvsym(libc, "realpath", "GLIBC_2.2.5") == dlvsym(libc, "realpath", "GLIBC_2.2.5"));
  BOOST_TEST(os_dlsym(RTLD_DEFAULT, "hugeshim_no_such_function") == nullptr);
  BOOST_TEST(os_dlvsym(RTLD_DEFAULT, "realpath", "GLIBC_9.99") == nullptr);
}
