// Reports over a recording: builds one model (per process and API: counts,
// bytes, hugepage coverage, latency percentiles per phase and page class,
// fallbacks, drops, largest and slowest events with callers) from the SQLite
// file, then renders it as text, JSON or CSV.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "sqlite_db.h"

namespace hugeshim::collector {

// The report model; its JSON form is the `--format json` output.
nlohmann::json build_report(Database& db, size_t top);

void render_text(const nlohmann::json& report, std::ostream& out);
void render_csv(const nlohmann::json& report, std::ostream& out);

}  // namespace hugeshim::collector
