#pragma once
// CaClient: the CertificateService client on gRPC's runtime (CertificateFetcher is in
// certificate_fetcher.h; the ztunnel's runtime-free client in lite_ca_client.h).

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/identity/certificate_fetcher.h"
#include "common/identity/signer.h"
#include "common/status.h"

namespace grpc {
class Channel;
}

namespace ambit::identity {

struct CaClientOptions {
  std::string address;  // e.g. "unix:/run/ambit/node-1/ca.sock"; names the server in errors
  std::string node;     // sent as CsrRequest.node
  std::chrono::milliseconds timeout = std::chrono::seconds(10);  // per call deadline
  // The channel to call through, e.g. discovery::makeControlChannel() to ambit-control (TLS
  // plus a bearer token). Unset: a plaintext channel to `address` (a local unix socket).
  std::shared_ptr<grpc::Channel> channel;
  // Calls wait, within their deadline, for the channel to connect (gRPC's wait_for_ready)
  // instead of failing at once while it is reconnecting: for a server that is expected back
  // soon (ambit-control during a roll).
  bool wait_for_ready = false;
  // createCertificate() with the requester's deadline gives up this long before it: the time
  // its answer needs to get back to the requester.
  std::chrono::milliseconds answer_margin{200};
};

// gRPC CertificateService client. Thread-safe. fetch() uses gRPC's callback API, so no thread
// of the caller waits on the network; done runs on a gRPC-owned thread. Errors as
// createCertificateResult() (certificate_fetcher.h) says.
// gRPC 1.51 (Debian bookworm) runs callback-API completions on a shared "alternative" queue
// that it creates on first use and tears down when its last user (channel or server) goes; a
// teardown racing the final callback of another user aborts the process (assertion in
// grpc_cq_internal_unref, grpc/grpc#32584 describes the mechanism). Every callback-API user
// calls this first: one process-lifetime reference keeps the queue from ever being torn down.
void pinGrpcCallbackQueue();

class CaClient final : public CertificateFetcher {
 public:
  explicit CaClient(CaClientOptions options);
  ~CaClient() override;

  // Blocking call, for tools, tests and the agent's ForwardingSigner; never call it on a data
  // thread. With a `deadline` (the requester's, when forwarding), the call gives up
  // `answer_margin` before it if that is sooner than the options' timeout, so the answer (an
  // error naming the cause) still reaches the requester in time.
  [[nodiscard]] Result<IssuedCertificate> createCertificate(std::string_view csrPem,
                                                            std::chrono::seconds ttl,
                                                            Deadline deadline = kNoDeadline);
  void fetch(std::string csrPem, std::chrono::seconds ttl, Done done) override;

 private:
  struct Impl;
  // Destruction cancels calls in flight and waits for their callbacks to have run.
  std::unique_ptr<Impl> impl_;
};

}  // namespace ambit::identity
