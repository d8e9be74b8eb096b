#include "host_files.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace hugeshim::doctor {

HostFiles::HostFiles(std::string root) : root_(std::move(root)) {
  while (!root_.empty() && root_.back() == '/') root_.pop_back();
}

std::string HostFiles::resolve(std::string_view host_path) const {
  return root_ + std::string(host_path);
}

bool HostFiles::exists(std::string_view host_path) const {
  std::error_code ec;
  return std::filesystem::exists(resolve(host_path), ec);
}

std::optional<std::string> HostFiles::read(std::string_view host_path) const {
  std::ifstream in(resolve(host_path));
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::nullopt;
  std::string s = text.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  return s;
}

std::optional<int64_t> HostFiles::read_int(std::string_view host_path) const {
  auto text = read(host_path);
  if (!text) return std::nullopt;
  int64_t v = 0;
  const char* end = text->data() + text->size();
  auto [p, ec] = std::from_chars(text->data(), end, v);
  if (ec != std::errc() || p != end) return std::nullopt;
  return v;
}

std::vector<std::string> HostFiles::list(std::string_view host_dir) const {
  std::vector<std::string> names;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(resolve(host_dir), ec), end; !ec && it != end;
       it.increment(ec))
    names.push_back(it->path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

int HostFiles::write(std::string_view host_path, std::string_view value) const {
  // O_TRUNC lets a fake tree's regular file take the new value; sysfs
  // ignores it, as it does for the shell's `>`.
  int fd = ::open(resolve(host_path).c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return errno;
  std::string line = std::string(value) + "\n";
  ssize_t n;
  do {
    n = ::write(fd, line.data(), line.size());
  } while (n < 0 && errno == EINTR);
  int err = n < 0 ? errno : (static_cast<size_t>(n) == line.size() ? 0 : EIO);
  if (::close(fd) != 0 && err == 0) err = errno;
  return err;
}

}  // namespace hugeshim::doctor
