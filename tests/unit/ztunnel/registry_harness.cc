#include "tests/unit/ztunnel/registry_harness.h"

namespace ambit::ztunnel::testing {

InProcessCa::InProcessCa() {
  identity::EmbeddedCaOptions o;
  o.stateDir = dir_.path();
  o.trustDomain = "cluster.local";
  auto ca = identity::EmbeddedCa::openOrCreate(std::move(o));
  if (!ca) {
    ADD_FAILURE() << ca.error().message;
    return;
  }
  ca_ = std::move(*ca);
}

void InProcessCa::fetch(std::string csr_pem, std::chrono::seconds ttl, Done done) {
  if (!ca_) return done(makeError("no test CA"));
  done(ca_->sign(csr_pem, ttl, [](const identity::SpiffeId&) { return Status::ok(); }));
}

std::shared_ptr<Pod> RegistryTest::openPod(const std::string& name,
                                           const std::string& service_account,
                                           const std::vector<std::string>& ips) {
  auto pod = std::make_shared<Pod>();
  pod->info = podInfo(name, service_account, ips);
  Status opened = pods.openPod(pod);
  EXPECT_TRUE(opened) << opened.message();
  runUntil([&] { return identities.ready(pod->spiffe_id); });  // as the hand-off's ack waits
  Status serving = pods.startHbone(pod->info.uid());
  EXPECT_TRUE(serving) << serving.message();
  return pod;
}

void RegistryTest::runFor(std::chrono::milliseconds d) {
  if (io.stopped()) io.restart();
  io.run_for(d);
}

}  // namespace ambit::ztunnel::testing
