// HUGESHIM_CUPTI=1: the shim's one CUPTI subscriber. It loads libcupti
// (dlopen, RTLD_LOCAL; never linked), subscribes to the API callbacks of the
// copy calls with a host side, enables MEMCPY activity, and turns each
// host<->device copy of at least HUGESHIM_CUPTI_MIN_BYTES into a ring event
// (cupti/copy_join.h). Activity buffers come from mmap and are handled on
// CUPTI's own thread.
//
// When: only when asked, and only once the program has CUDA loaded: at the
// shim's load when a libcudart (or libcuda) is already there (programs
// linked against cudart), else at the first CUDA call the shim interposes
// (cudaHostAlloc & co., the driver's pinned-memory entry points), which is
// where a program that dlopens cudart (PyTorch) first meets the shim.
// Copies made before that point are not recorded (docs/CUDA.md).
//
// Failure (no libcupti, another subscriber such as Nsight Systems or
// torch.profiler, no driver or device, any CUPTI error) prints one line and
// leaves the program alone: no further CUPTI call is made.
#pragma once

namespace hugeshim {

// Starts the session when HUGESHIM_CUPTI=1 and CUDA is loaded; called at
// the end of the shim's start-up path.
void cupti_start_at_load();
// Starts the session when HUGESHIM_CUPTI=1 and it has not been tried: the
// caller is inside a CUDA call of the program, before forwarding it. One
// relaxed load once tried.
void cupti_start_from_cuda_call();
// Exit paths (before telemetry_at_exit): flushes CUPTI's buffers, waiting
// at most a bounded time, so the last copies reach the ring, and prints one
// line when copies could not be recorded.
void cupti_at_exit();
// In a fork child: the session belongs to the parent; the child has none.
void cupti_after_fork_child();

}  // namespace hugeshim
