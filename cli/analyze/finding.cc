#include "cli/analyze/finding.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

namespace ambit::cli {
namespace {

// Istio documents each IST code at istio.io/latest/docs/reference/config/analysis/ist0101/.
std::string documentation(const std::string& code) {
  if (code.rfind("IST", 0) != 0) return "";
  std::string lower = code;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return fmt::format("https://istio.io/latest/docs/reference/config/analysis/{}/", lower);
}

nlohmann::json toJson(const Finding& f) {
  nlohmann::json j{{"level", levelName(f.level)},
                   {"code", f.code},
                   {"type", f.type},
                   {"kind", f.object.kind},
                   {"namespace", f.object.ns},
                   {"name", f.object.name},
                   {"origin", f.origin.toString()},
                   {"file", f.origin.file},
                   {"line", f.origin.line},
                   {"message", f.message},
                   {"fix", f.fix}};
  if (auto doc = documentation(f.code); !doc.empty()) j["documentation"] = doc;
  return j;
}

}  // namespace

std::string_view levelName(Level level) {
  switch (level) {
    case Level::kError:
      return "Error";
    case Level::kWarning:
      return "Warning";
    case Level::kInfo:
      return "Info";
  }
  return "Unknown";
}

std::string Finding::objectText() const {
  if (object.ns.empty()) return fmt::format("{} {}", object.kind, object.name);
  return fmt::format("{} {}/{}", object.kind, object.ns, object.name);
}

void FindingSink::add(const FindingType& type, ObjectRef object, std::string message,
                      std::string fix) {
  SourceLocation at = source_.locate(object.kind, object.ns, object.name);
  addWithOrigin(type, std::move(object), std::move(at), std::move(message), std::move(fix));
}

void FindingSink::addAt(const FindingType& type, ObjectRef object,
                        const std::vector<std::string>& field, std::string message,
                        std::string fix) {
  SourceLocation at = source_.locateField(object.kind, object.ns, object.name, field);
  addWithOrigin(type, std::move(object), std::move(at), std::move(message), std::move(fix));
}

void FindingSink::addWithOrigin(const FindingType& type, ObjectRef object, SourceLocation origin,
                                std::string message, std::string fix) {
  findings_.push_back(Finding{type.level, type.code, type.name, std::move(object),
                              std::move(origin), std::move(message), std::move(fix)});
}

std::string renderText(const Findings& findings) {
  std::string out;
  for (const auto& f : findings) {
    std::string where = f.objectText();
    if (f.origin.known()) where += " " + f.origin.toString();
    out += fmt::format("{} [{}] ({}) {}\n", levelName(f.level), f.code, where, f.message);
    if (!f.fix.empty()) out += fmt::format("  Fix: {}\n", f.fix);
  }
  return out;
}

std::string renderJson(const Findings& findings) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& f : findings) out.push_back(toJson(f));
  return out.dump(2) + "\n";
}

std::string renderYaml(const Findings& findings) {
  if (findings.empty()) return "[]\n";
  YAML::Emitter e;
  e << YAML::BeginSeq;
  for (const auto& f : findings) {
    const nlohmann::json j = toJson(f);
    e << YAML::BeginMap;
    for (const auto& [k, v] : j.items()) {
      e << YAML::Key << k << YAML::Value;
      if (v.is_number()) {
        e << v.get<int>();
      } else {
        e << YAML::DoubleQuoted << v.get<std::string>();
      }
    }
    e << YAML::EndMap;
  }
  e << YAML::EndSeq;
  return std::string(e.c_str()) + "\n";
}

}  // namespace ambit::cli
