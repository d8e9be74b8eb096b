// HUGESHIM_FILE_MAP=copy: a generated 512 MiB file mapped by python3's mmap
// module (MAP_PRIVATE) and by numpy.memmap (MAP_SHARED) reads back identical,
// sits on huge pages, and gives its pages back on close; a file open for
// writing anywhere is never copied; the kernel's answers for later calls on
// a copied mapping are kept (same mmap_probe script with and without).
#define BOOST_TEST_MODULE mmap_file_copy
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <sstream>
#include <vector>

#include "mmap_probe_client.h"
#include "thp_mode.h"

using namespace hugeshim_test;

namespace {

// One generated file for the whole module: 512 MiB of a xorshift stream,
// deleted at the end.
struct ModelFile {
  std::string path = "/tmp/hugeshim-mmap-file-copy-" + std::to_string(getpid()) + ".bin";
  static constexpr uint64_t kSize = 512 * kMiB;
  ModelFile() {
    FILE* f = fopen(path.c_str(), "wb");
    std::vector<uint64_t> block(1 << 20);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (uint64_t done = 0; done < kSize; done += block.size() * 8) {
      for (uint64_t& v : block) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        v = x;
      }
      fwrite(block.data(), 8, block.size(), f);
    }
    fclose(f);
  }
  ~ModelFile() { unlink(path.c_str()); }
};

const ModelFile& model() {
  static ModelFile file;
  return file;
}

// One line of file_copy_check.py: "TAG DIGEST k=v k=v ...".
struct Line {
  std::string digest;
  std::map<std::string, long> v;
};

std::map<std::string, Line> python_check(const Env& env) {
  RunResult r = run({"/usr/bin/python3", HUGESHIM_SOURCE_DIR "/tests/mmap/file_copy_check.py", model().path}, env);
  BOOST_REQUIRE_MESSAGE(r.status == 0, r.err);
  std::map<std::string, Line> out;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string tag, kv;
    Line l;
    words >> tag >> l.digest;
    while (words >> kv) {
      auto eq = kv.find('=');
      l.v[kv.substr(0, eq)] = std::stol(kv.substr(eq + 1));
    }
    out[tag] = l;
  }
  BOOST_REQUIRE_EQUAL(out.size(), 3u);
  return out;
}

// The shim's default ladder (1G,2M,thp): copies go to the pool first.
Env copy_mode(Env extra = {}) {
  extra.emplace("HUGESHIM_FILE_MAP", "copy");
  extra.emplace("HUGESHIM_FILE_MIN", "64MiB");
  extra.emplace("HUGESHIM_PAGES", kShimDefaultLadder);
  return with_shim(extra);
}

}  // namespace

BOOST_AUTO_TEST_CASE(python_mmap_and_numpy_memmap_read_back_identical_from_hugetlb) {
  HugePool pool(300);
  auto out = python_check(copy_mode());
  for (const char* tag : {"mmap", "memmap"}) {
    BOOST_TEST_CONTEXT(tag) {
      const Line& l = out[tag];
      BOOST_CHECK_EQUAL(l.digest, out["file"].digest);
      BOOST_CHECK_EQUAL(l.v.at("file"), 0);
      BOOST_CHECK_EQUAL(l.v.at("hugetlb_kb"), 512 * 1024);
      BOOST_CHECK_EQUAL(l.v.at("free_mapped"), l.v.at("free_before") - 256);
      BOOST_CHECK_EQUAL(l.v.at("free_after"), l.v.at("free_before"));  // released on close
      BOOST_CHECK_EQUAL(l.v.at("vmas_after"), 0);
    }
  }
}

BOOST_AUTO_TEST_CASE(thp_serves_the_copy_when_the_pool_is_empty, *needs_thp_enabled()) {
  HugePool pool(0);
  auto out = python_check(copy_mode());
  for (const char* tag : {"mmap", "memmap"}) {
    BOOST_TEST_CONTEXT(tag) {
      const Line& l = out[tag];
      BOOST_CHECK_EQUAL(l.digest, out["file"].digest);
      BOOST_CHECK_EQUAL(l.v.at("file"), 0);
      BOOST_CHECK_EQUAL(l.v.at("hugetlb_kb"), 0);
      BOOST_CHECK_GE(l.v.at("anon_huge_kb"), 500 * 1024);
      BOOST_CHECK_EQUAL(l.v.at("vmas_after"), 0);
    }
  }
}

BOOST_AUTO_TEST_CASE(without_copy_mode_the_page_cache_serves) {
  HugePool pool(300);
  auto out = python_check(with_shim({{"HUGESHIM_PAGES", kShimDefaultLadder}}));
  for (const char* tag : {"mmap", "memmap"}) {
    BOOST_CHECK_EQUAL(out[tag].digest, out["file"].digest);
    BOOST_CHECK_EQUAL(out[tag].v.at("file"), 1);
    BOOST_CHECK_EQUAL(out[tag].v.at("hugetlb_kb"), 0);
  }
}

BOOST_AUTO_TEST_CASE(a_file_open_for_writing_is_never_copied) {
  HugePool pool(300);
  int writer = open(model().path.c_str(), O_RDWR);  // held by this process, not the program
  BOOST_REQUIRE_GE(writer, 0);
  auto out = python_check(copy_mode({{"HUGESHIM_LOG", "info"}}));
  for (const char* tag : {"mmap", "memmap"}) {
    BOOST_CHECK_EQUAL(out[tag].digest, out["file"].digest);
    BOOST_CHECK_EQUAL(out[tag].v.at("file"), 1);
    BOOST_CHECK_EQUAL(out[tag].v.at("hugetlb_kb"), 0);
    BOOST_CHECK_EQUAL(out[tag].v.at("free_mapped"), out[tag].v.at("free_before"));
  }
  close(writer);
  // Once the writer is gone the same file is copied again.
  MmapProbe probe(copy_mode({{"HUGESHIM_LOG", "info"}}));
  BOOST_REQUIRE_EQUAL(probe.ask("mapfile f " + model().path + " 512M 0 shared"), "ok");
  uint64_t f = probe.addr("f");
  BOOST_CHECK_EQUAL(maps_line(probe.pid(), f).find(model().path), std::string::npos);
  BOOST_CHECK_EQUAL(probe.finish(), 0);
  BOOST_CHECK_NE(probe.stderr_text().find("file map copy: "), std::string::npos);
}

BOOST_AUTO_TEST_CASE(later_calls_on_a_copied_mapping_answer_as_the_kernel_does) {
  HugePool pool(300);
  const std::string& p = model().path;
  same_as_kernel(
      "mapfile f " + p + " 100M+12345 4M private\n" +
          "sum f 100M+12345\n"
          "layout f 100M+12345\n"
          "madvise f+1M 3M dontneed\n"
          "sum f 8M\n"
          "write f+5M 1\n"
          "mprotect f+3M+4K 1M rw\n"
          "write f+3M+8K 7\n"
          "read f+3M+8K\n"
          "munmap f+10M+4K 10M\n"
          "sum f 10M+4K\n"
          "sum f+20M+4K 80M\n"
          "mremap g f+20M+4K 80M 40M\n"
          "sum g 40M\n"
          "mapfile s " + p + " 64M 0 shared\n" +
          "sum s 64M\n"
          "mprotect s+4M 4M rw\n"
          "write s+5M 1\n"
          "madvise s 64M dontneed\n"
          "madvise s 64M free\n"
          "sum s 64M\n"
          "munmap s+1M+4K 4K\n"
          "mapped s 64M\n"
          "munmap s 64M\n"
          "mapfile t " + p + " 600M 0 private\n" +
          "mapfile t " + p + " 512M+4K 0 private\n",
      {{"HUGESHIM_FILE_MAP", "copy"}, {"HUGESHIM_FILE_MIN", "16MiB"}, {"HUGESHIM_PAGES", kShimDefaultLadder}});
}
