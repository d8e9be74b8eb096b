#include "trace_event_format.h"

#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>

namespace hugeshim::collector {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool to_u32(std::string_view s, uint32_t* out) {
  s = trim(s);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

// The value after "key:" up to the next ';' in a field line.
std::optional<std::string_view> attribute(std::string_view line, std::string_view key) {
  size_t at = 0;
  while ((at = line.find(key, at)) != std::string_view::npos) {
    // Whole word: at the start or after a separator.
    if (at == 0 || line[at - 1] == '\t' || line[at - 1] == ' ' || line[at - 1] == ';') {
      size_t colon = at + key.size();
      if (colon < line.size() && line[colon] == ':') {
        size_t end = line.find(';', colon);
        if (end == std::string_view::npos) return std::nullopt;
        return line.substr(colon + 1, end - colon - 1);
      }
    }
    at += key.size();
  }
  return std::nullopt;
}

// Bytes per element of an integer type name as tracefs spells it.
uint32_t integer_size(std::string_view type) {
  for (std::string_view q : {"const ", "unsigned ", "signed ", "__"}) {
    while (type.substr(0, q.size()) == q) type.remove_prefix(q.size());
  }
  if (type == "u8" || type == "s8" || type == "char" || type == "bool" || type == "uint8_t" || type == "int8_t") return 1;
  if (type == "u16" || type == "s16" || type == "short" || type == "uint16_t" || type == "int16_t") return 2;
  if (type == "u32" || type == "s32" || type == "int" || type == "uint32_t" || type == "int32_t" || type == "pid_t" ||
      type == "gfp_t")
    return 4;
  if (type == "u64" || type == "s64" || type == "long" || type == "long long" || type == "uint64_t" ||
      type == "int64_t" || type == "size_t" || type == "ssize_t" || type == "dma_addr_t" || type == "phys_addr_t")
    return 8;
  return 0;
}

bool is_unsigned_type(std::string_view type) {
  return type.find("unsigned") != std::string_view::npos || type.find("u8") == 0 || type.find("u16") == 0 ||
         type.find("u32") == 0 || type.find("u64") == 0 || type.find("size_t") == 0 || type.find("dma_addr_t") == 0 ||
         type.find("phys_addr_t") == 0 || type == "bool";
}

// One "field:<declaration>;\toffset:N;\tsize:N;\tsigned:N;" line.
std::optional<TraceField> parse_field(std::string_view line) {
  auto decl = attribute(line, "field");
  auto offset = attribute(line, "offset");
  auto size = attribute(line, "size");
  if (!decl || !offset || !size) return std::nullopt;
  TraceField f;
  if (!to_u32(*offset, &f.offset) || !to_u32(*size, &f.size)) return std::nullopt;
  if (auto sgn = attribute(line, "signed")) f.is_signed = trim(*sgn) == "1";
  std::string_view d = trim(*decl);
  const size_t space = d.find_last_of(" \t");
  if (space == std::string_view::npos) return std::nullopt;
  std::string_view name = d.substr(space + 1), type = trim(d.substr(0, space));
  if (name.empty()) return std::nullopt;
  f.type = std::string(type);
  const bool data_loc = type.substr(0, 10) == "__data_loc", rel_loc = type.substr(0, 9) == "__rel_loc";
  if (data_loc || rel_loc) {
    f.relative = rel_loc;
    std::string_view element = trim(type.substr(rel_loc ? 9 : 10));
    if (element.size() >= 2 && element.substr(element.size() - 2) == "[]") element = trim(element.substr(0, element.size() - 2));
    if (element == "char") {
      f.kind = TraceField::Kind::dynamic_chars;
      f.element_size = 1;
    } else {
      f.kind = TraceField::Kind::dynamic_array;
      f.element_size = integer_size(element);
      if (f.element_size == 0) f.element_size = 1;
      f.is_signed = !is_unsigned_type(element);
    }
  } else if (const size_t bracket = name.find('['); bracket != std::string_view::npos) {
    uint32_t count = 0;
    const size_t close = name.find(']', bracket);
    const bool counted = close != std::string_view::npos && to_u32(name.substr(bracket + 1, close - bracket - 1), &count);
    std::string_view element = type;
    name = name.substr(0, bracket);
    if (element == "char" || element == "unsigned char" || element == "const char") {
      f.kind = TraceField::Kind::chars;
      f.element_size = 1;
    } else {
      f.kind = TraceField::Kind::array;
      f.element_size = counted && count > 0 && f.size % count == 0 ? f.size / count : 1;
      f.is_signed = !is_unsigned_type(element);
    }
  } else if (f.size == 1 || f.size == 2 || f.size == 4 || f.size == 8) {
    f.kind = TraceField::Kind::integer;
  } else {
    f.kind = TraceField::Kind::array;  // an integer the decoder cannot hold: its bytes
    f.element_size = 1;
  }
  f.name = std::string(name);
  return f;
}

uint64_t read_unsigned(const uint8_t* p, uint32_t size) {
  uint64_t v = 0;
  switch (size) {
    case 1: return p[0];
    case 2: { uint16_t x; memcpy(&x, p, 2); return x; }
    case 4: { uint32_t x; memcpy(&x, p, 4); return x; }
    case 8: memcpy(&v, p, 8); return v;
  }
  return 0;
}

int64_t read_signed(const uint8_t* p, uint32_t size) {
  switch (size) {
    case 1: return static_cast<int8_t>(p[0]);
    case 2: { int16_t x; memcpy(&x, p, 2); return x; }
    case 4: { int32_t x; memcpy(&x, p, 4); return x; }
    case 8: { int64_t x; memcpy(&x, p, 8); return x; }
  }
  return 0;
}

nlohmann::json integer(const uint8_t* p, uint32_t size, bool is_signed) {
  if (is_signed) return read_signed(p, size);
  return read_unsigned(p, size);
}

nlohmann::json integers(const uint8_t* p, uint32_t bytes, uint32_t element_size, bool is_signed) {
  nlohmann::json a = nlohmann::json::array();
  if (element_size != 1 && element_size != 2 && element_size != 4 && element_size != 8) element_size = 1;
  for (uint32_t at = 0; at + element_size <= bytes; at += element_size) a.push_back(integer(p + at, element_size, is_signed));
  return a;
}

std::string chars(const uint8_t* p, uint32_t size) {
  const void* nul = memchr(p, 0, size);
  return std::string(reinterpret_cast<const char*>(p), nul ? static_cast<const uint8_t*>(nul) - p : size);
}

}  // namespace

std::optional<PageLayout> parse_header_page(std::string_view text) {
  PageLayout layout;
  bool timestamp = false, commit = false, data = false;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    auto f = parse_field(line);
    if (!f) continue;
    if (f->name == "timestamp") {
      layout.timestamp_offset = f->offset, layout.timestamp_size = f->size, timestamp = true;
    } else if (f->name == "commit") {
      layout.commit_offset = f->offset, layout.commit_size = f->size, commit = true;
    } else if (f->name == "data") {
      layout.data_offset = f->offset, layout.data_size = f->size, data = true;
    }
  }
  if (!timestamp || !commit || !data || layout.timestamp_size != 8 ||
      (layout.commit_size != 4 && layout.commit_size != 8) || layout.data_offset < layout.commit_offset + layout.commit_size)
    return std::nullopt;
  return layout;
}

std::optional<RecordTypes> parse_header_event(std::string_view text) {
  // "\tpadding     : type == 29" and "\tdata max type_len  == 28".
  auto number_after = [&](std::string_view key) -> std::optional<uint32_t> {
    const size_t at = text.find(key);
    if (at == std::string_view::npos) return std::nullopt;
    const size_t eq = text.find("==", at);
    const size_t end = text.find('\n', at);
    if (eq == std::string_view::npos || (end != std::string_view::npos && eq > end)) return std::nullopt;
    uint32_t v;
    if (!to_u32(text.substr(eq + 2, (end == std::string_view::npos ? text.size() : end) - eq - 2), &v)) return std::nullopt;
    return v;
  };
  auto padding = number_after("padding"), extend = number_after("time_extend"), stamp = number_after("time_stamp"),
       data_max = number_after("data max type_len");
  if (!padding || !extend || !stamp || !data_max) return std::nullopt;
  // The decoder knows the one header layout: a 5-bit type_len and a 27-bit delta.
  if (text.find("5 bits") == std::string_view::npos || text.find("27 bits") == std::string_view::npos)
    return std::nullopt;
  RecordTypes t{*padding, *extend, *stamp, *data_max};
  if (t.data_max >= 32 || t.padding >= 32 || t.time_extend >= 32 || t.time_stamp >= 32) return std::nullopt;
  return t;
}

std::optional<EventFormat> parse_event_format(std::string_view text, const std::string& system) {
  EventFormat e;
  e.system = system;
  bool have_id = false, have_name = false, have_type = false, have_pid = false;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (line.substr(0, 5) == "name:") {
      e.name = std::string(trim(line.substr(5)));
      have_name = !e.name.empty();
    } else if (line.substr(0, 3) == "ID:") {
      have_id = to_u32(line.substr(3), &e.id);
    } else if (line.substr(0, 12) == "print fmt: ") {
      break;
    } else if (auto f = parse_field(line)) {
      if (f->name == "common_type") {
        e.type_offset = f->offset, e.type_size = f->size, have_type = f->size == 2 || f->size == 4;
      } else if (f->name == "common_pid") {
        e.pid_offset = f->offset, e.pid_size = f->size, have_pid = f->size == 4;
      } else if (f->name.substr(0, 7) != "common_") {
        e.fields.push_back(std::move(*f));
      }
    }
  }
  if (!have_id || !have_name || !have_type || !have_pid) return std::nullopt;
  return e;
}

std::optional<uint32_t> record_type(const uint8_t* record, size_t size, const EventFormat& any) {
  if (size < size_t{any.type_offset} + any.type_size) return std::nullopt;
  return static_cast<uint32_t>(read_unsigned(record + any.type_offset, any.type_size));
}

bool decode_event(const EventFormat& format, const uint8_t* record, size_t size, int32_t* tid, std::string* json) {
  if (size < size_t{format.pid_offset} + format.pid_size) return false;
  *tid = static_cast<int32_t>(read_signed(record + format.pid_offset, format.pid_size));
  nlohmann::json fields = nlohmann::json::object();
  for (const TraceField& f : format.fields) {
    if (size_t{f.offset} + f.size > size) return false;
    const uint8_t* p = record + f.offset;
    switch (f.kind) {
      case TraceField::Kind::integer:
        fields[f.name] = integer(p, f.size, f.is_signed);
        break;
      case TraceField::Kind::chars:
        fields[f.name] = chars(p, f.size);
        break;
      case TraceField::Kind::array:
        fields[f.name] = integers(p, f.size, f.element_size, f.is_signed);
        break;
      case TraceField::Kind::dynamic_chars:
      case TraceField::Kind::dynamic_array: {
        if (f.size != 4) return false;
        // Offset in the low 16 bits, length in the high 16; __rel_loc
        // offsets count from the end of the field itself.
        const uint32_t loc = static_cast<uint32_t>(read_unsigned(p, 4));
        const size_t at = (loc & 0xffff) + (f.relative ? f.offset + 4 : 0), length = loc >> 16;
        if (at > size || length > size - at) return false;
        if (f.kind == TraceField::Kind::dynamic_chars) fields[f.name] = chars(record + at, static_cast<uint32_t>(length));
        else fields[f.name] = integers(record + at, static_cast<uint32_t>(length), f.element_size, f.is_signed);
        break;
      }
    }
  }
  *json = fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return true;
}

}  // namespace hugeshim::collector
