#pragma once
// `ambitctl ztunnel-config`: the views istioctl's ztunnel-config shows, computed from a ztunnel's
// admin /config_dump (ztunnel/admin.cc). Pure functions of the dump, so they are unit-tested on
// recorded dumps. Each view is the filtered items (what -o json|yaml print) and the table:
//
//   workloads     NAMESPACE POD NAME ADDRESS NODE WAYPOINT PROTOCOL
//   services      NAMESPACE SERVICE NAME SERVICE VIP WAYPOINT ENDPOINTS
//   policies      NAMESPACE POLICY NAME ACTION SCOPE
//   certificates  CERTIFICATE NAME TYPE STATUS VALID CERT SERIAL NUMBER NOT AFTER NOT BEFORE
//   connections   WORKLOAD DIRECTION LOCAL REMOTE REMOTE TARGET PROTOCOL
//
// Differences from istioctl, where ambit's model has no such thing: PROTOCOL is HBONE for an
// enrolled (ambient) pod and TCP otherwise; ENDPOINTS is <endpoints known as workloads>/<all>
// (ambit has no health checking); connection addresses are shown as <pod>.<namespace> when the
// dump knows the IP.

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/table.h"
#include "common/status.h"

namespace ambit::cli {

struct ZtunnelView {
  nlohmann::json items = nlohmann::json::array();
  Table table{std::vector<std::string>{}};
};

struct ZtunnelFilter {
  std::string namespace_name;  // --namespace: only objects of this namespace
  std::string workload_node;   // --workload-node: only workloads scheduled on this node
};

ZtunnelView workloadsView(const nlohmann::json& dump, const ZtunnelFilter& filter);
ZtunnelView servicesView(const nlohmann::json& dump, const ZtunnelFilter& filter);
ZtunnelView policiesView(const nlohmann::json& dump, const ZtunnelFilter& filter);
// One row per certificate in each identity's chain and roots; VALID CERT compares with `now`.
// A chain that does not parse is an error naming the identity.
Result<ZtunnelView> certificatesView(const nlohmann::json& dump,
                                     std::chrono::system_clock::time_point now);
ZtunnelView connectionsView(const nlohmann::json& dump, const ZtunnelFilter& filter);

// The views istioctl's `ztunnel-config all` prints, one after the other, separated by a blank
// line (tables) or as one object {workloads, services, policies, certificates, connections}.
Result<std::string> renderAll(const nlohmann::json& dump, const ZtunnelFilter& filter,
                              OutputFormat format, std::chrono::system_clock::time_point now);

}  // namespace ambit::cli
