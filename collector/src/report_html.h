// `hugeshim report --format html`: one self-contained page. Everything is
// inline (styles, SVG charts drawn here, no script), and a Content Security
// Policy of default-src 'none' forbids the page any fetch, so it opens
// offline and leaks nothing when opened from a mail or a ticket.
//
// Charts, each an <svg class="chart"> with a frame in its own colour (the
// screenshot test finds the boxes by it, kChartFrameColours):
//   latency    log2 histograms per phase x page size, from the ring's exact
//              histograms (records dropped from a full ring are counted too)
//   page-mix   bytes mapped by large allocations per process, split by page size
//   fallbacks  events that did not get their first rung, by reason
//   timeline   large events per process over time, coloured by page size
// then a table of the slowest events with their callers and a per-process
// summary. Every string the traced program supplied (exe, cmdline, caller
// module) is HTML-escaped.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <string_view>

#include "sqlite_db.h"

namespace hugeshim::collector {

// Frame colours of the charts, in page order: latency, page-mix, fallbacks,
// timeline ("#rrggbb").
inline constexpr const char* kChartFrameColours[] = {"#111101", "#111102", "#111103", "#111104"};
// Colours of what the charts draw: page sizes 1G, 2M, THP, base, then fallbacks.
inline constexpr const char* kChartDataColours[] = {"#7b3294", "#1b7837", "#2166ac", "#d6604d", "#b2182b"};

// `report` is build_report()'s model of the same recording; `db` supplies
// what the model does not hold (histograms, event times).
void render_html(const nlohmann::json& report, Database& db, std::ostream& out);

// Text made safe for HTML element content and attribute values.
std::string html_escape(std::string_view text);

}  // namespace hugeshim::collector
