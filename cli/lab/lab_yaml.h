#pragma once
// The Kubernetes-shaped YAML that describes the lab, for the local-mode config directory:
// Namespaces, Pods (with status.podIPs and the ambit.dev/netns annotation), Services and the
// my-app DestinationRule (and, with a waypoint, its Gateway). Standard Kubernetes / Istio field
// names, so the translator reads it the same way it reads objects from a real cluster.

#include <map>
#include <string>

#include "cli/lab/topology.h"

namespace ambit::lab {

inline constexpr const char* kNetnsAnnotation = "ambit.dev/netns";

// File name (e.g. "pods.yaml") → multi-document YAML.
std::map<std::string, std::string> renderConfig(const Topology& t);

}  // namespace ambit::lab
