#pragma once
// The fixture of control_e2e_test: one real cluster per suite (CRDs applied, namespace
// ambit-system), one ambit-control replica started for the suite with the admin kubeconfig, and
// the API writes the cases make (pods with written status, namespaces, tokens), plus a
// DiscoverySource run on its own config thread like a node agent runs it.

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ambit/v1/mesh.pb.h"
#include "common/discovery/client.h"
#include "common/identity/ca_client.h"
#include "tests/k8s/control_e2e/control_process.h"
#include "tests/k8s/support/k8s_cluster.h"
#include "tests/support/prometheus.h"
#include "tests/unit/discovery/test_util.h"

namespace ambit::control {

using discovery::testing::SourceRunner;

class ControlE2eTest : public test::KubeClusterTest {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;

  // `kubectl <args>` as cluster admin (the binaries of scripts/setup-k8s.sh).
  static test::CommandOutput kubectl(const std::string& args);
  // kubectl apply of a YAML/JSON document.
  void apply(const std::string& document);

  // The suite's replica, started again when a case killed it; fails the test when it does not
  // become ready.
  test::ControlProcess& control();
  // Another replica with the admin kubeconfig (the caller owns it), ready.
  std::unique_ptr<test::ControlProcess> startReplica(const std::string& instance,
                                                     const std::string& kubeconfig = "");

  void createLabelledNamespace(const std::string& ns, const nlohmann::json& labels);
  void labelNamespace(const std::string& ns, const nlohmann::json& labels);
  // A pod scheduled on `node` (spec.nodeName) and, when `ip` is set, Running with that IP
  // (written through the status subresource, as a kubelet would).
  void createPod(const std::string& ns, const std::string& name, const std::string& sa,
                 const std::string& node, const nlohmann::json& labels = nlohmann::json::object(),
                 const std::string& ip = "");
  void deletePod(const std::string& ns, const std::string& name);
  // metadata.uid of a pod.
  std::string podUid(const std::string& ns, const std::string& name);

  // The root certificate ambit-control published in `ns` ("" until it is there).
  std::string publishedRoot(const std::string& ns);
  // A file holding the root certificate (waits for it in ambit-system).
  std::string controlCaFile();
  // A token of the node agent (ambit-system/ambit-agent, audience ambit) bound to an agent pod
  // on `node`, written to a file; the file's path.
  std::string agentTokenFile(const std::string& node);
  std::string writeFile(const std::string& name, const std::string& content);

  discovery::DiscoverySourceOptions sourceOptions(std::vector<std::string> addresses,
                                                  const std::string& token_file);
  // A CertificateService client of `replica` sending the token in `token_file`.
  std::unique_ptr<identity::CaClient> certificateClient(const test::ControlProcess& replica,
                                                        const std::string& token_file);
  // The Event on `kind` ns/name with `reason`; null when there is none.
  nlohmann::json eventOn(const std::string& ns, const std::string& kind, const std::string& name,
                         const std::string& reason);
  // Metric sum from the suite replica's /metrics.
  double metric(const std::string& name, const test::Labels& labels = {});

  static inline std::unique_ptr<test::ControlProcess> control_;
  static inline std::string kubectl_;
  static inline int replicas_started_ = 0;
  test::TempDir files_{"control-e2e"};
  int applied_ = 0;
};

// ambit-control's /metrics (parsed, and its text for messages) has every family it documents
// (docs/observability.md), istiod's names agree with ambit's for the same counts, the root
// certificate expires in more than a day, and `connected_agents` discovery streams are open.
void expectControlMetrics(const test::PrometheusText& parsed, const std::string& body,
                          double connected_agents);

const v1::Workload* findWorkload(const v1::MeshSnapshot& s, const std::string& ns,
                                 const std::string& name);
const v1::Service* findService(const v1::MeshSnapshot& s, const std::string& ns,
                               const std::string& name);
const v1::RouteTable* findRouteTable(const v1::MeshSnapshot& s, const std::string& ns,
                                     const std::string& name);

}  // namespace ambit::control
