// Reports over a recording: builds one model (per process and API: counts,
// bytes, hugepage coverage, latency percentiles per phase and page class,
// fallbacks, drops, largest and slowest events with callers) from the SQLite
// file, then renders it as text, JSON or CSV. Copies measured by CUPTI are
// not allocations: they get their own section (report_copies.h).
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "sqlite_db.h"

namespace hugeshim::collector {

// The report model; its JSON form is the `--format json` output. Only
// processes with an id above `after_process_id` are reported (what one
// `run --append` added); 0 reports all.
//
// Text that comes from the traced program (exe, cmdline, caller_module) is
// whatever bytes it had; the model holds it as UTF-8, each invalid byte
// replaced by U+FFFD, and when there was one, the exact bytes in hex under
// the same key with "_hex" appended ("cmdline_hex"). The recording keeps the
// bytes as they were.
nlohmann::json build_report(Database& db, size_t top, int64_t after_process_id = 0);

// The `--format json` text. Any other string that is not UTF-8 (a damaged
// recording) has U+FFFD for its invalid bytes, so this never throws on
// encoding.
std::string render_json(const nlohmann::json& report);
void render_text(const nlohmann::json& report, std::ostream& out);
void render_csv(const nlohmann::json& report, std::ostream& out);

// Units for people: "64.0 MiB", "1.2 ms"; an event's caller as
// "module+0xoffset" (the raw address when the module is unknown).
std::string bytes_text(int64_t n);
std::string ns_text(uint64_t ns);
std::string caller_text(const nlohmann::json& event);

}  // namespace hugeshim::collector
