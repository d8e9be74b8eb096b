// The "kernel" part of `hugeshim report`: what the kernel did inside and
// after the shim's events, from the attribution tables (kernel_attribution.h)
// of a recording made with --kernel. Recordings without kernel tables get no
// kernel part at all, so their reports are unchanged.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>

#include "sqlite_db.h"

namespace hugeshim::collector {

// The process's kernel section: totals over its events with kernel activity
// and the `top` events that spent most time in the kernel (compaction,
// registration), each with a one-line "text" for people; null when the
// recording has no kernel tables. Attributes first (into TEMP tables of
// this connection) when the recording has kernel events but no summaries.
nlohmann::json kernel_process_report(Database& db, int64_t process_id, size_t top);
// The recording's kernel traces: events read and lost, events wanted but
// missing on the host, events attributed by window / address, not
// attributed, damaged; null without kernel tables.
nlohmann::json kernel_traces_report(Database& db);

// Text: a "kernel:" block per process (after its other sections) and one
// "kernel traces:" block for the recording. Nothing when absent.
void render_kernel_text(const nlohmann::json& process, std::ostream& out);
void render_kernel_traces_text(const nlohmann::json& report, std::ostream& out);
// CSV: when any process has a kernel section, a blank line and a second
// table (its own header) of one row per listed event.
void render_kernel_csv(const nlohmann::json& report, std::ostream& out);

}  // namespace hugeshim::collector
