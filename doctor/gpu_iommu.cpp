// NVIDIA GPUs: NUMA node (where the shim puts their pinned memory) and IOMMU
// domain type (whether every pinned page also gets an IOMMU mapping), read
// with the shim's own topology code; plus the kernel's IOMMU options.
#include "audit.h"
#include "hugeshim/events.h"

namespace hugeshim::doctor {
namespace {

std::string cmdline_text(const HostSnapshot& host) {
  std::string s;
  for (const auto& [key, value] : host.iommu_cmdline)
    s += (s.empty() ? "" : " ") + key + (value.empty() ? "" : "=" + value);
  return s;
}

// Debian/Ubuntu GRUB; docs/DOCTOR.md gives the grubby form.
constexpr const char* kPassthroughFix =
    "sed -i 's/^GRUB_CMDLINE_LINUX=\"/&iommu=pt /' /etc/default/grub && update-grub && reboot";

void audit_gpu_iommu(const HostSnapshot& host, const PciDeviceInfo& gpu, Findings& out) {
  const std::string type = hugeshim_iommu_type_name(gpu.iommu_type);
  const std::string group = gpu.iommu_group >= 0 ? " (IOMMU group " + std::to_string(gpu.iommu_group) + ")" : "";
  switch (gpu.iommu_type) {
    case HUGESHIM_IOMMU_IDENTITY:
      out.push_back({"gpu.iommu", gpu.bus_id, Severity::ok,
                     "IOMMU domain 'identity'" + group +
                         ": passthrough, pinning maps no IOMMU pages.",
                     ""});
      return;
    case HUGESHIM_IOMMU_NONE:
      out.push_back({"gpu.iommu", gpu.bus_id, Severity::ok,
                     "No IOMMU group: DMA is not translated, pinning maps no IOMMU pages.", ""});
      return;
    case HUGESHIM_IOMMU_DMA:
    case HUGESHIM_IOMMU_DMA_FQ: {
      std::string how = gpu.iommu_type == HUGESHIM_IOMMU_DMA
                            ? "strict: every unmap also waits for an IOTLB flush"
                            : "flush queue: unmaps are flushed lazily in batches";
      out.push_back({"gpu.iommu", gpu.bus_id, Severity::warn,
                     "IOMMU domain '" + type + "'" + group + ", translated (" + how +
                         "). Every pinned range is also mapped into the IOMMU, so "
                         "cudaHostRegister cost grows with the page count: huge pages cut it "
                         "up to 512x, passthrough (iommu=pt) removes it. Kernel IOMMU options: " +
                         (host.iommu_cmdline.empty() ? "none" : cmdline_text(host)) + ".",
                     kPassthroughFix});
      return;
    }
    default:
      out.push_back({"gpu.iommu", gpu.bus_id, Severity::info,
                     "IOMMU group" + group +
                         " present but its domain type is unknown (no readable "
                         "iommu_groups/N/type; kernels before 5.11 lack it).",
                     ""});
  }
}

void audit_gpu_numa(const HostSnapshot& host, const PciDeviceInfo& gpu, Findings& out) {
  const std::string cpus = gpu.local_cpus[0] ? std::string(gpu.local_cpus) : "unknown";
  if (gpu.numa_node >= 0) {
    out.push_back({"gpu.numa", gpu.bus_id, Severity::ok,
                   "NUMA node " + std::to_string(gpu.numa_node) + ", local CPUs " + cpus +
                       ": the shim places this GPU's pinned memory there.",
                   ""});
  } else if (host.numa_nodes.size() > 1) {
    out.push_back({"gpu.numa", gpu.bus_id, Severity::warn,
                   "The GPU's NUMA node is unknown (numa_node is -1) on a host with " +
                       std::to_string(host.numa_nodes.size()) +
                       " nodes (local CPUs " + cpus +
                       "): the shim cannot place pinned memory next to it. Name the node "
                       "the local CPUs belong to explicitly.",
                   "export HUGESHIM_NUMA=<NODE>"});
  } else {
    out.push_back({"gpu.numa", gpu.bus_id, Severity::ok,
                   "Single-node host: every node is the GPU's node (local CPUs " + cpus + ").",
                   ""});
  }
}

}  // namespace

void audit_gpus(const HostSnapshot& host, Findings& out) {
  if (host.gpus.empty()) {
    out.push_back({"gpu.none", "", Severity::info,
                   "No NVIDIA GPU (PCI vendor 0x10de, display or 3D controller class) under "
                   "/sys/bus/pci/devices: CUDA pinning checks do not apply and pool advice "
                   "is for the global pool.",
                   ""});
  }
  for (const auto& gpu : host.gpus) {
    audit_gpu_numa(host, gpu, out);
    audit_gpu_iommu(host, gpu, out);
  }
  out.push_back({"iommu.cmdline", "", Severity::info,
                 host.iommu_cmdline.empty()
                     ? "The kernel command line sets no IOMMU option (intel_iommu=, amd_iommu=, "
                       "iommu=, iommu.passthrough=, iommu.strict=): the kernel's build "
                       "defaults apply."
                     : "Kernel IOMMU options: " + cmdline_text(host) + ".",
                 ""});
}

}  // namespace hugeshim::doctor
