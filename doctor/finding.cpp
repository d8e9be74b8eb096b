#include "finding.h"

namespace hugeshim::doctor {

const char* severity_name(Severity s) {
  switch (s) {
    case Severity::ok: return "ok";
    case Severity::info: return "info";
    case Severity::warn: return "warn";
    case Severity::error: return "error";
  }
  return "unknown";
}

Severity worst_severity(const Findings& findings) {
  Severity worst = Severity::ok;
  for (const auto& f : findings)
    if (f.severity > worst) worst = f.severity;
  return worst;
}

int exit_status_for(Severity worst) {
  switch (worst) {
    case Severity::ok:
    case Severity::info: return 0;
    case Severity::warn: return 1;
    case Severity::error: return 2;
  }
  return 2;
}

}  // namespace hugeshim::doctor
