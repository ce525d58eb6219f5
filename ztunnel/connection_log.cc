#include "ztunnel/connection_log.h"

#include "common/hbone/protocol.h"

namespace ambit::ztunnel {
namespace {

std::string orDash(const std::string& s) { return s.empty() || s == "unknown" ? "-" : s; }

std::string orDash(const Endpoint& e) { return e.port() == 0 ? "-" : hbone::formatAuthority(e); }

}  // namespace

void ConnectionLog::describe(const ConnectionLabels& labels) {
  src_workload = labels.source;
  dst_workload = labels.destination;
  dst_service = labels.destination_service;
  src_identity = labels.source_principal;
  dst_identity = labels.destination_principal;
  response_flags = labels.response_flags;
}

admin::AccessLogRecord ConnectionLog::record(std::chrono::steady_clock::time_point end) const {
  admin::AccessLogRecord r;
  r.add("start_time", admin::accessLogTime(start_time))
      .add("direction", direction)
      .add("protocol", protocol)
      .add("src.addr", orDash(src_addr))
      .add("src.workload", src_workload ? orDash(src_workload->name()) : "-")
      .add("src.namespace", src_workload ? orDash(src_workload->namespace_()) : "-")
      .add("src.identity", orDash(src_identity))
      .add("dst.addr", orDash(dst_addr))
      .add("dst.hbone_addr", orDash(dst_hbone_addr))
      .add("dst.service", dst_service ? orDash(dst_service->hostname()) : "-")
      .add("dst.workload", dst_workload ? orDash(dst_workload->name()) : "-")
      .add("dst.namespace", dst_workload ? orDash(dst_workload->namespace_()) : "-")
      .add("dst.identity", orDash(dst_identity))
      .add("authz", authz)
      .add("policy", orDash(policy))
      .add("reason", orDash(reason))
      .add("error", orDash(error))
      .add("response_flags", orDash(response_flags))
      .add("bytes_sent", bytes_sent)
      .add("bytes_recv", bytes_recv)
      .add("duration_ms",
           static_cast<uint64_t>(
               std::chrono::duration_cast<std::chrono::milliseconds>(end - started).count()));
  return r;
}

}  // namespace ambit::ztunnel
