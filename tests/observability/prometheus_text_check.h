// What the Prometheus text format requires and `promtool check metrics`
// does not check (it lints names and help), checked on an exposition:
// one HELP and one TYPE per family, before its samples, samples of a family
// together; every series (name + label set) once; histogram buckets with
// `le` strictly rising, counts cumulative (never falling), a +Inf bucket
// equal to _count, and a _sum. Also a parser for reading values back.
#pragma once

#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace prometheus_check {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  std::string value_text;
  double value = 0;
};

// One sample line, or nullopt when it does not parse.
inline std::optional<Sample> parse_sample(const std::string& line) {
  Sample s;
  size_t i = line.find_first_of("{ ");
  if (i == std::string::npos || i == 0) return std::nullopt;
  s.name = line.substr(0, i);
  if (line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      const size_t eq = line.find('=', i);
      if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') return std::nullopt;
      const std::string key = line.substr(i, eq - i);
      std::string value;
      size_t j = eq + 2;
      for (; j < line.size() && line[j] != '"'; ++j) {
        if (line[j] == '\\' && j + 1 < line.size()) {
          ++j;
          value += line[j] == 'n' ? '\n' : line[j];
        } else {
          value += line[j];
        }
      }
      if (j >= line.size()) return std::nullopt;
      if (!s.labels.emplace(key, value).second) return std::nullopt;  // a label twice
      i = j + 1;
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) return std::nullopt;
    ++i;  // '}'
  }
  if (i >= line.size() || line[i] != ' ') return std::nullopt;
  s.value_text = line.substr(i + 1);
  if (s.value_text.find(' ') != std::string::npos) return std::nullopt;  // no timestamps here
  char* end = nullptr;
  s.value = s.value_text == "+Inf" ? INFINITY : strtod(s.value_text.c_str(), &end);
  if (s.value_text != "+Inf" && (end == s.value_text.c_str() || *end)) return std::nullopt;
  return s;
}

inline std::vector<Sample> parse(const std::string& text) {
  std::vector<Sample> out;
  size_t at = 0;
  while (at < text.size()) {
    size_t eol = text.find('\n', at);
    if (eol == std::string::npos) eol = text.size();
    const std::string line = text.substr(at, eol - at);
    at = eol + 1;
    if (line.empty() || line[0] == '#') continue;
    if (auto s = parse_sample(line)) out.push_back(*s);
  }
  return out;
}

inline std::string series_key(const std::string& name, const std::map<std::string, std::string>& labels,
                              const std::string& skip = "") {
  std::string key = name + "{";
  for (const auto& [k, v] : labels)
    if (k != skip) key += k + "=\"" + v + "\",";
  return key + "}";
}

// Problems found, one line each; empty when the exposition is sound.
inline std::vector<std::string> structural_problems(const std::string& text) {
  std::vector<std::string> problems;
  std::map<std::string, std::string> type_of;  // family -> type
  std::set<std::string> helped, done_families, series;
  std::string current;  // family whose samples are being read
  struct Buckets {
    std::vector<std::pair<double, double>> le_count;  // in order of appearance
    std::optional<double> count, sum;
  };
  std::map<std::string, Buckets> histograms;  // family{labels without le}
  auto family_of = [&](const std::string& name) {
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s = suffix;
      if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
        const std::string base = name.substr(0, name.size() - s.size());
        if (type_of.count(base) && type_of[base] == "histogram") return base;
      }
    }
    return name;
  };
  size_t at = 0;
  int line_no = 0;
  while (at < text.size()) {
    size_t eol = text.find('\n', at);
    if (eol == std::string::npos) {
      problems.push_back("the exposition does not end with a newline");
      eol = text.size();
    }
    const std::string line = text.substr(at, eol - at);
    at = eol + 1;
    ++line_no;
    const std::string where = "line " + std::to_string(line_no) + ": ";
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      const bool help = line[2] == 'H';
      const size_t sp = line.find(' ', 7);
      const std::string name = line.substr(7, sp == std::string::npos ? std::string::npos : sp - 7);
      if (done_families.count(name)) problems.push_back(where + name + ": HELP/TYPE after its samples");
      if (help && !helped.insert(name).second) problems.push_back(where + name + ": second HELP");
      if (!help) {
        const std::string type = sp == std::string::npos ? "" : line.substr(sp + 1);
        if (!type_of.emplace(name, type).second) problems.push_back(where + name + ": second TYPE");
      }
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    const auto s = parse_sample(line);
    if (!s) {
      problems.push_back(where + "does not parse: " + line);
      continue;
    }
    const std::string family = family_of(s->name);
    if (!type_of.count(family)) problems.push_back(where + family + ": sample before (or without) its TYPE");
    if (family != current) {
      if (done_families.count(family)) problems.push_back(where + family + ": samples not together");
      if (!current.empty()) done_families.insert(current);
      current = family;
    }
    if (!series.insert(series_key(s->name, s->labels)).second)
      problems.push_back(where + "series twice: " + series_key(s->name, s->labels));
    if (type_of[family] == "counter" && (s->value < 0 || std::isnan(s->value)))
      problems.push_back(where + "counter below zero");
    if (type_of[family] != "histogram") continue;
    Buckets& b = histograms[series_key(family, s->labels, "le")];
    if (s->name == family + "_bucket") {
      auto le = s->labels.find("le");
      if (le == s->labels.end()) {
        problems.push_back(where + "bucket without le");
        continue;
      }
      char* end = nullptr;
      const double bound = le->second == "+Inf" ? INFINITY : strtod(le->second.c_str(), &end);
      if (le->second != "+Inf" && (end == le->second.c_str() || *end))
        problems.push_back(where + "le is not a number: " + le->second);
      b.le_count.emplace_back(bound, s->value);
    } else if (s->name == family + "_count") {
      b.count = s->value;
    } else if (s->name == family + "_sum") {
      b.sum = s->value;
    }
  }
  for (const auto& [key, b] : histograms) {
    for (size_t i = 1; i < b.le_count.size(); ++i) {
      if (!(b.le_count[i].first > b.le_count[i - 1].first)) problems.push_back(key + ": le not rising");
      if (b.le_count[i].second < b.le_count[i - 1].second) problems.push_back(key + ": buckets not cumulative");
    }
    if (b.le_count.empty() || !std::isinf(b.le_count.back().first)) problems.push_back(key + ": no +Inf bucket last");
    else if (!b.count || *b.count != b.le_count.back().second) problems.push_back(key + ": +Inf bucket != _count");
    if (!b.sum) problems.push_back(key + ": no _sum");
  }
  return problems;
}

// The value of the one sample with this name whose labels include `labels`;
// nullopt when there is none, or more than one.
inline std::optional<double> value_of(const std::vector<Sample>& samples, const std::string& name,
                                      const std::map<std::string, std::string>& labels = {}) {
  std::optional<double> found;
  for (const Sample& s : samples) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& [k, v] : labels) {
      auto it = s.labels.find(k);
      match = match && it != s.labels.end() && it->second == v;
    }
    if (!match) continue;
    if (found) return std::nullopt;
    found = s.value;
  }
  return found;
}

}  // namespace prometheus_check
