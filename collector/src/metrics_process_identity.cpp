#include "metrics_process_identity.h"

#include <fstream>
#include <sstream>
#include <vector>

#include "process_probe.h"

namespace hugeshim::collector {
namespace {

// The kernel keeps comm to TASK_COMM_LEN - 1 bytes.
constexpr size_t kCommBytes = 15;

bool all_of(std::string_view s, std::string_view allowed) {
  return !s.empty() && s.find_first_not_of(allowed) == std::string_view::npos;
}

constexpr std::string_view kHex = "0123456789abcdef";

std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    const size_t slash = path.find('/');
    if (slash != 0) out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

std::string_view strip_suffix(std::string_view s, std::string_view suffix) {
  if (s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix) s.remove_suffix(suffix.size());
  return s;
}

// "kubepods-burstable-pod1a2b_3c4d.slice" or "pod1a2b-3c4d": the UID with
// dashes (the systemd driver writes them as underscores), or "".
std::string pod_uid_of(std::string_view component) {
  component = strip_suffix(component, ".slice");
  const size_t at = component.rfind("pod");
  if (at == std::string_view::npos) return "";
  if (at != 0 && component[at - 1] != '-') return "";
  std::string uid(component.substr(at + 3));
  for (char& c : uid)
    if (c == '_') c = '-';
  return all_of(uid, "0123456789abcdef-") && uid.size() >= 8 ? uid : "";
}

// "cri-containerd-<hex>.scope", "docker-<hex>.scope", "crio-<hex>.scope" or a
// bare "<hex>": the hex ID, or "".
std::string container_id_of(std::string_view component) {
  component = strip_suffix(component, ".scope");
  const size_t dash = component.rfind('-');
  if (dash != std::string_view::npos) component.remove_prefix(dash + 1);
  return all_of(component, kHex) && component.size() >= 12 ? std::string(component) : "";
}

KubernetesIdentity from_path(std::string_view path) {
  KubernetesIdentity id;
  const std::vector<std::string_view> parts = components(path);
  bool in_kubepods = false;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].rfind("kubepods", 0) == 0) in_kubepods = true;
    if (!in_kubepods) continue;
    std::string uid = pod_uid_of(parts[i]);
    if (uid.empty()) continue;
    id.pod_uid = std::move(uid);
    if (i + 1 < parts.size()) id.container_id = container_id_of(parts[i + 1]);
  }
  return id;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

KubernetesIdentity kubernetes_identity(std::string_view proc_cgroup) {
  // One line per hierarchy, "ID:CONTROLLERS:PATH"; the unified one is "0::".
  // Every hierarchy of a pod's process carries the same pod path, so the
  // first line naming a pod decides.
  while (!proc_cgroup.empty()) {
    const size_t eol = proc_cgroup.find('\n');
    std::string_view line = proc_cgroup.substr(0, eol);
    const size_t first = line.find(':');
    const size_t second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second != std::string_view::npos) {
      KubernetesIdentity id = from_path(line.substr(second + 1));
      if (!id.pod_uid.empty()) return id;
    }
    if (eol == std::string_view::npos) break;
    proc_cgroup.remove_prefix(eol + 1);
  }
  return {};
}

ProcessIdentity read_process_identity(int32_t pid, uint64_t start_ticks, const std::string& exe) {
  ProcessIdentity id;
  const std::string proc = "/proc/" + std::to_string(pid);
  if (process_running(pid, start_ticks)) {
    id.comm = slurp(proc + "/comm");
    while (!id.comm.empty() && id.comm.back() == '\n') id.comm.pop_back();
    id.kubernetes = kubernetes_identity(slurp(proc + "/cgroup"));
    // The pid may have been reused between the two reads: believe them only
    // if the process is still the one the ring names.
    if (!process_running(pid, start_ticks)) id = {};
  }
  if (id.comm.empty()) {
    const size_t slash = exe.rfind('/');
    id.comm = exe.substr(slash == std::string::npos ? 0 : slash + 1, kCommBytes);
  }
  return id;
}

}  // namespace hugeshim::collector
