#pragma once
// ProxyTest plus the pod side: an IdentityStore fed by an in-process CA, a PodRegistry over
// the fake sockets and steering, and a ConnectionManager.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/identity/ca.h"
#include "common/identity/ca_client.h"
#include "common/identity/identity_store.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/ztunnel/harness.h"
#include "ztunnel/connection_manager.h"
#include "ztunnel/pod_registry.h"

namespace ambit::ztunnel::testing {

// Signs CSRs with a CA kept in a fresh temporary directory (removed on destruction).
class InProcessCa final : public identity::CertificateFetcher {
 public:
  InProcessCa();
  void fetch(std::string csr_pem, std::chrono::seconds ttl, Done done) override;

 private:
  test::TempDir dir_{"ambit-ztunnel-ca"};
  std::unique_ptr<identity::EmbeddedCa> ca_;
};

class RegistryTest : public ProxyTest {
 protected:
  // Opens a pod as the hand-off does (listeners, its certificate, then HBONE); fails the test
  // on error.
  std::shared_ptr<Pod> openPod(const std::string& name, const std::string& service_account,
                               const std::vector<std::string>& ips);
  // Runs the io_context for `d` (for checks that something has NOT happened meanwhile).
  void runFor(std::chrono::milliseconds d);

  std::shared_ptr<InProcessCa> ca = std::make_shared<InProcessCa>();
  identity::IdentityStore identities{io, ca, {}, "cluster.local"};
  RecordingSteering steering;
  PodRegistry pods{io, PodRegistry::Options{}, sockets, steering, identities, outbound, inbound};
  ConnectionManager connections{io, tracker, pods, outbound};
};

}  // namespace ambit::ztunnel::testing
