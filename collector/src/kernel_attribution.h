// Kernel events joined to the shim events they belong to.
//
// A recording made with --kernel holds the kernel's tracepoint events
// (kernel_trace, kernel_events: written by the capture side) beside the
// shim's events. attribute_kernel_events() turns them into one summary row
// per shim event with kernel activity (kernel_summaries), the real begin and
// end of each compaction run (kernel_compactions) and one row per trace
// (kernel_trace_summaries). Schema and rules: docs/RING.md, "Kernel
// attribution".
//
// Rules, in the order they are tried for each kernel event:
//  1. window: the shim event of the same process whose thread (events.tid ==
//     kernel_events.tid; kernel_events.pid == processes.pid when the pid is
//     known) and time window [start_ns, end_ns] contain it; when windows of
//     one thread nest, the innermost (latest start).
//  2. address (exceptions:page_fault_user only): a fault of that process
//     whose address lies inside a live large allocation (events.address ..
//     + mapped, else requested; from the allocation's end until a release
//     event at the same address, a later allocation overlapping it, or the
//     process's exit) is a lazy touch of that region.
// Anything else is not attributed and only counted. A row whose fields are
// not a JSON object, or lack a field its event needs, is skipped and counted
// as damaged; nothing a recording holds makes this throw except SQLite
// errors.
#pragma once

#include <cstdint>
#include <string>

#include "sqlite_db.h"

namespace hugeshim::collector {

// Rebuilds kernel_summaries, kernel_compactions and kernel_trace_summaries
// in the recording from events + kernel_events, in one transaction
// (idempotent). A recording without kernel tables is left as it is.
void attribute_kernel_events(Database& db);

// For readers of a recording opened read-only (report, export): when it has
// kernel_events but no kernel_summaries (a recorder that was killed before
// attributing), builds the same tables as TEMP tables of this connection,
// which shadow nothing and vanish with it. True when summaries are then
// available (from the file or just built).
bool ensure_kernel_summaries(Database& db);

// Whether table `name` exists in the file or as a TEMP table.
bool table_exists(Database& db, const std::string& name);

// Name of a compaction end status (enum compact_result, the order of this
// kernel's compaction/mm_compaction_end format): "partial_skipped", ...;
// "status N" for a number it does not know.
std::string compaction_status_name(int64_t status);

}  // namespace hugeshim::collector
