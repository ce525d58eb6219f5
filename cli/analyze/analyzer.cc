#include "cli/analyze/analyzer.h"

#include <algorithm>
#include <tuple>

namespace ambit::cli {
namespace {

// crossCheck() in common/config/assemble.cc words an undefined subset this way: it is a missing
// reference (Istio reports it as IST0101), not a schema problem.
constexpr std::string_view kUndefinedSubset = "is not defined by any DestinationRule";

bool inScope(const Finding& f, const AnalyzeOptions& options) {
  return options.namespace_filter.empty() || f.object.ns.empty() ||
         f.object.ns == options.namespace_filter;
}

}  // namespace

void checkTranslation(FindingSink& sink) {
  for (const auto& e : sink.source().result().errors) {
    ObjectRef object = parseObject(e.object);
    const bool cluster = e.file.rfind("kubernetes:", 0) == 0;
    SourceLocation at{e.file, cluster ? 0 : e.line};
    if (e.object.empty()) object.kind = "File";
    if (e.reason.find(kUndefinedSubset) != std::string::npos) {
      sink.addWithOrigin(findings::kReferencedResourceNotFound, std::move(object), std::move(at),
                         "Referenced host+subset in destinationrule not found: " + e.reason,
                         "define the subset in the DestinationRule of that host, or route to a "
                         "subset it defines; until then the whole file is rejected");
      continue;
    }
    sink.addWithOrigin(findings::kSchemaValidationError, std::move(object), std::move(at),
                       "Schema validation error: " + e.reason,
                       "correct the field; a file with any problem is rejected as a whole and "
                       "the last good configuration stays in force");
  }
}

Findings analyze(const MeshSource& source, const AnalyzeOptions& options) {
  FindingSink sink(source);
  checkTranslation(sink);
  checkRouteReferences(sink);
  checkSubsets(sink);
  checkWaypoints(sink);
  checkPolicyTargets(sink);
  checkStrictMtls(sink);
  checkRouteShadowing(sink);
  Findings all = sink.take();
  Findings out;
  for (auto& f : all) {
    if (inScope(f, options)) out.push_back(std::move(f));
  }
  std::stable_sort(out.begin(), out.end(), [](const Finding& a, const Finding& b) {
    return std::tie(a.level, a.object.ns, a.object.kind, a.object.name, a.origin.file,
                    a.origin.line) < std::tie(b.level, b.object.ns, b.object.kind, b.object.name,
                                              b.origin.file, b.origin.line);
  });
  return out;
}

}  // namespace ambit::cli
