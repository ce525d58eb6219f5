#pragma once
// Builds the lab network with iproute2 (see subprocess.h for why). Every function is
// idempotent: it creates what is missing and re-applies addresses, routes and link state, so
// `lab up` converges from any half-built state.

#include <functional>
#include <string>

#include "cli/lab/topology.h"
#include "common/status.h"

namespace ambit::lab {

// Persists a netns name before it is created (the intent log); creation stops if it fails.
using NetnsRecorder = std::function<Status(const std::string& name)>;

std::string netnsPath(const std::string& name);  // /run/netns/<name>

// True when /run/netns/<name> exists and is a mounted network namespace.
bool netnsExists(const std::string& name);

// The underlay netns and its bridge.
Status ensureUnderlay(const Topology& t, const NetnsRecorder& record);
// A node netns: uplink into the underlay, pod bridge with gateways, forwarding, routes to the
// other nodes' pod CIDRs.
Status ensureNode(const Topology& t, const NodeSpec& node, const NetnsRecorder& record);
// A pod netns: eth0 into its node's bridge, addresses, default routes.
Status ensurePod(const Topology& t, const PodSpec& pod, const NetnsRecorder& record);

// Deletes the netns (and with it every interface inside); absent is fine.
Status deleteNetns(const std::string& name);

}  // namespace ambit::lab
