#pragma once
// `ambitctl analyze`: every problem the translation pipeline reports, plus mesh-level checks
// that need several objects at once. Each check is a function over a MeshSource adding to a
// FindingSink, so tests can run one check on a config made to trigger it.
//
// Codes (finding.h): IST0106 for every translation error; IST0101 for references to objects that
// do not exist (route hosts and destinations, DestinationRule subsets, targetRefs, parentRefs,
// use-waypoint labels); IST0173 for a subset selecting no pod; IST0127 for a selector selecting
// no workload; IST0130 / IST0131 for routes and matches an earlier one shadows; AMB1001 for a
// waypoint nothing uses; AMB1002 for STRICT mTLS on a workload that a non-mesh pod is allowed
// to call; AMB1003 for a Service-targeted (waypoint) policy on a Service with no waypoint.

#include <string>

#include "cli/analyze/finding.h"
#include "cli/analyze/mesh_source.h"

namespace ambit::cli {

struct AnalyzeOptions {
  std::string namespace_filter;  // report objects of this namespace only (and cluster-scoped)
};

// Every check; findings sorted by level (errors first), then object and origin.
Findings analyze(const MeshSource& source, const AnalyzeOptions& options = {});

void checkTranslation(FindingSink& sink);      // IST0106, IST0101 (undefined subsets)
void checkRouteReferences(FindingSink& sink);  // IST0101: hosts, destinations, parentRefs
void checkSubsets(FindingSink& sink);          // IST0173, IST0101 (DestinationRule host)
void checkWaypoints(FindingSink& sink);        // AMB1001, IST0101 (use-waypoint labels)
void checkPolicyTargets(FindingSink& sink);    // IST0127, IST0101 (targetRefs), AMB1003
void checkStrictMtls(FindingSink& sink);       // AMB1002
void checkRouteShadowing(FindingSink& sink);   // IST0130, IST0131

}  // namespace ambit::cli
