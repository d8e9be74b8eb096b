// The options table (common: hugeshim/options.h) parsed in this process from
// an environment the test controls. Complements tests/core/options_test.cpp,
// which checks the stderr line through a preloaded program for a few rows:
// here every row's default is checked against the table, every row gets
// good values and bad ones (a bad one keeps the default and prints exactly
// one line, also when all rows are bad at once), parse_size gets its
// boundaries, and option_effective_value its buffer edges.
#define BOOST_TEST_MODULE options_parser
#include <boost/test/unit_test.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "hugeshim/options.h"

using namespace hugeshim;

extern char** environ;

namespace {

// Starts every case from an environment without HUGESHIM_* variables.
struct CleanEnvironment {
  CleanEnvironment() {
    std::vector<std::string> names;
    for (char** e = environ; *e; ++e)
      if (!strncmp(*e, "HUGESHIM_", 9)) names.emplace_back(*e, strchr(*e, '=') - *e);
    for (const std::string& n : names) unsetenv(n.c_str());
  }
};

// Sets variables for one options_load() and removes them afterwards.
struct Env {
  std::vector<std::string> names;
  Env& set(const std::string& name, const std::string& value) {
    setenv(name.c_str(), value.c_str(), 1);
    names.push_back(name);
    return *this;
  }
  ~Env() {
    for (const std::string& n : names) unsetenv(n.c_str());
  }
};

// Runs options_load() with stderr captured; returns what it printed.
std::string load_capturing_stderr() {
  int sink = memfd_create("stderr", 0);
  BOOST_REQUIRE(sink >= 0);
  int saved = dup(STDERR_FILENO);
  dup2(sink, STDERR_FILENO);
  options_load();
  dup2(saved, STDERR_FILENO);
  close(saved);
  std::string text(static_cast<size_t>(lseek(sink, 0, SEEK_CUR)), '\0');
  ssize_t got = pread(sink, text.data(), text.size(), 0);
  close(sink);
  text.resize(got > 0 ? static_cast<size_t>(got) : 0);
  return text;
}

struct Row {
  size_t index;
  OptionInfo info;
};

const Row& row(const std::string& name) {
  static std::map<std::string, Row> rows = [] {
    std::map<std::string, Row> m;
    size_t count = 0;
    const OptionInfo* table = options_table(&count);
    for (size_t i = 0; i < count; ++i) m[table[i].name] = Row{i, table[i]};
    return m;
  }();
  auto it = rows.find(name);
  if (it == rows.end()) throw std::runtime_error("no option " + name);
  return it->second;
}

std::vector<std::string> all_names() {
  size_t count = 0;
  const OptionInfo* table = options_table(&count);
  std::vector<std::string> names;
  for (size_t i = 0; i < count; ++i) names.push_back(table[i].name);
  return names;
}

std::string effective(const std::string& name) {
  char buf[512];
  option_effective_value(row(name).index, buf, sizeof buf);
  return buf;
}

std::map<std::string, std::string> defaults() {
  options_load();
  std::map<std::string, std::string> d;
  for (const std::string& n : all_names()) d[n] = effective(n);
  return d;
}

size_t lines(const std::string& text) { return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')); }

}  // namespace

BOOST_TEST_GLOBAL_FIXTURE(CleanEnvironment);

BOOST_AUTO_TEST_CASE(each_default_is_the_one_the_table_documents) {
  std::map<std::string, std::string> d = defaults();
  for (const std::string& name : all_names()) {
    BOOST_TEST_CONTEXT(name) {
      const std::string documented = row(name).info.default_value;
      size_t size = 0;
      if (name == "HUGESHIM_PAGES") {
        BOOST_TEST(d[name] == documented + ",base");  // base pages: the implicit last rung
      } else if (name == "HUGESHIM_RING_DIR") {
        BOOST_TEST(d[name] == "/dev/shm/hugeshim-" + std::to_string(getuid()));
      } else if (name == "HUGESHIM_PREFAULT_THREADS") {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        BOOST_TEST(d[name] == std::to_string(std::clamp(cpus, 1L, 8L)));  // 0: derived at load
      } else if (parse_size(documented.c_str(), &size) && documented != "0") {
        BOOST_TEST(d[name] == std::to_string(size));
      } else {
        BOOST_TEST(d[name] == documented);
      }
    }
  }
  BOOST_TEST(!g_options.pages_explicit);
}

BOOST_AUTO_TEST_CASE(good_values_of_every_row_apply) {
  struct Good {
    const char* name;
    std::string value;
    std::string expected;
  };
  const std::string long_dir = "/" + std::string(198, 'd');  // 199 bytes: the longest accepted
  const std::vector<Good> cases = {
      {"HUGESHIM_DISABLE", "yes", "1"},
      {"HUGESHIM_DISABLE", "Off", "0"},
      {"HUGESHIM_MIN_SIZE", "4096", "4096"},
      {"HUGESHIM_MIN_SIZE", "1g", "1073741824"},
      {"HUGESHIM_PAGES", "2MiB,1GiB", "2M,1G,base"},
      {"HUGESHIM_PAGES", "THP,base,2m", "thp,2M,base"},
      {"HUGESHIM_PAGES", "base", "base"},
      {"HUGESHIM_INTERCEPT", "none", "none"},
      {"HUGESHIM_INTERCEPT", "CUDA,malloc", "malloc,cuda"},
      {"HUGESHIM_NUMA", "interleave", "interleave"},
      {"HUGESHIM_NUMA", "1023", "1023"},
      {"HUGESHIM_NUMA", "NONE", "none"},
      {"HUGESHIM_POPULATE", "EAGER", "eager"},
      {"HUGESHIM_PREFAULT_THREADS", "256", "256"},
      {"HUGESHIM_PREFAULT_THREADS", "1", "1"},
      {"HUGESHIM_PIN", "mlock", "mlock"},
      {"HUGESHIM_REGISTER_MAX", "2MiB", "2097152"},
      {"HUGESHIM_REGISTER_MAX", "1T", "1099511627776"},
      {"HUGESHIM_PREPARE", "OFF", "off"},
      {"HUGESHIM_PREPARE", "auto", "auto"},
      {"HUGESHIM_CACHE", "0", "0"},
      {"HUGESHIM_CACHE", "1536MiB", "1610612736"},
      {"HUGESHIM_FILE_MAP", "copy", "copy"},
      {"HUGESHIM_FILE_MIN", "2M", "2097152"},
      {"HUGESHIM_ON_FALLBACK", "FAIL", "fail"},
      {"HUGESHIM_RING_DIR", "/tmp/rings", "/tmp/rings"},
      {"HUGESHIM_RING_DIR", long_dir, long_dir},
      {"HUGESHIM_RING_ROOT", "/run/hugeshim", "/run/hugeshim"},
      {"HUGESHIM_RING_ROOT", "off", "off"},
      {"HUGESHIM_RING_SLOTS", "64", "64"},
      {"HUGESHIM_RING_SLOTS", "16777216", "16777216"},
      {"HUGESHIM_RING", "off", "off"},
      {"HUGESHIM_LOG", "debug", "debug"},
      {"HUGESHIM_LOG", "OFF", "off"},
      {"HUGESHIM_CUPTI", "1", "1"},
      {"HUGESHIM_CUPTI", "off", "0"},
      {"HUGESHIM_CUPTI_MIN_BYTES", "1", "1"},
      {"HUGESHIM_CUPTI_MIN_BYTES", "1MiB", "1048576"},
      {"HUGESHIM_CUPTI_LIBRARY", "/opt/cuda/lib64/libcupti.so.13", "/opt/cuda/lib64/libcupti.so.13"},
      {"HUGESHIM_CUPTI_LIBRARY", "auto", "auto"},
  };
  for (const Good& c : cases) {
    BOOST_TEST_CONTEXT(c.name << "=" << c.value) {
      std::string err;
      {
        Env env;
        env.set(c.name, c.value);
        err = load_capturing_stderr();
      }
      BOOST_TEST(err.empty());
      BOOST_TEST(effective(c.name) == c.expected);
    }
  }
  Env env;
  env.set("HUGESHIM_PAGES", "base");
  options_load();
  BOOST_TEST(g_options.ladder_len == 0);
  BOOST_TEST(g_options.pages_explicit);  // the operator chose "no huge pages"
}

// Bad values for every row: each keeps the row's default and prints one line.
const std::map<std::string, std::vector<std::string>>& bad_values() {
  static const std::map<std::string, std::vector<std::string>> bad = {
      {"HUGESHIM_DISABLE", {"", "2", "y", "10"}},
      {"HUGESHIM_MIN_SIZE", {"", "4095", "0", "1.5M", "18446744073709551616"}},
      {"HUGESHIM_PAGES", {"", "2M,2M", "thp,,2M", ",thp", "thp,", "4K", "1G 2M"}},
      {"HUGESHIM_INTERCEPT", {"", "none,malloc", "malloc,,mmap", "mallocs", "all"}},
      {"HUGESHIM_NUMA", {"", "1024", "-1", "0x1", "auto,none"}},
      {"HUGESHIM_POPULATE", {"", "lazy ", "eagerly"}},
      {"HUGESHIM_PREFAULT_THREADS", {"", "257", "-1", "1e3", "99999999999999999999999"}},
      {"HUGESHIM_PIN", {"", "cuda", "yes"}},
      {"HUGESHIM_REGISTER_MAX", {"", "1M", "0", "2097153", "18446744073709551615"}},
      {"HUGESHIM_PREPARE", {"", "on", "1", "auto,off"}},
      {"HUGESHIM_CACHE", {"", "-1", "1X", "18446744073709551616"}},
      {"HUGESHIM_FILE_MAP", {"", "on", "copy,off"}},
      {"HUGESHIM_FILE_MIN", {"", "2097151", "1M"}},
      {"HUGESHIM_ON_FALLBACK", {"", "deny"}},
      {"HUGESHIM_RING_DIR", {"", "relative/dir", "/" + std::string(199, 'd')}},
      {"HUGESHIM_RING_ROOT", {"", "run/hugeshim", "OFF ", "/" + std::string(179, 'r')}},
      {"HUGESHIM_RING_SLOTS", {"", "32", "0", "100", "33554432", "4294967296"}},
      {"HUGESHIM_RING", {"", "maybe"}},
      {"HUGESHIM_LOG", {"", "verbose", "3"}},
      {"HUGESHIM_CUPTI", {"", "2", "cupti"}},
      {"HUGESHIM_CUPTI_MIN_BYTES", {"", "0", "64Q", "-1"}},
      {"HUGESHIM_CUPTI_LIBRARY", {"", "libcupti.so.13", "/" + std::string(255, 'c')}},
  };
  return bad;
}

BOOST_AUTO_TEST_CASE(bad_values_of_every_row_keep_the_default_with_one_line) {
  std::map<std::string, std::string> d = defaults();
  BOOST_TEST(bad_values().size() == all_names().size());  // no row without bad values
  for (const auto& [name, values] : bad_values()) {
    for (const std::string& value : values) {
      BOOST_TEST_CONTEXT(name << "='" << value << "'") {
        std::string err;
        {
          Env env;
          env.set(name, value);
          err = load_capturing_stderr();
        }
        BOOST_TEST(effective(name) == d[name]);
        BOOST_TEST(lines(err) == 1u);
        BOOST_TEST(err.find(name + "='" + value + "' is not valid") != std::string::npos, err);
        BOOST_TEST(err.find(row(name).info.accepted) != std::string::npos, err);
        BOOST_TEST(err.find(std::string("using the default ") + row(name).info.default_value) != std::string::npos,
                   err);
      }
    }
  }
  // The ladder keeps its default and stays the shim's choice, not the operator's.
  Env env;
  env.set("HUGESHIM_PAGES", "thp,bogus");
  BOOST_TEST(lines(load_capturing_stderr()) == 1u);
  BOOST_TEST(g_options.ladder_len == 3);
  BOOST_TEST(!g_options.pages_explicit);
}

// A shared ring root names the ring directory, ROOT/<euid>, unless
// HUGESHIM_RING_DIR names it; then the root is off.
BOOST_AUTO_TEST_CASE(ring_root_names_the_ring_dir_unless_ring_dir_is_set) {
  {
    Env env;
    env.set("HUGESHIM_RING_ROOT", "/run/hugeshim");
    BOOST_TEST(load_capturing_stderr().empty());
    BOOST_TEST(effective("HUGESHIM_RING_DIR") == "/run/hugeshim/" + std::to_string(geteuid()));
    BOOST_TEST(effective("HUGESHIM_RING_ROOT") == "/run/hugeshim");
  }
  {
    Env env;
    env.set("HUGESHIM_RING_ROOT", "/run/hugeshim").set("HUGESHIM_RING_DIR", "/tmp/rings");
    BOOST_TEST(load_capturing_stderr().empty());
    BOOST_TEST(effective("HUGESHIM_RING_DIR") == "/tmp/rings");
    BOOST_TEST(effective("HUGESHIM_RING_ROOT") == "off");
  }
  {
    Env env;
    env.set("HUGESHIM_RING_ROOT", "/run/hugeshim").set("HUGESHIM_RING_DIR", "relative");
    BOOST_TEST(lines(load_capturing_stderr()) == 1u);  // a bad directory: the root applies
    BOOST_TEST(effective("HUGESHIM_RING_DIR") == "/run/hugeshim/" + std::to_string(geteuid()));
  }
}

BOOST_AUTO_TEST_CASE(bad_rows_do_not_disturb_good_ones_in_the_same_environment) {
  std::map<std::string, std::string> d = defaults();
  std::string err;
  {
    Env env;
    for (const auto& [name, values] : bad_values()) env.set(name, values.back());
    err = load_capturing_stderr();
  }
  BOOST_TEST(lines(err) == all_names().size());
  for (const std::string& name : all_names()) {
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST(effective(name) == d[name]);
      BOOST_TEST(err.find(name + "='") != std::string::npos);
    }
  }
  {
    Env env;
    env.set("HUGESHIM_MIN_SIZE", "banana").set("HUGESHIM_CACHE", "1G").set("HUGESHIM_NUMA", "far");
    err = load_capturing_stderr();
  }
  BOOST_TEST(lines(err) == 2u);
  BOOST_TEST(effective("HUGESHIM_CACHE") == "1073741824");
  BOOST_TEST(effective("HUGESHIM_MIN_SIZE") == d["HUGESHIM_MIN_SIZE"]);
  BOOST_TEST(effective("HUGESHIM_NUMA") == d["HUGESHIM_NUMA"]);
  // A later load without the variables is back to the defaults.
  BOOST_TEST(defaults() == d);
}

BOOST_AUTO_TEST_CASE(a_deprecated_name_is_read_only_when_the_current_one_is_unset) {
  std::map<std::string, std::string> d = defaults();
  std::string err;
  {
    Env env;
    env.set("HUGESHIM_REGISTER_CHUNK", "4MiB");
    err = load_capturing_stderr();
  }
  BOOST_TEST(effective("HUGESHIM_REGISTER_MAX") == "4194304");
  BOOST_TEST(lines(err) == 1u);
  BOOST_TEST(err.find("HUGESHIM_REGISTER_CHUNK is deprecated: use HUGESHIM_REGISTER_MAX") != std::string::npos, err);
  {
    Env env;
    env.set("HUGESHIM_REGISTER_CHUNK", "4MiB").set("HUGESHIM_REGISTER_MAX", "8MiB");
    err = load_capturing_stderr();
  }
  BOOST_TEST(effective("HUGESHIM_REGISTER_MAX") == "8388608");
  BOOST_TEST(lines(err) == 1u);
  BOOST_TEST(err.find("HUGESHIM_REGISTER_CHUNK is deprecated and ignored") != std::string::npos, err);
  // A bad value under the old name is reported under the old name.
  {
    Env env;
    env.set("HUGESHIM_REGISTER_CHUNK", "3M");
    err = load_capturing_stderr();
  }
  BOOST_TEST(effective("HUGESHIM_REGISTER_MAX") == d["HUGESHIM_REGISTER_MAX"]);
  BOOST_TEST(lines(err) == 2u);
  BOOST_TEST(err.find("HUGESHIM_REGISTER_CHUNK='3M' is not valid") != std::string::npos, err);
}

BOOST_AUTO_TEST_CASE(parse_size_at_its_boundaries) {
  struct Good {
    const char* text;
    size_t value;
  };
  const Good good[] = {
      {"18446744073709551615", SIZE_MAX},
      {"16777215T", size_t{16777215} << 40},
      {"16777215TiB", size_t{16777215} << 40},
      {"17179869183G", size_t{17179869183} << 30},
      {"1KiB", 1024}, {"1kib", 1024}, {"1KB", 1024}, {"1kb", 1024}, {"1K", 1024}, {"1k", 1024},
      {"3b", 3}, {"3B", 3}, {"007", 7}, {"0G", 0}, {"1gIb", size_t{1} << 30},
  };
  for (const Good& g : good) {
    size_t n = 1;
    BOOST_TEST_CONTEXT(g.text) {
      BOOST_TEST(parse_size(g.text, &n));
      BOOST_TEST(n == g.value);
    }
  }
  for (const char* bad : {"18446744073709551616", "17179869184G", "18446744073709551615K", "3BiB", "3iB",
                          "1Mi", "1MiBB", "1MB ", " 1M", "+1", "0x10", "1P", "1E", "1Ki B"}) {
    size_t n = 42;
    BOOST_TEST_CONTEXT(bad) {
      BOOST_TEST(!parse_size(bad, &n));
      BOOST_TEST(n == 42u);  // untouched on failure
    }
  }
}

BOOST_AUTO_TEST_CASE(effective_values_fit_any_buffer) {
  options_load();
  size_t count = 0;
  options_table(&count);
  char buf[512];
  for (size_t i = 0; i < count; ++i) {
    option_effective_value(i, buf, sizeof buf);
    const std::string full = buf;
    BOOST_TEST_CONTEXT(row(all_names()[i]).info.name << " = " << full) {
      for (size_t len = 1; len <= full.size() + 1; ++len) {
        std::string small(len + 8, '#');
        option_effective_value(i, small.data(), len);
        const size_t written = strnlen(small.data(), len + 8);
        BOOST_TEST(written < len);  // terminated inside the buffer
        BOOST_TEST(small.compare(len, 8, std::string(8, '#')) == 0);
        BOOST_TEST(full.compare(0, written, small, 0, written) == 0);  // a prefix
      }
    }
  }
  buf[0] = 'x';
  option_effective_value(count, buf, sizeof buf);
  BOOST_TEST(buf[0] == '\0');
  buf[0] = 'x';
  option_effective_value(0, buf, 0);
  BOOST_TEST(buf[0] == 'x');
}
