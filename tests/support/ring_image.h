// A well-formed ring segment image in memory, laid out as the producer lays
// it out: header, then `capacity` empty slots (all zero: free for lap 0, as
// sequence numbers are stored relative to the slot index), every byte real.
// Tests and the fuzz target start from it and add or break what they need.
#pragma once

#include <cstdint>
#include <vector>

#include "hugeshim/ring.h"

namespace hugeshim_test {

inline std::vector<uint64_t> ring_image(uint32_t capacity) {
  const size_t size = sizeof(hugeshim_ring_header) + size_t{capacity} * sizeof(hugeshim_ring_slot);
  std::vector<uint64_t> image(size / 8);
  auto* h = reinterpret_cast<hugeshim_ring_header*>(image.data());
  h->magic = HUGESHIM_RING_MAGIC;
  h->abi_version = HUGESHIM_RING_ABI_VERSION;
  h->header_size = sizeof(hugeshim_ring_header);
  h->slot_size = sizeof(hugeshim_ring_slot);
  h->capacity = capacity;
  h->slots_offset = sizeof(hugeshim_ring_header);
  h->segment_size = size;
  h->reserved_bytes = size;
  return image;
}

}  // namespace hugeshim_test
