#pragma once
// One `ambitctl analyze` finding, istioctl-style: a level, a code (Istio's IST0xxx where Istio
// has the same check, AMB1xxx for ambit's own), the object it is about, where that object was
// defined, what is wrong and how to fix it.

#include <string>
#include <vector>

#include "cli/analyze/mesh_source.h"

namespace ambit::cli {

enum class Level { kError, kWarning, kInfo };  // most severe first
std::string_view levelName(Level level);       // "Error", "Warning", "Info"

// The message types `analyze` reports.
struct FindingType {
  const char* code;  // "IST0101"
  const char* name;  // "ReferencedResourceNotFound"
  Level level;
};

namespace findings {
inline constexpr FindingType kReferencedResourceNotFound{"IST0101", "ReferencedResourceNotFound",
                                                         Level::kError};
inline constexpr FindingType kSchemaValidationError{"IST0106", "SchemaValidationError",
                                                    Level::kError};
inline constexpr FindingType kNoMatchingWorkloadsFound{"IST0127", "NoMatchingWorkloadsFound",
                                                       Level::kWarning};
inline constexpr FindingType kVirtualServiceUnreachableRule{
    "IST0130", "VirtualServiceUnreachableRule", Level::kWarning};
inline constexpr FindingType kVirtualServiceIneffectiveMatch{
    "IST0131", "VirtualServiceIneffectiveMatch", Level::kInfo};
inline constexpr FindingType kDestinationRuleSubsetNotSelectPods{
    "IST0173", "DestinationRuleSubsetNotSelectPods", Level::kError};
inline constexpr FindingType kUnusedWaypoint{"AMB1001", "UnusedWaypoint", Level::kWarning};
inline constexpr FindingType kStrictMtlsPlaintextClient{"AMB1002", "StrictMtlsPlaintextClient",
                                                        Level::kWarning};
inline constexpr FindingType kL7PolicyWithoutWaypoint{"AMB1003", "L7PolicyWithoutWaypoint",
                                                      Level::kWarning};
}  // namespace findings

struct Finding {
  Level level = Level::kError;
  std::string code;
  std::string type;  // the message type's name
  ObjectRef object;
  SourceLocation origin;
  std::string message;
  std::string fix;

  // "VirtualService default/my-app" (kind and name only for cluster-scoped kinds).
  std::string objectText() const;
};

using Findings = std::vector<Finding>;

// Collects findings for one analysis, locating each object in the MeshSource.
class FindingSink {
 public:
  explicit FindingSink(const MeshSource& source) : source_(source) {}

  void add(const FindingType& type, ObjectRef object, std::string message, std::string fix);
  // Located at a field of the object ({"spec", "http", "1"}).
  void addAt(const FindingType& type, ObjectRef object, const std::vector<std::string>& field,
             std::string message, std::string fix);
  // Located where `origin` says (translation errors carry their own file:line).
  void addWithOrigin(const FindingType& type, ObjectRef object, SourceLocation origin,
                     std::string message, std::string fix);

  const MeshSource& source() const { return source_; }
  Findings take() { return std::move(findings_); }

 private:
  const MeshSource& source_;
  Findings findings_;
};

// istioctl's line: `Error [IST0101] (VirtualService default/my-app dir/vs.yaml:3) message`,
// then `  Fix: ...`.
std::string renderText(const Findings& findings);
// A JSON array / YAML list of {level, code, type, kind, namespace, name, origin, file, line,
// message, fix, documentation} (documentation: istio.io for IST codes).
std::string renderJson(const Findings& findings);
std::string renderYaml(const Findings& findings);

}  // namespace ambit::cli
