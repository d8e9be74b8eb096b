// libFuzzer target over the collector's ring reader: whatever the bytes,
// validation, identity/totals extraction and draining must neither crash,
// nor read out of bounds, nor loop unboundedly (ASan + UBSan watch).
//
// The first input byte picks the mode: even -> the rest is a raw segment
// image; odd -> the rest is a list of (offset, 8-byte value) patches applied
// to a well-formed 64-slot segment holding a few published records, which
// reaches the draining code much faster than raw bytes would.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "ring_image.h"
#include "ring_reader.h"

using namespace hugeshim::collector;

namespace {

constexpr uint32_t kTemplateSlots = 64;

std::vector<uint64_t> template_image() {
  std::vector<uint64_t> image = hugeshim_test::ring_image(kTemplateSlots);
  auto* h = reinterpret_cast<hugeshim_ring_header*>(image.data());
  h->cmdline_bytes = 4;
  memcpy(h->cmdline, "a\0b\0", 4);
  h->config_bytes = 8;
  memcpy(h->config, "A=1\nB=2\n", 8);
  h->gpu_count = 1;
  h->gpus[0].valid = 1;
  auto* slots = reinterpret_cast<hugeshim_ring_slot*>(h + 1);
  for (uint32_t i = 0; i < 5; ++i) {  // five published records
    slots[i].record.api = i;
    slots[i].record.gpu = -1;
    slots[i].seq = 1;  // published for position i (relative to the index)
  }
  h->enqueue_pos = 5;
  return image;
}

void exercise(void* base, size_t size) {
  std::string why;
  bool pending = false;
  auto view = RingView::validate(base, size, &why, &pending);
  if (!view) {
    if (why.empty()) __builtin_trap();  // every rejection must say why
    return;
  }
  RingIdentity id = view->identity();
  RingTotals totals = view->totals();
  (void)totals;
  std::vector<DrainedSlot> out(id.capacity);
  for (bool gone : {false, true}) {
    size_t n = view->peek(out.data(), out.size(), gone);
    if (n > id.capacity) __builtin_trap();
    for (size_t i = 0; i < n; ++i)
      if (out[i].kind == DrainedSlot::Kind::record && record_defect(out[i].record)) __builtin_trap();
    view->release(n);
    if (view->backlog() > id.capacity) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if ((data[0] & 1) == 0) {
    std::vector<uint64_t> image((size - 1 + 7) / 8 + 1);
    memcpy(image.data(), data + 1, size - 1);
    exercise(image.data(), size - 1);
    return 0;
  }
  static const std::vector<uint64_t> pristine = template_image();
  std::vector<uint64_t> image = pristine;
  const size_t bytes = image.size() * 8;
  for (size_t at = 1; at + 10 <= size; at += 10) {
    uint16_t offset;
    memcpy(&offset, data + at, 2);
    const size_t where = (size_t{offset} * 8) % bytes;  // 8-byte aligned patch
    memcpy(reinterpret_cast<char*>(image.data()) + where, data + at + 2, 8);
  }
  exercise(image.data(), bytes);
  return 0;
}
