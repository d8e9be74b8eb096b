#include "ring_root.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace hugeshim::collector {
namespace {

// A decimal uid without sign, leading zero or overflow ("0" is root's).
bool parse_uid(const char* name, uid_t* out) {
  if (!*name || (name[0] == '0' && name[1]) || strlen(name) > 10) return false;
  unsigned long long n = 0;
  for (const char* p = name; *p; ++p) {
    if (*p < '0' || *p > '9') return false;
    n = n * 10 + static_cast<unsigned>(*p - '0');
  }
  if (n > 0xfffffffeull) return false;  // (uid_t)-1 is no user
  *out = static_cast<uid_t>(n);
  return true;
}

}  // namespace

std::vector<RingRootDirectory> ring_root_directories(const std::string& root, std::vector<std::string>* skipped) {
  int root_fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (root_fd < 0) throw std::runtime_error("cannot open ring root " + root + ": " + strerror(errno));
  std::vector<std::string> names;
  if (DIR* d = fdopendir(dup(root_fd))) {
    while (dirent* e = readdir(d))
      if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names.emplace_back(e->d_name);
    closedir(d);
  }
  auto skip = [&](const std::string& name, const std::string& why) {
    if (skipped) skipped->push_back(root + "/" + name + ": " + why);
  };
  std::vector<RingRootDirectory> found;
  for (const std::string& name : names) {
    uid_t uid;
    if (!parse_uid(name.c_str(), &uid)) {
      skip(name, "not named by a uid");
      continue;
    }
    struct stat st;
    // Looked at without following: a symlink is reported as one.
    if (fstatat(root_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone meanwhile
    if (!S_ISDIR(st.st_mode)) skip(name, S_ISLNK(st.st_mode) ? "a symlink" : "not a directory");
    else if (st.st_uid != uid) skip(name, "owned by uid " + std::to_string(st.st_uid) + ", not " + name);
    else if (st.st_mode & 077) skip(name, "open to group or others (the owner makes it 0700)");
    else found.push_back({root + "/" + name, uid});
  }
  close(root_fd);
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.uid < b.uid; });
  return found;
}

}  // namespace hugeshim::collector
