// Who a ring's producer is, in the words of a fleet's metrics: the name the
// kernel gives it (comm) and, for a process in a Kubernetes pod, the pod UID
// and container ID its cgroup path carries. Read once, when the exporter
// first sees the process, so the labels of its series never change.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hugeshim::collector {

struct KubernetesIdentity {
  std::string pod_uid;       // "3f1c...-..." (dashes, as `kubectl get pod -o jsonpath={.metadata.uid}`)
  std::string container_id;  // the runtime's container ID (hex), without "containerd://"
};

// Parses the text of /proc/PID/cgroup. Recognises the kubelet's layouts:
// the systemd driver (".../kubepods-burstable-pod<uid with _>.slice/
// cri-containerd-<id>.scope", also "docker-", "crio-") and the cgroupfs
// driver (".../kubepods/burstable/pod<uid>/<id>"). Empty fields for a process
// outside a pod, or for anything that does not read as one of these.
KubernetesIdentity kubernetes_identity(std::string_view proc_cgroup);

struct ProcessIdentity {
  std::string comm;  // /proc/PID/comm; the executable's base name (cut to 15 bytes) once the process is gone
  KubernetesIdentity kubernetes;
};

// Reads comm and cgroup of the process (pid, start_ticks) while it runs;
// `exe` (from the ring header) names a process that is already gone.
ProcessIdentity read_process_identity(int32_t pid, uint64_t start_ticks, const std::string& exe);

}  // namespace hugeshim::collector
