// A recording as a Chrome trace-event document (JSON), the format the
// Perfetto UI (ui.perfetto.dev) and chrome://tracing open.
//
// Tracks: one process track per recorded pid, one thread track per tid.
// Each stored event is a complete ("X") slice on its thread, named after its
// API, with its phases as child slices: reserve, populate, lock, register;
// for a program's own registrations (cudaHostRegister, cuMemHostRegister)
// the two halves are named prepare (the shim populating the range outside
// the driver) and register (the forwarded call). The recording keeps each
// phase's duration, not its start, so children are laid end to end from the
// event's start in that order (the order the shim runs them) and clipped to
// the event's end. Counter ("C") tracks per process: bytes mapped by large
// events so far per page size, and records dropped (the recording holds the
// ring's final total only: 0 at the process's start, the total at its last
// known time). Metadata ("M") names processes and threads. Copies measured by
// CUPTI are not thread slices: they have tracks of their own (perfetto_copies.h).
//
// Timestamps and durations are microseconds (three decimals: the recording's
// nanoseconds), rebased so that the earliest process start or event is 0.
// Slices on one thread nest properly: an event that overlaps the previous
// one on its thread without lying inside it (clock skew, a damaged
// recording) goes on an extra lane of that thread, "thread N (overlap K)".
#pragma once

#include <ostream>

#include "sqlite_db.h"

namespace hugeshim::collector {

// Writes the trace document, {"traceEvents": [...], "displayTimeUnit": "ns",
// ...}, one event at a time: memory stays flat whatever the recording's size
// (SQLite sorts the events).
void write_perfetto_trace(Database& db, std::ostream& out);

}  // namespace hugeshim::collector
