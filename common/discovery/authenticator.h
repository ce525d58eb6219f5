#pragma once
// Who is at the other end of a discovery stream. The DiscoveryServer asks its Authenticator
// once per stream, before reading any request; the answer may come later and on any thread
// (ambit-control's answers after a Kubernetes TokenReview), so the interface is asynchronous.
// A refused stream ends with UNAUTHENTICATED and the refusal's message.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace ambit::discovery {

struct Principal {
  std::string namespace_name;
  std::string service_account;
  std::optional<std::string> node;  // the node an agent runs on, when the token names it
  std::optional<std::string> pod;

  // "ns/sa" ("local" when both are empty) plus " node=N pod=P" when known, for logs.
  std::string toString() const;
};

// What the transport and the call's metadata say about the caller.
struct CallerInfo {
  std::string peer;                         // gRPC peer URI: "ipv4:1.2.3.4:5", "unix:..."
  bool unix_socket = false;                 // the call came in on a unix socket
  std::string bearer_token;                 // from `authorization: Bearer <token>`; "" if absent
  std::vector<std::string> tls_identities;  // the TLS client certificate's names, if any
};

class Authenticator {
 public:
  using Done = std::function<void(Result<Principal>)>;
  virtual ~Authenticator() = default;
  // Calls `done` exactly once, on any thread, possibly before returning. An Error refuses the
  // stream; its message is sent to the client, so it says why without leaking secrets.
  virtual void authenticate(const CallerInfo& caller, Done done) = 0;
};

// For the node agent's relay on a unix socket, whose file mode is the access control: accepts
// every caller on a unix socket as `principal`, refuses callers on any other transport (a
// relay configured on a TCP address by mistake stays closed).
class AllowLocal final : public Authenticator {
 public:
  explicit AllowLocal(Principal principal = {}) : principal_(std::move(principal)) {}
  void authenticate(const CallerInfo& caller, Done done) override;

 private:
  Principal principal_;
};

}  // namespace ambit::discovery
