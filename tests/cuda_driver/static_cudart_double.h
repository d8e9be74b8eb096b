// A test double of a library carrying a static cudart (as NCCL and cuBLAS
// do): it loads the driver itself and reaches the pinned-memory entry
// points either through cuGetProcAddress or through dlsym on the driver's
// handle, then runs one fixed sequence of calls, printing one line each.
#pragma once

extern "C" {

// how: "getproc" or "dlsym". Lines: "<step> rc=<CUresult> [seen=<size the
// driver received>] [ptr=<hex>]", then "wrapped=<entry points handed out
// that are not the driver's own>". Returns 0, or 1 when the driver or an
// entry point could not be found.
int static_cudart_double_run(const char* libcuda_path, const char* how);

}
