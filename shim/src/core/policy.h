// Request policy, shared by every entry family: which requests are large
// (recorded one by one, and redirected where the family allows), and on
// which NUMA node their memory should live. Reads g_options only.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hugeshim {

// At or above HUGESHIM_MIN_SIZE, with the shim enabled and its options
// loaded (before that min_size is 0 and nothing is large).
bool policy_is_large(size_t size);

// RegionRequest::numa_node for host memory (malloc family, mmap):
// HUGESHIM_NUMA=NODE gives that node, interleave -2; auto and none leave
// host memory where the kernel puts it (-1).
int32_t policy_host_node();

// The same for pinned memory serving a GPU on `gpu_node` (-1: unknown):
// auto places it on the GPU's node.
int32_t policy_device_node(int32_t gpu_node);

}  // namespace hugeshim
