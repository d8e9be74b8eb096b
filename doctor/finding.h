// One result of the audit: a stable id (documented in docs/DOCTOR.md), the
// subject it is about (a page size, a GPU bus id, or empty), a severity, a
// plain explanation and the exact command that fixes it.
#pragma once

#include <string>
#include <vector>

namespace hugeshim::doctor {

enum class Severity { ok = 0, info = 1, warn = 2, error = 3 };

const char* severity_name(Severity s);  // "ok", "info", "warn", "error"

struct Finding {
  std::string id;
  std::string subject;
  Severity severity = Severity::ok;
  std::string explanation;
  std::string fix;  // empty: nothing to do
};

using Findings = std::vector<Finding>;

Severity worst_severity(const Findings& findings);

// Exit status of an audit (docs/DOCTOR.md): ok and info 0, warn 1, error 2.
int exit_status_for(Severity worst);

// Exit statuses outside the audit mapping.
constexpr int kExitApplyShort = 3;   // --apply: the kernel gave less than asked
constexpr int kExitApplyFailed = 4;  // --apply: a write was refused
constexpr int kExitWarmFailed = 5;   // --warm: a page could not be faulted
constexpr int kExitUsage = 64;       // bad arguments or an unusable --root

}  // namespace hugeshim::doctor
