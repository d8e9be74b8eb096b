#include "cupti/copy_join.h"

#include <cstring>

namespace hugeshim {
namespace {

// cudaMemcpyKind.
constexpr int kCudaMemcpyHostToHost = 0;
constexpr int kCudaMemcpyHostToDevice = 1;
constexpr int kCudaMemcpyDeviceToHost = 2;
constexpr int kCudaMemcpyDeviceToDevice = 3;

// A try-lock held for a few stores: a holder is never descheduled for long,
// so a short spin settles nearly every contention; past it the caller gives up.
bool try_lock(std::atomic<uint32_t>& busy) {
  for (int i = 0; i < 64; ++i) {
    uint32_t expected = 0;
    if (busy.compare_exchange_weak(expected, 1, std::memory_order_acquire, std::memory_order_relaxed))
      return true;
    __builtin_ia32_pause();
  }
  return false;
}

void unlock(std::atomic<uint32_t>& busy) { busy.store(0, std::memory_order_release); }

uint32_t direction_of_kind(int kind) {
  if (kind == kCudaMemcpyHostToDevice) return HUGESHIM_COPY_HTOD;
  if (kind == kCudaMemcpyDeviceToHost) return HUGESHIM_COPY_DTOH;
  return HUGESHIM_COPY_UNKNOWN;  // cudaMemcpyDefault: the activity record tells
}

uint64_t span_2d(size_t pitch, size_t width, size_t height) {
  return height ? pitch * (height - 1) + width : 0;
}

bool runtime_args(uint32_t cbid, const void* params, CopyCallArgs* out) {
  switch (cbid) {
    case kCbidCudaMemcpy:
    case kCbidCudaMemcpyAsync:
    case kCbidCudaMemcpyPtds:
    case kCbidCudaMemcpyAsyncPtsz: {
      auto* p = static_cast<const CudaMemcpyParams*>(params);
      if (p->kind == kCudaMemcpyHostToHost || p->kind == kCudaMemcpyDeviceToDevice) return false;
      out->dst = reinterpret_cast<uintptr_t>(p->dst);
      out->src = reinterpret_cast<uintptr_t>(p->src);
      out->dst_span = out->src_span = out->bytes = p->count;
      out->direction = direction_of_kind(p->kind);
      return true;
    }
    case kCbidCudaMemcpy2D:
    case kCbidCudaMemcpy2DAsync:
    case kCbidCudaMemcpy2DPtds:
    case kCbidCudaMemcpy2DAsyncPtsz: {
      auto* p = static_cast<const CudaMemcpy2DParams*>(params);
      if (p->kind == kCudaMemcpyHostToHost || p->kind == kCudaMemcpyDeviceToDevice) return false;
      out->dst = reinterpret_cast<uintptr_t>(p->dst);
      out->src = reinterpret_cast<uintptr_t>(p->src);
      out->dst_span = span_2d(p->dpitch, p->width, p->height);
      out->src_span = span_2d(p->spitch, p->width, p->height);
      out->bytes = static_cast<uint64_t>(p->width) * p->height;
      out->direction = direction_of_kind(p->kind);
      return true;
    }
    default:
      return false;
  }
}

bool driver_args(uint32_t cbid, const void* params, CopyCallArgs* out) {
  switch (cbid) {
    case kCbidCuMemcpyHtoD:
    case kCbidCuMemcpyHtoDAsync:
    case kCbidCuMemcpyHtoDPtds:
    case kCbidCuMemcpyHtoDAsyncPtsz: {
      auto* p = static_cast<const CuMemcpyHtoDParams*>(params);
      out->src = reinterpret_cast<uintptr_t>(p->src_host);
      out->src_span = out->bytes = p->byte_count;
      out->direction = HUGESHIM_COPY_HTOD;
      return true;
    }
    case kCbidCuMemcpyDtoH:
    case kCbidCuMemcpyDtoHAsync:
    case kCbidCuMemcpyDtoHPtds:
    case kCbidCuMemcpyDtoHAsyncPtsz: {
      auto* p = static_cast<const CuMemcpyDtoHParams*>(params);
      out->dst = reinterpret_cast<uintptr_t>(p->dst_host);
      out->dst_span = out->bytes = p->byte_count;
      out->direction = HUGESHIM_COPY_DTOH;
      return true;
    }
    default:
      return false;
  }
}

uint32_t host_memory_of(uint8_t kind) {
  switch (kind) {
    case kCuptiMemoryPageable: return HUGESHIM_COPY_MEMORY_PAGEABLE;
    case kCuptiMemoryPinned: return HUGESHIM_COPY_MEMORY_PINNED;
    case kCuptiMemoryManaged:
    case kCuptiMemoryManagedStatic: return HUGESHIM_COPY_MEMORY_MANAGED;
    default: return HUGESHIM_COPY_MEMORY_UNKNOWN;
  }
}

}  // namespace

bool copy_call_args(uint32_t domain, uint32_t cbid, const void* params, uint32_t correlation_id,
                    CopyCallArgs* out) {
  if (!params) return false;
  *out = CopyCallArgs{};
  out->key = copy_call_key(domain, correlation_id);
  if (domain == kCuptiDomainRuntime) return runtime_args(cbid, params, out);
  if (domain == kCuptiDomainDriver) return driver_args(cbid, params, out);
  return false;
}

CopyCall copy_call_of(const CopyCallArgs& args, uint32_t tid, RegionPageFacts facts) {
  CopyCall call;
  call.key = args.key;
  call.dst = args.dst;
  call.src = args.src;
  call.tid = tid;
  // The host side is src for HtoD, dst for DtoH; for cudaMemcpyDefault
  // either may be, so both are asked (src first).
  if (args.direction != HUGESHIM_COPY_DTOH && args.src && facts(args.src, args.src_span, call.page_bytes))
    call.region_side = 1;
  else if (args.direction != HUGESHIM_COPY_HTOD && args.dst &&
           facts(args.dst, args.dst_span, call.page_bytes))
    call.region_side = 2;
  return call;
}

size_t CopyCallTable::home(uint64_t key) const {
  return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 32) & mask_;
}

CopyCallTable::Put CopyCallTable::put(const CopyCall& call) {
  const size_t h = home(call.key);
  // First a free slot; else the oldest call of the neighbourhood gives way
  // (correlation ids grow, so the smallest key of a domain is the oldest).
  Slot* oldest = nullptr;
  uint64_t oldest_key = ~0ull;
  for (size_t i = 0; i < kProbe; ++i) {
    Slot& s = slots_[(h + i) & mask_];
    if (!try_lock(s.busy)) continue;
    if (s.call.key == 0 || s.call.key == call.key) {
      s.call = call;
      unlock(s.busy);
      return Put::stored;
    }
    if (s.call.key < oldest_key) {
      oldest_key = s.call.key;
      oldest = &s;
    }
    unlock(s.busy);
  }
  if (!oldest || !try_lock(oldest->busy)) return Put::busy;
  // Between the two locks the oldest may have been taken (the slot is free
  // now) or replaced by another thread's call (which stays).
  Put result = Put::busy;
  if (oldest->call.key == 0 || oldest->call.key == oldest_key) {
    result = oldest->call.key == 0 ? Put::stored : Put::evicted;
    oldest->call = call;
  }
  unlock(oldest->busy);
  return result;
}

bool CopyCallTable::take(uint64_t key, CopyCall* out) {
  if (key == 0) return false;
  const size_t h = home(key);
  for (size_t i = 0; i < kProbe; ++i) {
    Slot& s = slots_[(h + i) & mask_];
    if (!try_lock(s.busy)) continue;
    bool hit = s.call.key == key;
    if (hit) {
      *out = s.call;
      s.call = CopyCall{};
    }
    unlock(s.busy);
    if (hit) return true;
  }
  return false;
}

JoinOutcome copy_event_of(const CuptiMemcpyRecord& record, CopyCallTable& table, uint64_t min_bytes,
                          Event* event) {
  // Both calls behind one copy may have left an entry (cudaMemcpy and the
  // driver call it made, when both domains are traced): take both.
  CopyCall runtime_call, driver_call;
  bool by_runtime = record.runtime_correlation_id &&
                    table.take(copy_call_key(kCuptiDomainRuntime, record.runtime_correlation_id), &runtime_call);
  bool by_driver = table.take(copy_call_key(kCuptiDomainDriver, record.correlation_id), &driver_call);

  uint32_t direction;
  uint8_t host_kind;
  if (record.copy_kind == kCuptiCopyHtoD) {
    direction = HUGESHIM_COPY_HTOD;
    host_kind = record.src_kind;
  } else if (record.copy_kind == kCuptiCopyDtoH) {
    direction = HUGESHIM_COPY_DTOH;
    host_kind = record.dst_kind;
  } else {
    return JoinOutcome::other_kind;
  }
  if (record.bytes < min_bytes) return JoinOutcome::below_min;

  Event ev;
  ev.api = HUGESHIM_API_CUDA_MEMCPY;
  ev.start_ns = record.start;
  ev.end_ns = record.end;
  ev.requested = record.bytes;
  ev.stream = record.stream_id;
  ev.correlation = record.runtime_correlation_id ? record.runtime_correlation_id : record.correlation_id;
  ev.copy_kind = direction;
  ev.host_memory = host_memory_of(host_kind);
  ev.tid = 0;  // unknown until joined

  const CopyCall* call = by_runtime ? &runtime_call : by_driver ? &driver_call : nullptr;
  if (call) {
    const uint8_t host_side = direction == HUGESHIM_COPY_HTOD ? 1 : 2;
    ev.address = host_side == 1 ? call->src : call->dst;
    ev.tid = call->tid;
    if (call->region_side == host_side) {
      memcpy(ev.page_bytes, call->page_bytes, sizeof ev.page_bytes);
      ev.flags |= HUGESHIM_EVENT_REDIRECTED;
    }
  }
  *event = ev;
  return call ? JoinOutcome::joined : JoinOutcome::unjoined;
}

void count_outcome(CopyJoinCounts& counts, JoinOutcome outcome) {
  std::atomic<uint64_t>* c = nullptr;
  switch (outcome) {
    case JoinOutcome::joined: c = &counts.joined; break;
    case JoinOutcome::unjoined: c = &counts.unjoined; break;
    case JoinOutcome::below_min: c = &counts.below_min; break;
    case JoinOutcome::other_kind: c = &counts.other_kind; break;
  }
  c->fetch_add(1, std::memory_order_relaxed);
}

}  // namespace hugeshim
