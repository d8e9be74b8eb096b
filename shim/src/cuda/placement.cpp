#include "cuda/placement.h"

#include <pthread.h>

#include "core/policy.h"
#include "hugeshim/topology.h"
#include "telemetry/telemetry.h"

namespace hugeshim {
namespace {

struct DeviceEntry {
  const CudaRuntime* runtime;
  int device;
  int numa_node;  // sysfs numa_node, -1 unknown
  int gpu;
};

constexpr int kMaxDevices = 64;
DeviceEntry g_devices[kMaxDevices];
int g_device_count = 0;
pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

bool lookup(const CudaRuntime* rt, int device, DeviceEntry* out) {
  pthread_mutex_lock(&g_lock);
  bool found = false;
  for (int i = 0; i < g_device_count && !found; ++i)
    if (g_devices[i].runtime == rt && g_devices[i].device == device) {
      *out = g_devices[i];
      found = true;
    }
  pthread_mutex_unlock(&g_lock);
  return found;
}

DeviceEntry discover(const CudaRuntime& rt, int device) {
  DeviceEntry e{&rt, device, -1, -1};
  char raw[64] = {};
  char bus[16];
  PciDeviceInfo info;
  if (rt.device_get_pci_bus_id(raw, sizeof raw, device) == kCudaSuccess &&
      normalize_pci_bus_id(raw, bus)) {
    if (topology_pci_device("/", bus, &info)) {
      e.numa_node = info.numa_node;
      e.gpu = telemetry_register_gpu(bus, info.numa_node, info.iommu_type);
    } else {
      e.gpu = telemetry_register_gpu(bus, -1, HUGESHIM_IOMMU_UNKNOWN);
    }
  } else {
    rt.get_last_error();  // a failed query must not leave an error behind
  }
  pthread_mutex_lock(&g_lock);
  if (g_device_count < kMaxDevices) g_devices[g_device_count++] = e;
  pthread_mutex_unlock(&g_lock);
  return e;
}

}  // namespace

bool cuda_current_placement(const CudaRuntime& rt, DevicePlacement* out) {
  int device = -1;
  if (rt.get_device(&device) != kCudaSuccess || device < 0) return false;
  DeviceEntry e;
  if (!lookup(&rt, device, &e)) e = discover(rt, device);
  out->gpu = e.gpu;
  out->numa_node = policy_device_node(e.numa_node);
  return true;
}

int32_t cuda_quiet_device_node(const CudaRuntime& rt) {
  if (rt.peek_at_last_error() != kCudaSuccess) return policy_device_node(-1);
  DevicePlacement place;
  if (!cuda_current_placement(rt, &place)) {
    rt.get_last_error();  // it was clean before the query
    return policy_device_node(-1);
  }
  return place.numa_node;
}

int32_t cuda_known_device_node() {
  int node = -1;
  bool agree = true;
  pthread_mutex_lock(&g_lock);
  for (int i = 0; i < g_device_count; ++i) {
    if (g_devices[i].numa_node < 0) continue;
    if (node >= 0 && node != g_devices[i].numa_node) agree = false;
    node = g_devices[i].numa_node;
  }
  pthread_mutex_unlock(&g_lock);
  return policy_device_node(agree ? node : -1);
}

}  // namespace hugeshim
