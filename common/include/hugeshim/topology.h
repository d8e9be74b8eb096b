// GPU -> PCI -> NUMA node and IOMMU domain type, read from sysfs.
//
// Shared by the shim (CUDA pinning places memory on the GPU's node and
// records the IOMMU mode in the ring header) and by `hugeshim doctor`.
// Every read goes below `root` ("/" on a real host, a fake tree in tests).
// No exceptions, no allocation: fixed buffers, open/read/readlink and the
// getdents64 syscall only, so it is safe on any interposed path.
#pragma once

#include <cstdint>

namespace hugeshim {

// PCI vendor id of NVIDIA.
constexpr uint32_t kPciVendorNvidia = 0x10de;

// Rewrites a PCI bus id into the sysfs spelling "%04x:%02x:%02x.%x",
// lowercase. Accepts the CUDA forms "0000:1B:00.0" and "00000000:1B:00.0",
// and a bare "1b:00.0" (domain 0). Trailing whitespace is ignored. False on
// anything else (out-of-range bus, device > 0x1f, function > 7, junk), with
// out left as an empty string.
bool normalize_pci_bus_id(const char* in, char out[16]);

struct PciDeviceInfo {
  char bus_id[16];       // normalised
  int numa_node;         // -1: unknown (sysfs says -1 or cannot be read)
  uint32_t iommu_type;   // hugeshim_iommu_type (hugeshim/events.h)
  int iommu_group;       // -1: none
  char local_cpus[128];  // local_cpulist ("0-15,32-47"), truncated to fit; "" if unknown
};

// Fills *out for the device at <root>/sys/bus/pci/devices/<bus_id>. No
// iommu_group link means DMA is not translated (HUGESHIM_IOMMU_NONE); a
// group whose type file is missing or unrecognised gives
// HUGESHIM_IOMMU_UNKNOWN. False if bus_id is malformed or the device does
// not exist under root.
bool topology_pci_device(const char* root, const char* bus_id, PciDeviceInfo* out);

// Lists NVIDIA display/3D controllers (vendor 0x10de, class 0x03xxxx) under
// <root>/sys/bus/pci/devices, sorted by bus id. Writes at most `max`
// entries (the lowest bus ids when there are more) and returns how many it
// wrote; 0 when there are none or the directory cannot be read.
int topology_list_gpus(const char* root, PciDeviceInfo* out, int max);

}  // namespace hugeshim
