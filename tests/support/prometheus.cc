#include "tests/support/prometheus.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>

namespace ambit::test {
namespace {

bool nameStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}
bool nameChar(char c) { return nameStart(c) || std::isdigit(static_cast<unsigned char>(c)); }

// One sample line, consumed left to right; errors say what was expected where.
class LineParser {
 public:
  explicit LineParser(std::string_view line) : line_(line) {}

  Result<Sample> sample() {
    Sample s;
    s.name = name(true);
    if (s.name.empty()) return fail("a metric name");
    if (peek() == '{') {
      ++at_;
      auto labels = labelSet();
      AMBIT_TRY(labels);
      s.labels = std::move(*labels);
    }
    if (!skipSpaces()) return fail("a space before the value");
    auto value = number();
    AMBIT_TRY(value);
    s.value = *value;
    if (skipSpaces() && at_ < line_.size()) {  // optional timestamp in ms
      const size_t start = at_;
      if (peek() == '-') ++at_;
      while (at_ < line_.size() && std::isdigit(static_cast<unsigned char>(line_[at_]))) ++at_;
      if (at_ == start) return fail("a timestamp");
    }
    skipSpaces();
    if (at_ != line_.size()) return fail("the end of the line");
    return s;
  }

 private:
  char peek() const { return at_ < line_.size() ? line_[at_] : '\0'; }

  bool skipSpaces() {
    const size_t start = at_;
    while (peek() == ' ' || peek() == '\t') ++at_;
    return at_ > start;
  }

  std::string name(bool metric) {
    const size_t start = at_;
    if (!nameStart(peek()) || (!metric && peek() == ':')) return "";
    while (nameChar(peek()) && (metric || peek() != ':')) ++at_;
    return std::string(line_.substr(start, at_ - start));
  }

  Result<Labels> labelSet() {
    Labels labels;
    for (;;) {
      skipSpaces();
      if (peek() == '}') {
        ++at_;
        return labels;
      }
      std::string key = name(false);
      if (key.empty()) return fail("a label name or '}'");
      skipSpaces();
      if (peek() != '=') return fail("'=' after label " + key);
      ++at_;
      skipSpaces();
      if (peek() != '"') return fail("'\"' opening the value of label " + key);
      ++at_;
      std::string value;
      for (;;) {
        if (at_ >= line_.size()) return fail("'\"' closing the value of label " + key);
        char c = line_[at_++];
        if (c == '"') break;
        if (c != '\\') {
          value += c;
          continue;
        }
        char e = peek();
        ++at_;
        if (e == 'n') {
          value += '\n';
        } else if (e == '\\' || e == '"') {
          value += e;
        } else {
          return fail("an escape \\\\, \\\" or \\n in label " + key);
        }
      }
      if (!labels.emplace(key, std::move(value)).second) return fail("label " + key + " once");
      skipSpaces();
      if (peek() == ',') ++at_;
    }
  }

  Result<double> number() {
    const size_t start = at_;
    while (at_ < line_.size() && line_[at_] != ' ' && line_[at_] != '\t') ++at_;
    const std::string text(line_.substr(start, at_ - start));
    char* end = nullptr;
    double v = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size()) {
      at_ = start;
      return fail("a number");
    }
    return v;
  }

  Error fail(const std::string& expected) const {
    return makeError("expected {} at column {}", expected, at_ + 1);
  }

  std::string_view line_;
  size_t at_ = 0;
};

bool includes(const Labels& labels, const Labels& match) {
  for (const auto& [k, v] : match) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

PrometheusText parseOrFail(const std::string& exposition) {
  auto parsed = PrometheusText::parse(exposition);
  if (parsed) return std::move(*parsed);
  ADD_FAILURE() << "metrics do not parse: " << parsed.error().message << "\n" << exposition;
  return *PrometheusText::parse("");
}

}  // namespace

Result<PrometheusText> PrometheusText::parse(std::string_view exposition) {
  PrometheusText out;
  size_t line_no = 0;
  for (size_t at = 0; at < exposition.size();) {
    size_t end = exposition.find('\n', at);
    if (end == std::string_view::npos) end = exposition.size();
    std::string_view line = exposition.substr(at, end - at);
    at = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;
    auto sample = LineParser(line.substr(first)).sample();
    if (!sample) return sample.error().context(fmt::format("line {} '{}'", line_no, line));
    out.samples_.push_back(std::move(*sample));
  }
  return out;
}

double PrometheusText::sum(std::string_view name, const Labels& match) const {
  double total = 0;
  for (const auto& s : samples_) {
    if (s.name == name && includes(s.labels, match)) total += s.value;
  }
  return total;
}

std::optional<double> PrometheusText::value(std::string_view name, const Labels& labels) const {
  for (const auto& s : samples_) {
    if (s.name == name && s.labels == labels) return s.value;
  }
  return std::nullopt;
}

double metricSum(const std::string& exposition, std::string_view name, const Labels& match) {
  return parseOrFail(exposition).sum(name, match);
}

std::optional<double> metricValue(const std::string& exposition, std::string_view name,
                                  const Labels& labels) {
  return parseOrFail(exposition).value(name, labels);
}

}  // namespace ambit::test
