// The shared ring root (HUGESHIM_RING_ROOT): each user's shim creates and
// uses ROOT/<uid>, 0700, and refuses (telemetry off, program unharmed) a
// root or a directory another user could have prepared for it: a symlink,
// someone else's directory, one open to others, a root without the sticky
// bit. The collector expands a root into its per-UID directories, and a
// root `record --root` drains another user's rings.
#define BOOST_TEST_MODULE ring_root
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <map>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "hugeshim/ring.h"
#include "process.h"
#include "ring_root.h"

namespace fs = std::filesystem;
using hugeshim_test::Env;
using hugeshim_test::run;
using hugeshim_test::RunResult;

namespace {

// A uid no account on a test machine has.
constexpr uid_t kOtherUid = 54321;

// A shared root like /run/hugeshim: 1777 unless the test says otherwise.
class SharedRoot {
 public:
  explicit SharedRoot(mode_t mode = 01777) {
    std::string templ = (fs::temp_directory_path() / "hugeshim-root-XXXXXX").string();
    if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
    chmod(path_.c_str(), mode);
  }
  ~SharedRoot() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string own_dir() const { return path_ + "/" + std::to_string(geteuid()); }

 private:
  std::string path_;
};

// 64 MiB in one malloc: one event, so the segment outlives the process.
const std::vector<std::string> kProgram = {"/usr/bin/python3", "-c", "x = bytearray(64 << 20); print('done')"};

Env in_root(const std::string& root) {
  return hugeshim_test::with_shim({{"HUGESHIM_RING", "on"}, {"HUGESHIM_RING_ROOT", root}, {"HUGESHIM_RING_DIR", ""}});
}

std::vector<std::string> segments(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string n = e.path().filename();
    if (n.rfind(HUGESHIM_RING_FILE_PREFIX, 0) == 0) names.push_back(n);
  }
  return names;
}

// The program ran as without the shim and said why it has no telemetry.
void check_refused(const RunResult& r, const std::string& why) {
  BOOST_TEST(r.status == 0);
  BOOST_TEST(r.out == "done\n");
  BOOST_TEST(r.err.find("telemetry off") != std::string::npos, r.err);
  BOOST_TEST(r.err.find(why) != std::string::npos, r.err);
}

}  // namespace

BOOST_AUTO_TEST_CASE(shim_creates_its_own_0700_directory_under_the_root) {
  SharedRoot root;
  RunResult r = run(kProgram, in_root(root.path()));
  BOOST_TEST_REQUIRE(r.status == 0, r.err);
  BOOST_TEST(r.err.empty(), r.err);
  struct stat st;
  BOOST_REQUIRE(lstat(root.own_dir().c_str(), &st) == 0);
  BOOST_TEST(S_ISDIR(st.st_mode));
  BOOST_TEST((st.st_mode & 07777) == 0700u);
  BOOST_TEST(st.st_uid == geteuid());
  BOOST_TEST(segments(root.own_dir()).size() == 1u);
  // `hugeshim config` shows the root and the directory it leads to.
  RunResult config = run({hugeshim_test::bin_dir() + "/hugeshim", "config", "--format", "json"},
                         {{"HUGESHIM_RING_ROOT", root.path()}, {"HUGESHIM_RING_DIR", ""}});
  std::map<std::string, std::string> value;
  for (const auto& row : nlohmann::json::parse(config.out)) value[row["name"]] = row["value"];
  BOOST_TEST(value["HUGESHIM_RING_ROOT"] == root.path());
  BOOST_TEST(value["HUGESHIM_RING_DIR"] == root.own_dir());
}

BOOST_AUTO_TEST_CASE(ring_dir_wins_over_the_root) {
  SharedRoot root, dir(0700);
  Env env = in_root(root.path());
  env["HUGESHIM_RING_DIR"] = dir.path();
  RunResult r = run(kProgram, env);
  BOOST_TEST_REQUIRE(r.status == 0, r.err);
  BOOST_TEST(segments(dir.path()).size() == 1u);
  BOOST_TEST(!fs::exists(root.own_dir()));
  RunResult config = run({hugeshim_test::bin_dir() + "/hugeshim", "config"},
                         {{"HUGESHIM_RING_ROOT", root.path()}, {"HUGESHIM_RING_DIR", dir.path()}});
  BOOST_TEST(config.out.find("HUGESHIM_RING_ROOT         off") != std::string::npos, config.out);
}

BOOST_AUTO_TEST_CASE(symlink_in_place_of_the_directory_is_refused) {
  SharedRoot root, target(0700);
  fs::create_directory_symlink(target.path(), root.own_dir());
  check_refused(run(kProgram, in_root(root.path())), "cannot open ring directory");
  BOOST_TEST(segments(target.path()).empty());
}

BOOST_AUTO_TEST_CASE(symlink_as_the_root_is_refused) {
  SharedRoot holder, real;
  std::string link = holder.path() + "/root";
  fs::create_directory_symlink(real.path(), link);
  check_refused(run(kProgram, in_root(link)), "cannot open ring root");
  BOOST_TEST(!fs::exists(real.own_dir()));
}

BOOST_AUTO_TEST_CASE(directory_open_to_others_is_refused) {
  SharedRoot root;
  BOOST_REQUIRE(mkdir(root.own_dir().c_str(), 0700) == 0);
  chmod(root.own_dir().c_str(), 0755);
  check_refused(run(kProgram, in_root(root.path())), "mode 0700");
  BOOST_TEST(segments(root.own_dir()).empty());
}

BOOST_AUTO_TEST_CASE(writable_root_without_sticky_bit_is_refused) {
  SharedRoot root(0777);
  check_refused(run(kProgram, in_root(root.path())), "sticky");
  BOOST_TEST(!fs::exists(root.own_dir()));
}

BOOST_AUTO_TEST_CASE(directory_of_another_user_is_refused) {
  if (geteuid() != 0) {
    BOOST_TEST_MESSAGE("skipped: giving a directory to another user needs root");
    return;
  }
  SharedRoot root;
  BOOST_REQUIRE(mkdir(root.own_dir().c_str(), 0700) == 0);
  BOOST_REQUIRE(chown(root.own_dir().c_str(), kOtherUid, kOtherUid) == 0);
  check_refused(run(kProgram, in_root(root.path())), "must be owned by uid");
}

BOOST_AUTO_TEST_CASE(collector_expands_the_root_into_per_uid_directories) {
  if (geteuid() != 0) {
    BOOST_TEST_MESSAGE("skipped: directories of other users need root");
    return;
  }
  SharedRoot root;
  auto make = [&](const std::string& name, uid_t owner, mode_t mode) {
    std::string p = root.path() + "/" + name;
    BOOST_REQUIRE(mkdir(p.c_str(), 0700) == 0);
    BOOST_REQUIRE(chown(p.c_str(), owner, owner) == 0);
    BOOST_REQUIRE(chmod(p.c_str(), mode) == 0);
  };
  make("0", 0, 0700);
  make(std::to_string(kOtherUid), kOtherUid, 0700);
  make(std::to_string(kOtherUid + 1), kOtherUid + 1, 0750);  // open to its group
  make(std::to_string(kOtherUid + 2), kOtherUid, 0700);      // not its owner's name
  make("0123", 0, 0700);                                     // not a canonical uid
  make("scratch", 0, 0700);
  fs::create_directory_symlink(root.path() + "/0", root.path() + "/" + std::to_string(kOtherUid + 3));
  std::ofstream(root.path() + "/" + std::to_string(kOtherUid + 4)) << "a file\n";

  std::vector<std::string> skipped;
  auto dirs = hugeshim::collector::ring_root_directories(root.path(), &skipped);
  BOOST_REQUIRE(dirs.size() == 2u);
  BOOST_TEST(dirs[0].uid == 0u);
  BOOST_TEST(dirs[0].path == root.path() + "/0");
  BOOST_TEST(dirs[1].uid == kOtherUid);
  std::string all;
  for (const auto& s : skipped) all += s + "\n";
  BOOST_TEST_MESSAGE(all);
  BOOST_TEST(skipped.size() == 6u);
  for (const char* why : {"open to group or others", "owned by uid 54321, not 54323", "not named by a uid",
                          "a symlink", "not a directory"})
    BOOST_TEST(all.find(why) != std::string::npos, why);

  BOOST_CHECK_THROW(hugeshim::collector::ring_root_directories(root.path() + "/" + std::to_string(kOtherUid + 3)),
                    std::runtime_error);
}

// The node exporter's case: root drains the ring of another user's process
// from the shared root, and finishes (removes) it once drained.
BOOST_AUTO_TEST_CASE(root_records_another_users_rings_from_the_root) {
  if (geteuid() != 0) {
    BOOST_TEST_MESSAGE("skipped: running a program as another user needs root");
    return;
  }
  SharedRoot root;
  // The other user must be able to load the shim: the build tree may sit
  // below a directory only root can enter (a private temporary clone), so
  // the library is copied into a directory everyone can read.
  SharedRoot lib_dir(0755);
  const std::string shim_copy = lib_dir.path() + "/libhugeshim.so";
  fs::copy_file(hugeshim_test::shim_path(), shim_copy);
  fs::permissions(shim_copy, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                 fs::perms::others_read | fs::perms::others_exec);
  // setpriv itself runs without the shim (its ring would go to root's
  // directory); the program it starts as the other user has it.
  std::vector<std::string> as_other = {"setpriv", "--reuid=" + std::to_string(kOtherUid),
                                       "--regid=" + std::to_string(kOtherUid), "--clear-groups",
                                       "/usr/bin/env", "LD_PRELOAD=" + shim_copy};
  as_other.insert(as_other.end(), kProgram.begin(), kProgram.end());
  Env env = in_root(root.path());
  env["LD_PRELOAD"] = "";
  env["HOME"] = "/";
  RunResult producer = run(as_other, env);
  BOOST_TEST_REQUIRE(producer.status == 0, producer.err);
  std::string their_dir = root.path() + "/" + std::to_string(kOtherUid);
  BOOST_REQUIRE(segments(their_dir).size() == 1u);
  BOOST_REQUIRE(!fs::exists(root.path() + "/0"));

  SharedRoot out(0700);
  const std::string db = out.path() + "/node.db";
  const std::string hugeshim = hugeshim_test::bin_dir() + "/hugeshim";
  RunResult record = run({hugeshim, "record", "--root", root.path(), "--duration", "0.3", "-o", db});
  BOOST_TEST_REQUIRE(record.status == 0, record.err);
  BOOST_TEST(record.err.find("1 process(es)") != std::string::npos, record.err);
  RunResult report = run({hugeshim, "report", db, "--format", "json"});
  BOOST_REQUIRE(report.status == 0);
  auto j = nlohmann::json::parse(report.out);
  BOOST_REQUIRE(j["processes"].size() == 1u);
  int64_t events = 0;
  for (const auto& api : j["processes"][0]["apis"]) events += api["events"].get<int64_t>();
  BOOST_TEST(events >= 1);
  BOOST_TEST(segments(their_dir).empty());  // finished: drained and removed
}
