// The ELF reader (os/elf.h) against what the dynamic linker itself says:
// dynamic sections, sonames, DT_NEEDED lists, and function lookup in the
// default version only. A library double (elf_symbols_double.cpp) built with
// a GNU and with a SysV hash table holds a symbol of every kind; libc holds
// real versioned symbols; the vDSO has a dynamic section that is not
// relocated in place.
#define BOOST_TEST_MODULE elf
#include <boost/test/unit_test.hpp>
#include <boost/test/data/test_case.hpp>

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <sys/auxv.h>
#include <time.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "os/elf.h"

using namespace hugeshim;
namespace data = boost::unit_test::data;

namespace {

struct Object {
  void* handle = nullptr;
  uintptr_t base = 0;
  const ElfW(Dyn)* dyn = nullptr;
};

// A loaded object as the dynamic linker sees it (its link_map).
Object open_object(const char* path, int flags = RTLD_NOW | RTLD_LOCAL) {
  Object o;
  o.handle = dlopen(path, flags);
  BOOST_REQUIRE_MESSAGE(o.handle, "dlopen " << path << ": " << dlerror());
  link_map* map = nullptr;
  BOOST_REQUIRE(dlinfo(o.handle, RTLD_DI_LINKMAP, &map) == 0);
  o.base = map->l_addr;
  o.dyn = map->l_ld;
  return o;
}
Object libc() { return open_object("libc.so.6", RTLD_NOW | RTLD_NOLOAD); }

bool has_tag(const ElfW(Dyn)* dyn, ElfW(Sxword) tag) {
  for (; dyn->d_tag != DT_NULL; ++dyn)
    if (dyn->d_tag == tag) return true;
  return false;
}

std::vector<std::string> needed(const Object& o) {
  std::vector<std::string> names;
  elf_for_each_needed(o.base, o.dyn, [&](const char* name) {
    names.emplace_back(name);
    return true;
  });
  return names;
}

struct PhdrObject {
  std::string name;
  uintptr_t addr;
  const ElfW(Dyn)* dyn;
};
std::vector<PhdrObject> loaded_objects() {
  std::vector<PhdrObject> all;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        static_cast<std::vector<PhdrObject>*>(out)->push_back(
            {info->dlpi_name ? info->dlpi_name : "", info->dlpi_addr, elf_dynamic_section(info)});
        return 0;
      },
      &all);
  return all;
}

const char* const kDoubles[] = {ELF_DOUBLE_GNU, ELF_DOUBLE_SYSV};

int local_function() { return 0; }

}  // namespace

BOOST_AUTO_TEST_CASE(dynamic_section_is_the_one_the_loader_uses) {
  Object self = open_object(nullptr);
  link_map* m = nullptr;
  BOOST_REQUIRE(dlinfo(self.handle, RTLD_DI_LINKMAP, &m) == 0);
  size_t compared = 0;
  std::vector<PhdrObject> objects = loaded_objects();
  for (; m; m = m->l_next)
    for (const PhdrObject& o : objects)
      if (o.addr == m->l_addr && o.name == m->l_name) {
        BOOST_TEST_CONTEXT(o.name) { BOOST_TEST(o.dyn == m->l_ld); }
        ++compared;
      }
  BOOST_TEST(compared >= 4u);  // the executable, libc, the loader, the vDSO at least
}

BOOST_DATA_TEST_CASE(the_default_version_is_found_and_compat_ones_are_not, data::make(kDoubles), path) {
  Object d = open_object(path);
  void* answer = elf_default_function(d.base, d.dyn, "elf_double_answer");
  BOOST_TEST(answer == dlvsym(d.handle, "elf_double_answer", "ELFDOUBLE_2"));
  BOOST_TEST(answer != dlvsym(d.handle, "elf_double_answer", "ELFDOUBLE_1"));
  BOOST_REQUIRE(answer);
  BOOST_TEST(reinterpret_cast<int (*)()>(answer)() == 2);
  // Only a compat version: not found, though the loader has it.
  BOOST_TEST(dlvsym(d.handle, "elf_double_retired", "ELFDOUBLE_1") != nullptr);
  BOOST_TEST(elf_default_function(d.base, d.dyn, "elf_double_retired") == nullptr);
  dlclose(d.handle);
}

BOOST_DATA_TEST_CASE(only_defined_plain_functions_are_found, data::make(kDoubles), path) {
  Object d = open_object(path);
  // The table kind this build was meant to exercise.
  const bool gnu = strstr(path, "_gnu") != nullptr;
  BOOST_TEST(has_tag(d.dyn, DT_GNU_HASH) == gnu);
  BOOST_TEST(has_tag(d.dyn, DT_HASH) == !gnu);

  void* plain = elf_default_function(d.base, d.dyn, "elf_double_plain");
  BOOST_TEST(plain == dlsym(d.handle, "elf_double_plain"));
  BOOST_REQUIRE(plain);
  BOOST_TEST(reinterpret_cast<int (*)()>(plain)() == 3);
  BOOST_TEST(elf_default_function(d.base, d.dyn, "elf_double_weak") == dlsym(d.handle, "elf_double_weak"));
  // Defined, but data or an IFUNC: the loader finds them, the reader must not.
  for (const char* name : {"elf_double_data", "elf_double_indirect"}) {
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST(dlsym(d.handle, name) != nullptr);
      BOOST_TEST(elf_default_function(d.base, d.dyn, name) == nullptr);
    }
  }
  // Undefined here (puts), absent, or a near miss of a real name.
  for (const char* name : {"puts", "elf_double_absent", "elf_double_plai", "elf_double_plainx", ""})
    BOOST_TEST(elf_default_function(d.base, d.dyn, name) == nullptr, "found '" << name << "'");
  dlclose(d.handle);
}

BOOST_AUTO_TEST_CASE(libc_functions_resolve_to_their_default_versions) {
  Object c = libc();
  BOOST_TEST(elf_default_function(c.base, c.dyn, "malloc") == dlsym(c.handle, "malloc"));
  // dlsym@@GLIBC_2.34 beside the libdl-era dlsym@GLIBC_2.2.5.
  BOOST_TEST(elf_default_function(c.base, c.dyn, "dlsym") == dlvsym(c.handle, "dlsym", "GLIBC_2.34"));
  // Two versions at different addresses: realpath@@GLIBC_2.3, realpath@GLIBC_2.2.5.
  void* realpath_default = dlvsym(c.handle, "realpath", "GLIBC_2.3");
  void* realpath_compat = dlvsym(c.handle, "realpath", "GLIBC_2.2.5");
  BOOST_REQUIRE(realpath_default != realpath_compat);
  BOOST_TEST(elf_default_function(c.base, c.dyn, "realpath") == realpath_default);
  // memcpy's default version is an IFUNC; its compat version is a plain
  // function that must not be taken instead.
  BOOST_TEST(dlvsym(c.handle, "memcpy", "GLIBC_2.2.5") != nullptr);
  BOOST_TEST(elf_default_function(c.base, c.dyn, "memcpy") == nullptr);
  BOOST_TEST(elf_default_function(c.base, c.dyn, "environ") == nullptr);  // data
}

BOOST_AUTO_TEST_CASE(sonames_and_needed_lists_match_the_files) {
  Object c = libc();
  BOOST_TEST(elf_soname(c.base, c.dyn) == std::string("libc.so.6"));
  BOOST_TEST(elf_string_table(c.base, c.dyn) != nullptr);
  const std::vector<std::string> libc_needs = needed(c);
  BOOST_REQUIRE(libc_needs.size() == 1u);
  BOOST_TEST(libc_needs[0].rfind("ld-linux", 0) == 0u);

  Object d = open_object(ELF_DOUBLE_GNU);
  BOOST_TEST(elf_soname(d.base, d.dyn) == std::string("libelf_symbols_double_gnu.so"));
  const std::vector<std::string> double_needs = needed(d);
  BOOST_TEST(std::count(double_needs.begin(), double_needs.end(), "libc.so.6") == 1);
  // The callback stops the walk.
  int calls = 0;
  elf_for_each_needed(d.base, d.dyn, [&](const char*) { return ++calls < 1; });
  BOOST_TEST(calls == 1);
  dlclose(d.handle);

  Object self = open_object(nullptr);
  BOOST_TEST(elf_soname(self.base, self.dyn) == nullptr);  // an executable has none
}

BOOST_AUTO_TEST_CASE(the_vdso_is_read_through_its_unrelocated_dynamic_section) {
  const uintptr_t vdso = getauxval(AT_SYSINFO_EHDR);
  BOOST_REQUIRE(vdso != 0u);
  const PhdrObject* found = nullptr;
  std::vector<PhdrObject> objects = loaded_objects();
  for (const PhdrObject& o : objects)
    if (o.addr == vdso) found = &o;
  BOOST_REQUIRE(found);
  BOOST_REQUIRE(found->dyn);
  BOOST_TEST(elf_soname(found->addr, found->dyn) == std::string("linux-vdso.so.1"));
  using ClockGettime = int (*)(clockid_t, timespec*);
  auto vdso_clock = reinterpret_cast<ClockGettime>(elf_default_function(found->addr, found->dyn, "__vdso_clock_gettime"));
  BOOST_REQUIRE(vdso_clock);
  timespec before{}, got{}, after{};
  clock_gettime(CLOCK_MONOTONIC, &before);
  BOOST_TEST(vdso_clock(CLOCK_MONOTONIC, &got) == 0);
  clock_gettime(CLOCK_MONOTONIC, &after);
  auto ns = [](const timespec& t) { return t.tv_sec * 1000000000LL + t.tv_nsec; };
  BOOST_TEST(ns(before) <= ns(got));
  BOOST_TEST(ns(got) <= ns(after));
}

BOOST_AUTO_TEST_CASE(soname_at_names_the_object_holding_an_address) {
  Object d = open_object(ELF_DOUBLE_GNU);
  BOOST_TEST(soname_at(dlsym(d.handle, "elf_double_plain")) == std::string("libelf_symbols_double_gnu.so"));
  Object c = libc();
  BOOST_TEST(soname_at(dlsym(c.handle, "malloc")) == std::string("libc.so.6"));
  BOOST_TEST(soname_at(reinterpret_cast<void*>(&local_function)) == nullptr);  // the executable
  BOOST_TEST(soname_at(nullptr) == nullptr);
  BOOST_TEST(soname_is("libcuda.so.1", "libcuda.so"));
  BOOST_TEST(!soname_is("libcudart.so.12", "libcuda.so"));
  BOOST_TEST(!soname_is("libcud", "libcuda.so"));
  BOOST_TEST(!soname_is(nullptr, "libcuda.so"));
  dlclose(d.handle);
}
