#include "core/policy.h"

#include "hugeshim/options.h"

namespace hugeshim {

bool policy_is_large(size_t size) {
  return !g_options.disable && g_options.min_size != 0 && size >= g_options.min_size;
}

int32_t policy_host_node() {
  switch (g_options.numa) {
    case NumaMode::node: return g_options.numa_node;
    case NumaMode::interleave: return -2;
    case NumaMode::auto_:
    case NumaMode::none: break;
  }
  return -1;
}

int32_t policy_device_node(int32_t gpu_node) {
  if (g_options.numa == NumaMode::auto_) return gpu_node >= 0 ? gpu_node : -1;
  return policy_host_node();
}

}  // namespace hugeshim
