// A test double that exports CUDA driver names but is not the driver
// (soname libcu_names_double.so): the shim must return its own symbols.
#define DOUBLE_EXPORT extern "C" __attribute__((visibility("default")))

DOUBLE_EXPORT int cuMemHostAlloc(void**, unsigned long, unsigned) { return 999; }
DOUBLE_EXPORT int cuGetProcAddress_v2(const char*, void**, int, unsigned long, int*) { return 998; }
