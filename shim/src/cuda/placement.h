// Where pinned memory for the calling thread's current device should live:
// HUGESHIM_NUMA=auto asks the cudart for the device (cudaGetDevice) and its
// PCI bus id (cudaDeviceGetPCIBusId), reads the device's NUMA node and IOMMU
// domain type from sysfs, and enters the GPU into the ring header's table.
// Neither call creates a CUDA context; both run only inside a CUDA call the
// program made.
#pragma once

#include <cstdint>

#include "cuda/runtime_lookup.h"

namespace hugeshim {

struct DevicePlacement {
  int32_t numa_node = -1;  // RegionRequest::numa_node: -1 none, -2 interleave, >= 0 node
  int32_t gpu = -1;        // index in the ring header's GPU table, -1 unknown
};

// False when the runtime cannot name the current device (no driver, no
// device, a pending error): the caller must not substitute then, since the
// real call would fail the same way. Results are cached per (runtime,
// device): topology does not change while the process runs.
bool cuda_current_placement(const CudaRuntime& rt, DevicePlacement* out);

// The same for preparing a program's registration (cuda/prepare.h): only when
// the runtime has no pending error, and any error the query leaves is
// cleared, so the runtime's last error stays what it was. Unknown: -1.
int32_t cuda_quiet_device_node(const CudaRuntime& rt);

// For the driver path, which has no runtime to ask: the node of the GPUs a
// runtime of this process has named so far, when they all agree (else
// policy_device_node(-1)).
int32_t cuda_known_device_node();

}  // namespace hugeshim
