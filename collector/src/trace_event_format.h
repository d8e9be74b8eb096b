// The kernel's own description of its trace buffers, read from tracefs:
// events/header_page (the layout of one ring-buffer page), events/header_event
// (the record type numbers) and events/<system>/<name>/format (each event's
// id and fields), and the decoding of one event record with it. Nothing
// here assumes a layout the format files do not state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hugeshim::collector {

// events/header_page: where the page timestamp, the commit word (bytes
// written, plus the missed-events flags) and the records lie.
struct PageLayout {
  uint32_t timestamp_offset = 0, timestamp_size = 8;
  uint32_t commit_offset = 8, commit_size = 8;
  uint32_t data_offset = 16;
  uint32_t data_size = 4080;  // the page's record area (a sub-buffer minus its header)
};
std::optional<PageLayout> parse_header_page(std::string_view text);

// events/header_event: the type_len values of the 5-bit record header.
struct RecordTypes {
  uint32_t padding = 29, time_extend = 30, time_stamp = 31, data_max = 28;
};
std::optional<RecordTypes> parse_header_event(std::string_view text);

struct TraceField {
  enum class Kind {
    integer,      // 1, 2, 4 or 8 bytes, signed or not
    chars,        // char name[N]: a NUL-terminated string in place
    array,        // type name[N] of integers
    dynamic_chars,  // __data_loc / __rel_loc char[]: a string elsewhere in the record
    dynamic_array,  // __data_loc / __rel_loc <int type>[]: integers elsewhere in the record
  };
  std::string name;
  std::string type;  // as the format file spells it
  Kind kind = Kind::integer;
  uint32_t offset = 0, size = 0;
  uint32_t element_size = 0;  // arrays: bytes per element
  bool is_signed = false;
  bool relative = false;  // __rel_loc: the offset counts from the end of this field
};

struct EventFormat {
  std::string system, name;  // "kmem", "mm_page_alloc"
  uint32_t id = 0;
  // The common header every event starts with (common_type, common_pid).
  uint32_t type_offset = 0, type_size = 2;
  uint32_t pid_offset = 4, pid_size = 4;
  std::vector<TraceField> fields;  // the event's own fields (no common_*)
  std::string full_name() const { return system + ":" + name; }
};
// Parses events/<system>/<name>/format; nullopt when it is not one.
std::optional<EventFormat> parse_event_format(std::string_view text, const std::string& system);

// The event type id of a record (its common_type), or nullopt when the
// record is too short to hold one.
std::optional<uint32_t> record_type(const uint8_t* record, size_t size, const EventFormat& any);

// One event record decoded: common_pid and the own fields as a JSON
// object (integers as numbers, strings as strings, integer arrays as
// arrays). False when a field or a dynamic area lies outside the record
// (a short or damaged record): nothing is produced then.
bool decode_event(const EventFormat& format, const uint8_t* record, size_t size, int32_t* tid, std::string* json);

}  // namespace hugeshim::collector
