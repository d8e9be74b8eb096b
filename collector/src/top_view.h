// What `hugeshim top` shows: one row per ring segment, computed from two
// directory samples (rates need an interval), sorted by a key, rendered as
// a plain-text frame that fits a terminal's width and height.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "top_sampler.h"

namespace hugeshim::collector {

enum class TopSortKey { rate, events, bytes, populate, register_time, fallbacks, drops, pid };

struct TopSortKeyInfo {
  TopSortKey key;
  const char* name;  // --sort value
  char letter;       // interactive key
};
inline constexpr TopSortKeyInfo kTopSortKeys[] = {
    {TopSortKey::rate, "rate", 'a'},          {TopSortKey::events, "events", 'e'},
    {TopSortKey::bytes, "bytes", 'b'},        {TopSortKey::populate, "populate", 'p'},
    {TopSortKey::register_time, "register", 'r'}, {TopSortKey::fallbacks, "fallbacks", 'f'},
    {TopSortKey::drops, "drops", 'd'},        {TopSortKey::pid, "pid", 'n'}};

std::optional<TopSortKey> top_sort_key_named(const std::string& name);
std::optional<TopSortKey> top_sort_key_of_letter(char letter);
const char* top_sort_key_name(TopSortKey key);

struct TopRow {
  int32_t pid = 0;
  std::string state;
  std::string exe;
  std::optional<double> allocations_per_s;  // none without an earlier sample of the segment
  uint64_t allocations = 0;                 // large allocating events (frees, unmaps, unregistrations excluded)
  uint64_t bytes[4] = {};                   // mapped by them, per page class (1G, 2M, THP, base)
  uint64_t populate_ns = 0;                 // time in the populate phase (registrations: prepare)
  uint64_t register_ns = 0;                 // time in the register phase
  uint64_t fallbacks = 0;                   // events that did not get their first rung
  uint64_t drops = 0;                       // records dropped by a full ring (counters stay exact)
};

// Rows of `now`; `before` (may be null) supplies the rates, matched by segment.
std::vector<TopRow> top_rows(const DirectorySample& now, const DirectorySample* before);
void sort_top_rows(std::vector<TopRow>& rows, TopSortKey key);

// The frame: a header line, a column line, then as many rows as fit in
// `height` lines (0: all), each cut to `width` columns (0: no limit).
std::string render_top_frame(const std::vector<TopRow>& rows, TopSortKey key, const std::string& dir,
                             size_t refused, unsigned width, unsigned height);

}  // namespace hugeshim::collector
