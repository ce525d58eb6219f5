#include "ztunnel/connection_log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace ambit::ztunnel {
namespace {

TEST(ConnectionLog, RecordCarriesIstioZtunnelFieldsInOrder) {
  v1::Workload client;
  client.set_name("client");
  client.set_namespace_("default");
  v1::Service svc;
  svc.set_hostname("my-app.default.svc.cluster.local");
  ConnectionLabels labels;
  labels.source = &client;
  labels.destination_service = &svc;
  labels.source_principal = "spiffe://cluster.local/ns/default/sa/client";

  ConnectionLog log;
  log.start_time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764885942123));
  log.direction = "outbound";
  log.protocol = "HBONE";
  log.src_addr = Endpoint(boost::asio::ip::make_address("10.244.1.10"), 41234);
  log.dst_addr = Endpoint(boost::asio::ip::make_address("10.96.0.10"), 80);
  log.dst_hbone_addr = Endpoint(boost::asio::ip::make_address("10.244.2.11"), 15008);
  log.describe(labels);
  log.bytes_sent = 78;
  log.bytes_recv = 312;
  std::string text = admin::formatAccessLog(log.record(log.started + std::chrono::milliseconds(4)),
                                            admin::AccessLogFormat::kText);
  EXPECT_EQ(text,
            "start_time=2025-12-04T22:05:42.123Z direction=outbound protocol=HBONE "
            "src.addr=10.244.1.10:41234 src.workload=client src.namespace=default "
            "src.identity=spiffe://cluster.local/ns/default/sa/client dst.addr=10.96.0.10:80 "
            "dst.hbone_addr=10.244.2.11:15008 dst.service=my-app.default.svc.cluster.local "
            "dst.workload=- dst.namespace=- dst.identity=- authz=allow policy=- reason=- error=- "
            "response_flags=- bytes_sent=78 bytes_recv=312 duration_ms=4");

  log.authz = "deny";
  log.reason = "denied by policy";
  log.policy = "default/deny-client";
  auto j =
      nlohmann::json::parse(admin::formatAccessLog(log.record(), admin::AccessLogFormat::kJson));
  EXPECT_EQ(j["authz"], "deny");
  EXPECT_EQ(j["reason"], "denied by policy");
  EXPECT_EQ(j["policy"], "default/deny-client");
  EXPECT_EQ(j["bytes_recv"], 312);
  EXPECT_EQ(j["src.identity"], "spiffe://cluster.local/ns/default/sa/client");
}

}  // namespace
}  // namespace ambit::ztunnel
