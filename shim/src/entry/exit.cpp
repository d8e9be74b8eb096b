// The exported _exit and _Exit: a program (or a fork child) that leaves
// through them skips every destructor, so the telemetry segment is closed
// here, then the process ends exactly as glibc would end it. glibc's own
// exit() reaches its _exit internally, never through this symbol (its
// destructor path closes the segment instead).
#include "cupti/cupti_session.h"
#include "entry/export.h"
#include "os/os.h"
#include "telemetry/telemetry.h"

HUGESHIM_EXPORT [[noreturn]] void _exit(int status) {
  hugeshim::cupti_at_exit();
  hugeshim::telemetry_at_exit();
  hugeshim::os_exit_group(status);
}

HUGESHIM_EXPORT [[noreturn]] void _Exit(int status) {
  hugeshim::cupti_at_exit();
  hugeshim::telemetry_at_exit();
  hugeshim::os_exit_group(status);
}
