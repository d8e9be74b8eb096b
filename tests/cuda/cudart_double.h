// Control and inspection API of the CUDA runtime test double
// (cudart_double.cpp, built as libcudart.so.12 and libcudart.so.13). Tests
// drive failures through it and read back every call the double received.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {

enum cudart_double_op {
  CUDART_DOUBLE_HOST_ALLOC = 1,
  CUDART_DOUBLE_MALLOC_HOST = 2,
  CUDART_DOUBLE_FREE_HOST = 3,
  CUDART_DOUBLE_HOST_REGISTER = 4,
  CUDART_DOUBLE_HOST_UNREGISTER = 5,
  CUDART_DOUBLE_HOST_GET_FLAGS = 6,
  CUDART_DOUBLE_GET_LAST_ERROR = 7,
  CUDART_DOUBLE_PEEK_AT_LAST_ERROR = 8,
  CUDART_DOUBLE_GET_DEVICE = 9,
  CUDART_DOUBLE_PCI_BUS_ID = 10,
  CUDART_DOUBLE_GET_DEVICE_POINTER = 11,
};

struct cudart_double_call {
  int op;          // cudart_double_op
  uintptr_t ptr;   // pointer argument (or result of an allocation)
  size_t size;
  unsigned flags;
  int result;      // the cudaError_t returned
};

// The major version this copy of the double pretends to be (12 or 13).
int cudart_double_major(void);
// Calls received so far (oldest first); copies up to max into out.
size_t cudart_double_calls(struct cudart_double_call* out, size_t max);
// The nth cudaHostRegister from now (1 = the next one) fails with `error`
// and leaves it as the sticky last error, as a failed pin in the driver does.
void cudart_double_fail_register(int nth, int error);
// Every call fails with `error` from now on (0 restores), as without a driver.
void cudart_double_no_device(int error);
// What the last cudaHostRegister found on arrival, before pinning
// (range_view.h). CUDART_DOUBLE_REFUSE_REGISTER in the environment makes every
// cudaHostRegister answer 801 (cudaErrorNotSupported).
struct range_view;
void cudart_double_last_view(struct range_view* out);
// Nanoseconds the last cudaHostRegister spent inside the double (its mlock
// faults every missing page on one thread, like the driver's pin).
uint64_t cudart_double_last_register_ns(void);
}
