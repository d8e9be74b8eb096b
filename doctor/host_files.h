// Every file the doctor reads or writes, addressed by its path on the
// audited host ("/proc/meminfo") and resolved below one root directory
// ("/" on a real host, a fake sysfs/procfs tree in tests). Fix commands and
// reports name host paths; only this class knows about the root.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hugeshim::doctor {

class HostFiles {
 public:
  explicit HostFiles(std::string root);
  virtual ~HostFiles() = default;

  const std::string& root() const { return root_; }
  // True when the root is the running system, so process-level facts
  // (getrlimit, euid) describe the audited host.
  bool is_live_host() const { return root_.empty(); }

  std::string resolve(std::string_view host_path) const;
  bool exists(std::string_view host_path) const;
  // File contents with trailing whitespace removed; nullopt if unreadable.
  std::optional<std::string> read(std::string_view host_path) const;
  // A decimal integer file; nullopt if unreadable or not a number.
  std::optional<int64_t> read_int(std::string_view host_path) const;
  // Entry names of a directory, sorted; empty if unreadable.
  std::vector<std::string> list(std::string_view host_dir) const;
  // Writes value (as `echo value > path` does). Returns 0 or an errno.
  // Blocks as long as the kernel takes, e.g. while it reserves pages.
  // Virtual so tests can play a kernel that gives fewer pages than asked.
  virtual int write(std::string_view host_path, std::string_view value) const;

 private:
  std::string root_;  // without trailing slash; "" for "/"
};

}  // namespace hugeshim::doctor
