// The doctor's two outputs, for people (text) and for machines (JSON,
// schema documented in docs/DOCTOR.md and versioned by "schema").
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <vector>

#include "apply_settings.h"
#include "audit.h"
#include "pool_warmup.h"

namespace hugeshim::doctor {

// Bumped only when a field changes meaning or disappears; new fields may
// be added within a version.
constexpr int kJsonSchemaVersion = 1;

void print_audit_text(std::ostream& out, const HostSnapshot& host, const Findings& findings);
nlohmann::ordered_json audit_json(const HostSnapshot& host, const Findings& findings,
                          const AuditOptions& options);

void print_apply_text(std::ostream& out, const ApplyResult& result, bool dry_run);
nlohmann::ordered_json apply_json(const std::string& root, const ApplyResult& result,
                                  bool dry_run);

// --warm: the section printed after --apply's (or alone), and its JSON
// object ("warm" in the apply document, or in a document of kind "warm").
void print_warm_text(std::ostream& out, const WarmResult& result);
nlohmann::ordered_json warm_json(const WarmResult& result);

}  // namespace hugeshim::doctor
