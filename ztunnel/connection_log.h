#pragma once
// The ztunnel's access-log record: one per connection, written when it ends (or is refused),
// with Istio ztunnel's field names (docs/observability.md):
//
//   start_time direction protocol src.addr src.workload src.namespace src.identity
//   dst.addr dst.hbone_addr dst.service dst.workload dst.namespace dst.identity
//   authz policy reason error response_flags bytes_sent bytes_recv duration_ms
//
// bytes_sent is what the source sent towards the destination, bytes_recv what it got back.
// Plain data, filled on the data thread by the proxies. The workloads and the service point
// into the configuration, which the record's owner holds while the connection lives (so each
// open connection pins the snapshot it was opened under; a swap does not free it); identities
// and policy texts are copies. Addresses are written as ip:port ([ip]:port for IPv6), "-" when
// unset.

#include <chrono>
#include <cstdint>
#include <string>

#include "common/admin/access_log.h"
#include "ztunnel/metrics.h"
#include "ztunnel/state.h"

namespace ambit::ztunnel {

struct ConnectionLog {
  std::chrono::system_clock::time_point start_time = std::chrono::system_clock::now();
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  // Fixed words and addresses are kept as such (formatted when the record is written): every
  // open connection holds one of these, idle ones for hours.
  const char* direction = "";                   // inbound | outbound
  const char* protocol = "";                    // HBONE | TCP
  Endpoint src_addr, dst_addr, dst_hbone_addr;  // "-" while unset (port 0)
  // The connection's workloads and service (describe()): they point into the configuration,
  // which the record's owner keeps alive until the record is written.
  const v1::Workload* src_workload = nullptr;
  const v1::Workload* dst_workload = nullptr;
  const v1::Service* dst_service = nullptr;
  std::string src_identity, dst_identity;
  const char* authz = "allow";  // allow | deny
  std::string policy;           // the deciding AuthorizationPolicy, ns/name
  std::string reason;           // why denied or failed, a short fixed phrase
  std::string error;            // the failure's detail
  std::string response_flags = "-";
  uint64_t bytes_sent = 0;
  uint64_t bytes_recv = 0;

  // Workloads, namespaces, service and identities from the connection's metric labels.
  void describe(const ConnectionLabels& labels);
  // The record, with duration_ms measured up to `end`.
  admin::AccessLogRecord record(
      std::chrono::steady_clock::time_point end = std::chrono::steady_clock::now()) const;
};

}  // namespace ambit::ztunnel
