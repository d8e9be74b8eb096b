// The CUPTI join (shim/src/cupti/copy_join.h) fed with records as CUPTI
// delivers them, built with the CUDA toolkit's own headers: the API
// callback's CUpti_CallbackData with the real *_params structs, and
// CUpti_ActivityMemcpy6 records. Also checks that the shim's ABI mirror
// (cupti/cupti_abi.h) matches those headers field by field.
#define BOOST_TEST_MODULE cupti_join
#include <boost/test/unit_test.hpp>

#include <cuda.h>
#include <cuda_runtime_api.h>
#include <cupti.h>  // with generated_cuda_meta.h and generated_cuda_runtime_api_meta.h

#include <cstddef>
#include <cstring>
#include <vector>

#include "cupti/copy_join.h"
#include "hugeshim/options.h"
#include "ring_dir.h"
#include "telemetry/telemetry.h"

using namespace hugeshim;

// ---- The ABI mirror against the real headers ------------------------------

#define SAME_OFFSET(ours, theirs, f_ours, f_theirs) \
  static_assert(offsetof(ours, f_ours) == offsetof(theirs, f_theirs), #ours "." #f_ours)
SAME_OFFSET(CuptiMemcpyRecord, CUpti_ActivityMemcpy6, kind, kind);
SAME_OFFSET(CuptiMemcpyRecord, CUpti_ActivityMemcpy6, copy_kind, copyKind);
SAME_OFFSET(CuptiMemcpyRecord, CUpti_ActivityMemcpy6, src_kind, srcKind);
SAME_OFFSET(CuptiMemcpyRecord, CUpti_ActivityMemcpy6, dst_kind, dstKind);
SAME_OFFSET(CuptiMemcpyRecord, CUpti_ActivityMemcpy6, bytes, bytes);
SAME_OFFSET(CuptiMemcpyRecord, CUpti_ActivityMemcpy6, start, start);
SAME_OFFSET(CuptiMemcpyRecord, CUpti_ActivityMemcpy6, end, end);
SAME_OFFSET(CuptiMemcpyRecord, CUpti_ActivityMemcpy6, stream_id, streamId);
SAME_OFFSET(CuptiMemcpyRecord, CUpti_ActivityMemcpy6, correlation_id, correlationId);
SAME_OFFSET(CuptiMemcpyRecord, CUpti_ActivityMemcpy6, runtime_correlation_id, runtimeCorrelationId);
static_assert(sizeof(CuptiMemcpyRecord) <= sizeof(CUpti_ActivityMemcpy6));
SAME_OFFSET(CuptiCallbackData, CUpti_CallbackData, callback_site, callbackSite);
SAME_OFFSET(CuptiCallbackData, CUpti_CallbackData, function_params, functionParams);
SAME_OFFSET(CuptiCallbackData, CUpti_CallbackData, correlation_id, correlationId);
SAME_OFFSET(CudaMemcpyParams, cudaMemcpy_v3020_params, src, src);
SAME_OFFSET(CudaMemcpyParams, cudaMemcpy_v3020_params, count, count);
SAME_OFFSET(CudaMemcpyParams, cudaMemcpy_v3020_params, kind, kind);
SAME_OFFSET(CudaMemcpyParams, cudaMemcpyAsync_ptsz_v7000_params, kind, kind);
SAME_OFFSET(CudaMemcpy2DParams, cudaMemcpy2D_v3020_params, src, src);
SAME_OFFSET(CudaMemcpy2DParams, cudaMemcpy2D_v3020_params, spitch, spitch);
SAME_OFFSET(CudaMemcpy2DParams, cudaMemcpy2D_v3020_params, height, height);
SAME_OFFSET(CudaMemcpy2DParams, cudaMemcpy2DAsync_ptsz_v7000_params, kind, kind);
SAME_OFFSET(CuMemcpyHtoDParams, cuMemcpyHtoD_v2_params, src_host, srcHost);
SAME_OFFSET(CuMemcpyHtoDParams, cuMemcpyHtoDAsync_v2_ptsz_params, byte_count, ByteCount);
SAME_OFFSET(CuMemcpyDtoHParams, cuMemcpyDtoH_v2_params, dst_host, dstHost);
SAME_OFFSET(CuMemcpyDtoHParams, cuMemcpyDtoHAsync_v2_params, byte_count, ByteCount);
SAME_OFFSET(CuptiSubscriberParams, CUpti_SubscriberParams, old_subscriber_size, oldSubscriberSize);

static_assert(kCuptiErrorMaxLimitReached == CUPTI_ERROR_MAX_LIMIT_REACHED);
static_assert(kCuptiErrorMultipleSubscribers == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED);
static_assert(kCuptiDomainDriver == CUPTI_CB_DOMAIN_DRIVER_API);
static_assert(kCuptiDomainRuntime == CUPTI_CB_DOMAIN_RUNTIME_API);
static_assert(kCuptiApiEnter == CUPTI_API_ENTER);
static_assert(kCuptiActivityMemcpy == CUPTI_ACTIVITY_KIND_MEMCPY);
static_assert(kCuptiFlushForced == CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
static_assert(kCuptiCopyHtoD == CUPTI_ACTIVITY_MEMCPY_KIND_HTOD);
static_assert(kCuptiCopyDtoH == CUPTI_ACTIVITY_MEMCPY_KIND_DTOH);
static_assert(kCuptiMemoryPageable == CUPTI_ACTIVITY_MEMORY_KIND_PAGEABLE);
static_assert(kCuptiMemoryPinned == CUPTI_ACTIVITY_MEMORY_KIND_PINNED);
static_assert(kCuptiMemoryManaged == CUPTI_ACTIVITY_MEMORY_KIND_MANAGED);
static_assert(kCuptiMemoryManagedStatic == CUPTI_ACTIVITY_MEMORY_KIND_MANAGED_STATIC);
static_assert(kCbidCudaMemcpy == CUPTI_RUNTIME_TRACE_CBID_cudaMemcpy_v3020);
static_assert(kCbidCudaMemcpy2D == CUPTI_RUNTIME_TRACE_CBID_cudaMemcpy2D_v3020);
static_assert(kCbidCudaMemcpyAsync == CUPTI_RUNTIME_TRACE_CBID_cudaMemcpyAsync_v3020);
static_assert(kCbidCudaMemcpy2DAsync == CUPTI_RUNTIME_TRACE_CBID_cudaMemcpy2DAsync_v3020);
static_assert(kCbidCudaMemcpyPtds == CUPTI_RUNTIME_TRACE_CBID_cudaMemcpy_ptds_v7000);
static_assert(kCbidCudaMemcpy2DPtds == CUPTI_RUNTIME_TRACE_CBID_cudaMemcpy2D_ptds_v7000);
static_assert(kCbidCudaMemcpyAsyncPtsz == CUPTI_RUNTIME_TRACE_CBID_cudaMemcpyAsync_ptsz_v7000);
static_assert(kCbidCudaMemcpy2DAsyncPtsz == CUPTI_RUNTIME_TRACE_CBID_cudaMemcpy2DAsync_ptsz_v7000);
static_assert(kCbidCuMemcpyHtoD == CUPTI_DRIVER_TRACE_CBID_cuMemcpyHtoD_v2);
static_assert(kCbidCuMemcpyHtoDAsync == CUPTI_DRIVER_TRACE_CBID_cuMemcpyHtoDAsync_v2);
static_assert(kCbidCuMemcpyDtoH == CUPTI_DRIVER_TRACE_CBID_cuMemcpyDtoH_v2);
static_assert(kCbidCuMemcpyDtoHAsync == CUPTI_DRIVER_TRACE_CBID_cuMemcpyDtoHAsync_v2);
static_assert(kCbidCuMemcpyHtoDPtds == CUPTI_DRIVER_TRACE_CBID_cuMemcpyHtoD_v2_ptds);
static_assert(kCbidCuMemcpyDtoHPtds == CUPTI_DRIVER_TRACE_CBID_cuMemcpyDtoH_v2_ptds);
static_assert(kCbidCuMemcpyHtoDAsyncPtsz == CUPTI_DRIVER_TRACE_CBID_cuMemcpyHtoDAsync_v2_ptsz);
static_assert(kCbidCuMemcpyDtoHAsyncPtsz == CUPTI_DRIVER_TRACE_CBID_cuMemcpyDtoHAsync_v2_ptsz);

namespace {

// ---- Recorded inputs --------------------------------------------------------

constexpr uint64_t kMin = 64 * 1024;
constexpr uintptr_t kDevice = 0x7f0000000000;     // a device address
constexpr uintptr_t kRegion = 0x200000000000;     // a "shim region": 64 MiB, 2M then base pages
constexpr uint64_t kRegionBytes = 64ull << 20;
constexpr uintptr_t kForeign = 0x10000000;        // memory the shim does not own

// Stands in for core/region.h: [kRegion, + 64 MiB) is a region whose first
// 48 MiB are 2 MiB pages and the rest base pages.
bool fake_region_facts(uintptr_t p, uint64_t len, uint64_t out[HUGESHIM_PAGE_COUNT]) {
  if (p < kRegion || p >= kRegion + kRegionBytes) return false;
  const uintptr_t split = kRegion + (48ull << 20);
  uintptr_t end = p + len;
  out[HUGESHIM_PAGE_2M] = (p < split ? (end < split ? end : split) - p : 0);
  out[HUGESHIM_PAGE_BASE] = len - out[HUGESHIM_PAGE_2M];
  return true;
}

// What the API callback receives at entry of a call.
CUpti_CallbackData callback_data(const void* params, uint32_t correlation) {
  CUpti_CallbackData cb{};
  cb.callbackSite = CUPTI_API_ENTER;
  cb.functionParams = params;
  cb.correlationId = correlation;
  return cb;
}

// A memcpy activity record as CUPTI writes it into a buffer.
CUpti_ActivityMemcpy6 activity(CUpti_ActivityMemcpyKind kind, CUpti_ActivityMemoryKind src,
                               CUpti_ActivityMemoryKind dst, uint64_t bytes, uint32_t driver_corr,
                               uint32_t runtime_corr, uint64_t start = 1000, uint64_t end = 3000,
                               uint32_t stream = 7) {
  CUpti_ActivityMemcpy6 r;
  memset(&r, 0, sizeof r);
  r.kind = CUPTI_ACTIVITY_KIND_MEMCPY;
  r.copyKind = static_cast<uint8_t>(kind);
  r.srcKind = static_cast<uint8_t>(src);
  r.dstKind = static_cast<uint8_t>(dst);
  r.bytes = bytes;
  r.start = start;
  r.end = end;
  r.deviceId = 0;
  r.contextId = 1;
  r.streamId = stream;
  r.correlationId = driver_corr;
  r.runtimeCorrelationId = runtime_corr;
  r.copyCount = 1;
  return r;
}

const CuptiMemcpyRecord& as_record(const CUpti_ActivityMemcpy6& r) {
  return *reinterpret_cast<const CuptiMemcpyRecord*>(&r);
}

// A table of `capacity` slots and what the session's API callback does.
struct Join {
  explicit Join(size_t capacity = 1024) : slots(capacity), table(slots.data(), capacity) {}
  // Returns false when the call is not one the join keeps.
  bool call(CUpti_CallbackDomain domain, uint32_t cbid, const void* params, uint32_t correlation,
            uint32_t tid = 4242, CopyCallTable::Put* put = nullptr) {
    CUpti_CallbackData cb = callback_data(params, correlation);
    auto* data = reinterpret_cast<const CuptiCallbackData*>(&cb);
    CopyCallArgs args;
    if (!copy_call_args(domain, cbid, data->function_params, data->correlation_id, &args)) return false;
    CopyCallTable::Put p = table.put(copy_call_of(args, tid, fake_region_facts));
    if (put) *put = p;
    return true;
  }
  JoinOutcome complete(const CUpti_ActivityMemcpy6& r, Event* ev) {
    return copy_event_of(as_record(r), table, kMin, ev);
  }
  std::vector<CopyCallTable::Slot> slots;
  CopyCallTable table;
};

void* ptr(uintptr_t a) { return reinterpret_cast<void*>(a); }

}  // namespace

BOOST_AUTO_TEST_CASE(runtime_copy_to_the_device_from_pageable_memory) {
  Join j;
  cudaMemcpy_v3020_params p{ptr(kDevice), ptr(kForeign), 1 << 20, cudaMemcpyHostToDevice};
  BOOST_REQUIRE(j.call(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpy_v3020, &p, 31));
  Event ev;
  auto r = activity(CUPTI_ACTIVITY_MEMCPY_KIND_HTOD, CUPTI_ACTIVITY_MEMORY_KIND_PAGEABLE,
                    CUPTI_ACTIVITY_MEMORY_KIND_DEVICE, 1 << 20, 32, 31, 5000, 9000, 13);
  BOOST_TEST(static_cast<int>(j.complete(r, &ev)) == static_cast<int>(JoinOutcome::joined));
  BOOST_TEST(ev.api == HUGESHIM_API_CUDA_MEMCPY);
  BOOST_TEST(ev.copy_kind == HUGESHIM_COPY_HTOD);
  BOOST_TEST(ev.host_memory == HUGESHIM_COPY_MEMORY_PAGEABLE);
  BOOST_TEST(ev.address == kForeign);
  BOOST_TEST(ev.requested == (1u << 20));
  BOOST_TEST(ev.start_ns == 5000u);
  BOOST_TEST(ev.end_ns == 9000u);
  BOOST_TEST(ev.stream == 13u);
  BOOST_TEST(ev.correlation == 31u);  // the runtime call's
  BOOST_TEST(ev.tid == 4242);
  BOOST_TEST(ev.flags == 0u);  // not a shim region: page sizes unknown
  for (uint64_t b : ev.page_bytes) BOOST_TEST(b == 0u);
}

BOOST_AUTO_TEST_CASE(copy_from_the_device_into_a_shim_region_carries_its_page_sizes) {
  Join j;
  // cudaMemcpyDefault: the call does not say which side is the host; the
  // activity record does (DtoH: dst).
  const uintptr_t host = kRegion + (46ull << 20);  // 2 MiB of 2M pages, then 2 MiB of base pages
  cudaMemcpyAsync_v3020_params p{ptr(host), ptr(kDevice), 4 << 20, cudaMemcpyDefault, nullptr};
  BOOST_REQUIRE(j.call(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpyAsync_v3020, &p, 40));
  Event ev;
  auto r = activity(CUPTI_ACTIVITY_MEMCPY_KIND_DTOH, CUPTI_ACTIVITY_MEMORY_KIND_DEVICE,
                    CUPTI_ACTIVITY_MEMORY_KIND_PINNED, 4 << 20, 41, 40);
  BOOST_TEST(static_cast<int>(j.complete(r, &ev)) == static_cast<int>(JoinOutcome::joined));
  BOOST_TEST(ev.copy_kind == HUGESHIM_COPY_DTOH);
  BOOST_TEST(ev.host_memory == HUGESHIM_COPY_MEMORY_PINNED);
  BOOST_TEST(ev.address == host);
  BOOST_TEST(ev.flags == static_cast<uint32_t>(HUGESHIM_EVENT_REDIRECTED));
  BOOST_TEST(ev.page_bytes[HUGESHIM_PAGE_2M] == (2u << 20));
  BOOST_TEST(ev.page_bytes[HUGESHIM_PAGE_BASE] == (2u << 20));
}

BOOST_AUTO_TEST_CASE(two_dimensional_copy_spans_pitch_times_rows) {
  Join j;
  // 16 rows of 64 KiB, host pitch 1 MiB: the host range is 15 MiB + 64 KiB,
  // starting 40 MiB into the region (so 8 MiB on 2M pages, the rest base).
  const uintptr_t host = kRegion + (40ull << 20);
  cudaMemcpy2D_v3020_params p{ptr(kDevice), 64 << 10, ptr(host), 1 << 20, 64 << 10, 16, cudaMemcpyHostToDevice};
  BOOST_REQUIRE(j.call(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpy2D_v3020, &p, 50));
  Event ev;
  auto r = activity(CUPTI_ACTIVITY_MEMCPY_KIND_HTOD, CUPTI_ACTIVITY_MEMORY_KIND_PINNED,
                    CUPTI_ACTIVITY_MEMORY_KIND_DEVICE, 1 << 20, 51, 50);
  BOOST_TEST(static_cast<int>(j.complete(r, &ev)) == static_cast<int>(JoinOutcome::joined));
  BOOST_TEST(ev.address == host);
  BOOST_TEST(ev.requested == (1u << 20));  // bytes copied, from the record
  BOOST_TEST(ev.page_bytes[HUGESHIM_PAGE_2M] == (8u << 20));
  BOOST_TEST(ev.page_bytes[HUGESHIM_PAGE_BASE] == (7u << 20) + (64u << 10));
}

BOOST_AUTO_TEST_CASE(driver_copies_join_by_the_driver_correlation_id) {
  Join j;
  cuMemcpyDtoH_v2_params d{ptr(kForeign), kDevice, 8 << 20};
  BOOST_REQUIRE(j.call(CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuMemcpyDtoH_v2, &d, 77, 99));
  cuMemcpyHtoDAsync_v2_ptsz_params h{kDevice, ptr(kRegion), 1 << 20, nullptr};
  BOOST_REQUIRE(j.call(CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuMemcpyHtoDAsync_v2_ptsz, &h, 78, 98));
  Event ev;
  // A driver call has no runtime correlation id.
  auto r = activity(CUPTI_ACTIVITY_MEMCPY_KIND_DTOH, CUPTI_ACTIVITY_MEMORY_KIND_DEVICE,
                    CUPTI_ACTIVITY_MEMORY_KIND_PAGEABLE, 8 << 20, 77, 0);
  BOOST_TEST(static_cast<int>(j.complete(r, &ev)) == static_cast<int>(JoinOutcome::joined));
  BOOST_TEST(ev.address == kForeign);
  BOOST_TEST(ev.tid == 99);
  BOOST_TEST(ev.correlation == 77u);
  r = activity(CUPTI_ACTIVITY_MEMCPY_KIND_HTOD, CUPTI_ACTIVITY_MEMORY_KIND_PINNED,
               CUPTI_ACTIVITY_MEMORY_KIND_DEVICE, 1 << 20, 78, 0);
  BOOST_TEST(static_cast<int>(j.complete(r, &ev)) == static_cast<int>(JoinOutcome::joined));
  BOOST_TEST(ev.address == kRegion);
  BOOST_TEST(ev.flags == static_cast<uint32_t>(HUGESHIM_EVENT_REDIRECTED));
  BOOST_TEST(ev.page_bytes[HUGESHIM_PAGE_2M] == (1u << 20));
}

BOOST_AUTO_TEST_CASE(a_runtime_copy_traced_in_both_domains_leaves_nothing_behind) {
  Join j;
  cudaMemcpy_v3020_params p{ptr(kDevice), ptr(kForeign), 1 << 20, cudaMemcpyHostToDevice};
  BOOST_REQUIRE(j.call(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpy_v3020, &p, 60));
  cuMemcpyHtoD_v2_params d{kDevice, ptr(kForeign), 1 << 20};
  BOOST_REQUIRE(j.call(CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuMemcpyHtoD_v2, &d, 61));
  Event ev;
  auto r = activity(CUPTI_ACTIVITY_MEMCPY_KIND_HTOD, CUPTI_ACTIVITY_MEMORY_KIND_PAGEABLE,
                    CUPTI_ACTIVITY_MEMORY_KIND_DEVICE, 1 << 20, 61, 60);
  BOOST_TEST(static_cast<int>(j.complete(r, &ev)) == static_cast<int>(JoinOutcome::joined));
  CopyCall left;
  BOOST_TEST(!j.table.take(copy_call_key(kCuptiDomainRuntime, 60), &left));
  BOOST_TEST(!j.table.take(copy_call_key(kCuptiDomainDriver, 61), &left));
}

BOOST_AUTO_TEST_CASE(records_completing_out_of_order_find_their_own_calls) {
  Join j;
  const uintptr_t hosts[] = {kForeign, kForeign + (8 << 20), kRegion};
  cudaMemcpyAsync_v3020_params params[3];
  for (int i = 0; i < 3; ++i) {
    params[i] = {ptr(kDevice), ptr(hosts[i]), 1 << 20, cudaMemcpyHostToDevice, nullptr};
    BOOST_REQUIRE(j.call(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpyAsync_v3020,
                         &params[i], 100 + i, 10 + i));
  }
  for (int i : {2, 0, 1}) {  // streams complete in their own order
    Event ev;
    auto r = activity(CUPTI_ACTIVITY_MEMCPY_KIND_HTOD, CUPTI_ACTIVITY_MEMORY_KIND_PINNED,
                      CUPTI_ACTIVITY_MEMORY_KIND_DEVICE, 1 << 20, 200 + i, 100 + i);
    BOOST_TEST(static_cast<int>(j.complete(r, &ev)) == static_cast<int>(JoinOutcome::joined));
    BOOST_TEST(ev.address == hosts[i]);
    BOOST_TEST(ev.tid == 10 + i);
  }
}

BOOST_AUTO_TEST_CASE(a_record_without_a_call_is_kept_without_a_host_address) {
  Join j;
  Event ev;
  auto r = activity(CUPTI_ACTIVITY_MEMCPY_KIND_DTOH, CUPTI_ACTIVITY_MEMORY_KIND_DEVICE,
                    CUPTI_ACTIVITY_MEMORY_KIND_MANAGED, 2 << 20, 900, 901, 10, 20, 3);
  BOOST_TEST(static_cast<int>(j.complete(r, &ev)) == static_cast<int>(JoinOutcome::unjoined));
  BOOST_TEST(ev.address == 0u);
  BOOST_TEST(ev.tid == 0);
  BOOST_TEST(ev.requested == (2u << 20));
  BOOST_TEST(ev.host_memory == HUGESHIM_COPY_MEMORY_MANAGED);
  BOOST_TEST(ev.stream == 3u);
  BOOST_TEST(ev.correlation == 901u);
  BOOST_TEST(ev.flags == 0u);
}

BOOST_AUTO_TEST_CASE(a_record_cupti_could_not_time_keeps_no_times) {
  Join j;
  Event ev;
  auto r = activity(CUPTI_ACTIVITY_MEMCPY_KIND_HTOD, CUPTI_ACTIVITY_MEMORY_KIND_PAGEABLE,
                    CUPTI_ACTIVITY_MEMORY_KIND_DEVICE, 1 << 20, 910, 911, 0, 0);
  BOOST_TEST(static_cast<int>(j.complete(r, &ev)) == static_cast<int>(JoinOutcome::unjoined));
  BOOST_TEST(ev.start_ns == 0u);
  BOOST_TEST(ev.end_ns == 0u);  // the session records it at processing time, duration 0
}

BOOST_AUTO_TEST_CASE(small_copies_are_not_recorded_and_leave_no_call_behind) {
  Join j;
  cudaMemcpy_v3020_params p{ptr(kDevice), ptr(kForeign), kMin - 1, cudaMemcpyHostToDevice};
  BOOST_REQUIRE(j.call(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpy_v3020, &p, 300));
  Event ev;
  ev.requested = 12345;  // untouched
  auto r = activity(CUPTI_ACTIVITY_MEMCPY_KIND_HTOD, CUPTI_ACTIVITY_MEMORY_KIND_PAGEABLE,
                    CUPTI_ACTIVITY_MEMORY_KIND_DEVICE, kMin - 1, 301, 300);
  BOOST_TEST(static_cast<int>(j.complete(r, &ev)) == static_cast<int>(JoinOutcome::below_min));
  BOOST_TEST(ev.requested == 12345u);
  CopyCall left;
  BOOST_TEST(!j.table.take(copy_call_key(kCuptiDomainRuntime, 300), &left));
  // Exactly the threshold is recorded.
  r = activity(CUPTI_ACTIVITY_MEMCPY_KIND_HTOD, CUPTI_ACTIVITY_MEMORY_KIND_PAGEABLE,
               CUPTI_ACTIVITY_MEMORY_KIND_DEVICE, kMin, 303, 302);
  BOOST_TEST(static_cast<int>(j.complete(r, &ev)) == static_cast<int>(JoinOutcome::unjoined));
}

BOOST_AUTO_TEST_CASE(device_to_device_and_host_to_host_copies_are_ignored) {
  Join j;
  cudaMemcpy_v3020_params dd{ptr(kDevice), ptr(kDevice + 4096), 1 << 20, cudaMemcpyDeviceToDevice};
  BOOST_TEST(!j.call(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpy_v3020, &dd, 400));
  cudaMemcpy2D_v3020_params hh{ptr(kForeign), 4096, ptr(kRegion), 4096, 4096, 512, cudaMemcpyHostToHost};
  BOOST_TEST(!j.call(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpy2D_v3020, &hh, 401));
  // Calls the join does not know (a kernel launch, a peer copy).
  cudaMemcpy_v3020_params any{ptr(kDevice), ptr(kForeign), 1 << 20, cudaMemcpyHostToDevice};
  BOOST_TEST(!j.call(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000, &any, 402));
  BOOST_TEST(!j.call(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpyPeer_v4000, &any, 403));
  Event ev;
  for (auto kind : {CUPTI_ACTIVITY_MEMCPY_KIND_DTOD, CUPTI_ACTIVITY_MEMCPY_KIND_HTOH,
                    CUPTI_ACTIVITY_MEMCPY_KIND_PTOP, CUPTI_ACTIVITY_MEMCPY_KIND_HTOA}) {
    auto r = activity(kind, CUPTI_ACTIVITY_MEMORY_KIND_DEVICE, CUPTI_ACTIVITY_MEMORY_KIND_DEVICE, 1 << 20, 404, 400);
    BOOST_TEST(static_cast<int>(j.complete(r, &ev)) == static_cast<int>(JoinOutcome::other_kind));
  }
}

BOOST_AUTO_TEST_CASE(a_full_table_evicts_the_oldest_call_whose_record_then_has_no_address) {
  Join j(CopyCallTable::kProbe);  // one neighbourhood: every key competes for the same slots
  std::vector<cudaMemcpy_v3020_params> params(CopyCallTable::kProbe + 1);
  for (size_t i = 0; i < params.size(); ++i) {
    params[i] = {ptr(kDevice), ptr(kForeign + i * (1 << 20)), 1 << 20, cudaMemcpyHostToDevice};
    CopyCallTable::Put put;
    BOOST_REQUIRE(j.call(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpy_v3020, &params[i],
                         static_cast<uint32_t>(1000 + i), 1, &put));
    const bool last = i == params.size() - 1;
    BOOST_TEST(static_cast<int>(put) ==
               static_cast<int>(last ? CopyCallTable::Put::evicted : CopyCallTable::Put::stored));
  }
  Event ev;
  // The oldest (1000) gave way.
  auto r = activity(CUPTI_ACTIVITY_MEMCPY_KIND_HTOD, CUPTI_ACTIVITY_MEMORY_KIND_PAGEABLE,
                    CUPTI_ACTIVITY_MEMORY_KIND_DEVICE, 1 << 20, 1, 1000);
  BOOST_TEST(static_cast<int>(j.complete(r, &ev)) == static_cast<int>(JoinOutcome::unjoined));
  for (size_t i = 1; i < params.size(); ++i) {
    r = activity(CUPTI_ACTIVITY_MEMCPY_KIND_HTOD, CUPTI_ACTIVITY_MEMORY_KIND_PAGEABLE,
                 CUPTI_ACTIVITY_MEMORY_KIND_DEVICE, 1 << 20, 1, static_cast<uint32_t>(1000 + i));
    BOOST_TEST(static_cast<int>(j.complete(r, &ev)) == static_cast<int>(JoinOutcome::joined), "call " << i);
    BOOST_TEST(ev.address == kForeign + i * (1 << 20));
  }
}

BOOST_AUTO_TEST_CASE(outcomes_are_counted) {
  CopyJoinCounts c;
  count_outcome(c, JoinOutcome::joined);
  count_outcome(c, JoinOutcome::joined);
  count_outcome(c, JoinOutcome::unjoined);
  count_outcome(c, JoinOutcome::below_min);
  count_outcome(c, JoinOutcome::other_kind);
  BOOST_TEST(c.joined.load() == 2u);
  BOOST_TEST(c.unjoined.load() == 1u);
  BOOST_TEST(c.below_min.load() == 1u);
  BOOST_TEST(c.other_kind.load() == 1u);
}

// The event goes through the normal telemetry path into a real ring
// segment, keeping the copy's own times, the issuing thread and the copy
// fields (ring.h's contract for api cudaMemcpy), and the per-API counters
// count it.
BOOST_AUTO_TEST_CASE(a_copy_event_reaches_the_ring_as_the_contract_says) {
  hugeshim_test::RingDir ring;
  setenv("HUGESHIM_RING_DIR", ring.path().c_str(), 1);
  setenv("HUGESHIM_RING_SLOTS", "64", 1);
  options_load();
  telemetry_init();
  Join j;
  const uintptr_t host = kRegion + (47ull << 20);
  cudaMemcpyAsync_v3020_params p{ptr(kDevice), ptr(host), 2 << 20, cudaMemcpyHostToDevice, nullptr};
  BOOST_REQUIRE(j.call(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpyAsync_v3020, &p, 500, 31337));
  Event ev;
  auto r = activity(CUPTI_ACTIVITY_MEMCPY_KIND_HTOD, CUPTI_ACTIVITY_MEMORY_KIND_PINNED,
                    CUPTI_ACTIVITY_MEMORY_KIND_DEVICE, 2 << 20, 501, 500, 111000, 151000, 21);
  BOOST_REQUIRE(static_cast<int>(j.complete(r, &ev)) == static_cast<int>(JoinOutcome::joined));
  telemetry_emit(ev);
  telemetry_at_exit();
  hugeshim_test::RingContents c = ring.drain();
  unsetenv("HUGESHIM_RING_DIR");
  unsetenv("HUGESHIM_RING_SLOTS");
  BOOST_REQUIRE_EQUAL(c.records.size(), 1u);
  const hugeshim_ring_record& rec = c.records[0];
  BOOST_TEST(rec.api == HUGESHIM_API_CUDA_MEMCPY);
  BOOST_TEST(rec.start_ns == 111000u);
  BOOST_TEST(rec.end_ns == 151000u);
  BOOST_TEST(rec.tid == 31337u);
  BOOST_TEST(rec.address == host);
  BOOST_TEST(rec.requested == (2u << 20));
  BOOST_TEST(rec.stream == 21u);
  BOOST_TEST(rec.correlation == 500u);
  BOOST_TEST(rec.copy_kind == HUGESHIM_COPY_HTOD);
  BOOST_TEST(rec.host_memory == HUGESHIM_COPY_MEMORY_PINNED);
  BOOST_TEST(rec.flags == static_cast<uint32_t>(HUGESHIM_EVENT_REDIRECTED));
  BOOST_TEST(rec.page_bytes[HUGESHIM_PAGE_2M] == (1u << 20));
  BOOST_TEST(rec.page_bytes[HUGESHIM_PAGE_BASE] == (1u << 20));
  BOOST_TEST(rec.mapped == 0u);
  for (uint64_t phase : rec.phase_ns) BOOST_TEST(phase == 0u);
  BOOST_TEST(c.counters[HUGESHIM_API_CUDA_MEMCPY].events == 1u);
  BOOST_TEST(c.counters[HUGESHIM_API_CUDA_MEMCPY].bytes_requested == (2u << 20));
}
