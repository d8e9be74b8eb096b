// The slice of the CUPTI ABI the shim speaks, declared here so the shim
// builds without a CUDA toolkit (libcupti is dlopened, never linked). Values
// and layouts are those of CUDA 13's cupti_*.h and generated_cuda*_meta.h;
// tests/cupti/cupti_join_test.cpp checks every layout below against the real
// headers.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hugeshim {

using cupti_result = int;  // CUptiResult
constexpr cupti_result kCuptiSuccess = 0;
constexpr cupti_result kCuptiErrorMaxLimitReached = 12;  // end of a buffer's records
constexpr cupti_result kCuptiErrorMultipleSubscribers = 39;  // another tool holds CUPTI

// CUpti_CallbackDomain, CUpti_ApiCallbackSite.
constexpr uint32_t kCuptiDomainDriver = 1;
constexpr uint32_t kCuptiDomainRuntime = 2;
constexpr uint32_t kCuptiApiEnter = 0;

// CUpti_ActivityKind, CUpti_ActivityFlag.
constexpr uint32_t kCuptiActivityMemcpy = 1;
constexpr uint32_t kCuptiFlushForced = 1;

// CUpti_ActivityMemcpyKind (record.copy_kind).
constexpr uint8_t kCuptiCopyHtoD = 1;
constexpr uint8_t kCuptiCopyDtoH = 2;

// CUpti_ActivityMemoryKind (record.src_kind / dst_kind).
constexpr uint8_t kCuptiMemoryPageable = 1;
constexpr uint8_t kCuptiMemoryPinned = 2;
constexpr uint8_t kCuptiMemoryManaged = 5;
constexpr uint8_t kCuptiMemoryManagedStatic = 7;

// The runtime copy calls whose parameters name a host pointer
// (cupti_runtime_cbid.h). cudaMemcpyKind: 1 HtoD, 2 DtoH, 4 Default.
constexpr uint32_t kCbidCudaMemcpy = 31;             // cudaMemcpy_v3020
constexpr uint32_t kCbidCudaMemcpy2D = 32;           // cudaMemcpy2D_v3020
constexpr uint32_t kCbidCudaMemcpyAsync = 41;        // cudaMemcpyAsync_v3020
constexpr uint32_t kCbidCudaMemcpy2DAsync = 44;      // cudaMemcpy2DAsync_v3020
constexpr uint32_t kCbidCudaMemcpyPtds = 215;        // cudaMemcpy_ptds_v7000
constexpr uint32_t kCbidCudaMemcpy2DPtds = 216;      // cudaMemcpy2D_ptds_v7000
constexpr uint32_t kCbidCudaMemcpyAsyncPtsz = 225;   // cudaMemcpyAsync_ptsz_v7000
constexpr uint32_t kCbidCudaMemcpy2DAsyncPtsz = 228; // cudaMemcpy2DAsync_ptsz_v7000

// The driver copy calls with a host side (cupti_driver_cbid.h).
constexpr uint32_t kCbidCuMemcpyHtoD = 276;          // cuMemcpyHtoD_v2
constexpr uint32_t kCbidCuMemcpyHtoDAsync = 277;     // cuMemcpyHtoDAsync_v2
constexpr uint32_t kCbidCuMemcpyDtoH = 278;          // cuMemcpyDtoH_v2
constexpr uint32_t kCbidCuMemcpyDtoHAsync = 279;     // cuMemcpyDtoHAsync_v2
constexpr uint32_t kCbidCuMemcpyHtoDPtds = 397;      // cuMemcpyHtoD_v2_ptds
constexpr uint32_t kCbidCuMemcpyDtoHPtds = 398;      // cuMemcpyDtoH_v2_ptds
constexpr uint32_t kCbidCuMemcpyHtoDAsyncPtsz = 421; // cuMemcpyHtoDAsync_v2_ptsz
constexpr uint32_t kCbidCuMemcpyDtoHAsyncPtsz = 422; // cuMemcpyDtoHAsync_v2_ptsz

// CUpti_CallbackData: what an API callback receives (runtime and driver
// domains).
struct CuptiCallbackData {
  uint32_t callback_site;  // CUpti_ApiCallbackSite
  const char* function_name;
  const void* function_params;  // one of the *Params structs below
  void* function_return_value;
  const char* symbol_name;
  void* context;
  uint32_t context_uid;
  uint64_t* correlation_data;
  uint32_t correlation_id;
};

// The leading fields of CUPTI_ACTIVITY_KIND_MEMCPY records: common to
// CUpti_ActivityMemcpy5 and CUpti_ActivityMemcpy6 (CUDA 13), which only add
// fields after runtime_correlation_id.
struct CuptiMemcpyRecord {
  uint32_t kind;  // kCuptiActivityMemcpy
  uint8_t copy_kind;
  uint8_t src_kind;
  uint8_t dst_kind;
  uint8_t flags;
  uint64_t bytes;
  uint64_t start;  // ns, on the timestamp callback's clock
  uint64_t end;
  uint32_t device_id;
  uint32_t context_id;
  uint32_t stream_id;
  uint32_t correlation_id;          // of the driver call that issued the copy
  uint32_t runtime_correlation_id;  // of the runtime call, 0 without one
};

// Parameters of the copy calls (generated_cuda_runtime_api_meta.h,
// generated_cuda_meta.h). The _ptds/_ptsz variants share these layouts; the
// Async ones add a trailing stream the join does not read.
struct CudaMemcpyParams {
  void* dst;
  const void* src;
  size_t count;
  int kind;  // cudaMemcpyKind
};
struct CudaMemcpy2DParams {
  void* dst;
  size_t dpitch;
  const void* src;
  size_t spitch;
  size_t width;
  size_t height;
  int kind;
};
struct CuMemcpyHtoDParams {
  uint64_t dst_device;
  const void* src_host;
  size_t byte_count;
};
struct CuMemcpyDtoHParams {
  void* dst_host;
  uint64_t src_device;
  size_t byte_count;
};

using CuptiCallbackFn = void (*)(void* userdata, uint32_t domain, uint32_t cbid, const void* data);
using CuptiBufferRequestFn = void (*)(uint8_t** buffer, size_t* size, size_t* max_records);
using CuptiBufferCompleteFn = void (*)(void* context, uint32_t stream_id, uint8_t* buffer, size_t size,
                                       size_t valid_size);
using CuptiTimestampFn = uint64_t (*)();

// CUpti_SubscriberParams (cuptiSubscribe_v2, CUDA 13).
struct CuptiSubscriberParams {
  size_t struct_size;
  const char* subscriber_name;
  char* old_subscriber_name;  // filled on kCuptiErrorMultipleSubscribers
  size_t old_subscriber_size;
};

using CuptiSubscribeFn = cupti_result (*)(void** subscriber, CuptiCallbackFn callback, void* userdata);
using CuptiSubscribeV2Fn = cupti_result (*)(void** subscriber, CuptiCallbackFn callback, void* userdata,
                                            CuptiSubscriberParams* params);
using CuptiUnsubscribeFn = cupti_result (*)(void* subscriber);
using CuptiEnableCallbackFn = cupti_result (*)(uint32_t enable, void* subscriber, uint32_t domain,
                                               uint32_t cbid);
using CuptiActivityEnableFn = cupti_result (*)(uint32_t kind);
using CuptiActivityRegisterCallbacksFn = cupti_result (*)(CuptiBufferRequestFn, CuptiBufferCompleteFn);
using CuptiActivityRegisterTimestampCallbackFn = cupti_result (*)(CuptiTimestampFn);
using CuptiActivityGetNextRecordFn = cupti_result (*)(uint8_t* buffer, size_t valid_size, void** record);
using CuptiActivityGetNumDroppedRecordsFn = cupti_result (*)(void* context, uint32_t stream_id,
                                                             size_t* dropped);
using CuptiActivityFlushAllFn = cupti_result (*)(uint32_t flag);
using CuptiGetTimestampFn = cupti_result (*)(uint64_t* timestamp);
using CuptiGetResultStringFn = cupti_result (*)(cupti_result result, const char** text);

}  // namespace hugeshim
