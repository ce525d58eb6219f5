#include "control/caller_auth.h"

#include <fmt/format.h>

#include <future>

#include "common/async/spawn.h"
#include "common/identity/signer.h"

namespace ambit::control {
namespace {

constexpr std::string_view kBearer = "Bearer ";

// The bearer token of a gRPC call's metadata, "" when absent.
std::string bearerToken(const grpc::ServerContext& ctx) {
  const auto& md = ctx.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return "";
  std::string_view value(it->second.data(), it->second.size());
  if (!value.starts_with(kBearer)) return "";
  return std::string(value.substr(kBearer.size()));
}

}  // namespace

void WaypointIdentities::set(const std::string& ns, const std::string& name, bool present) {
  std::lock_guard lock(mu_);
  if (present) {
    ids_.insert(ns + "/" + name);
  } else {
    ids_.erase(ns + "/" + name);
  }
}

bool WaypointIdentities::has(const std::string& ns, const std::string& service_account) const {
  std::lock_guard lock(mu_);
  return ids_.count(ns + "/" + service_account) > 0;
}

CallerAuth::CallerAuth(boost::asio::io_context& kube_io, TokenReviewer& reviewer,
                       const NodeIdentities& pods, const WaypointIdentities& waypoints,
                       CsrRules rules, std::chrono::milliseconds review_timeout)
    : kube_io_(kube_io),
      reviewer_(reviewer),
      pods_(pods),
      waypoints_(waypoints),
      rules_(std::move(rules)),
      review_timeout_(review_timeout) {}

void CallerAuth::review(std::string token, std::function<void(Result<Principal>)> done) {
  spawn(
      kube_io_,
      [this, token = std::move(token), done = std::move(done)]() -> boost::asio::awaitable<void> {
        auto p = co_await reviewer_.review(token);
        done(std::move(p));
      },
      "token review");
}

Status CallerAuth::mayDiscover(const Principal& p) const {
  if (p.ns == rules_.node_agent_namespace &&
      p.service_account == rules_.node_agent_service_account) {
    return Status::ok();
  }
  if (waypoints_.has(p.ns, p.service_account)) return Status::ok();
  return Error{
      identity::kNotAllowed,
      fmt::format("service account {} is neither the node agent ({}/{}) nor a waypoint",
                  p.identity(), rules_.node_agent_namespace, rules_.node_agent_service_account)};
}

void CallerAuth::authenticate(const discovery::CallerInfo& caller, Done done) {
  if (caller.bearer_token.empty()) {
    ++stats_.streams_refused;
    done(Error{identity::kUnauthenticated,
               "no bearer token: send a projected service-account token with audience '" +
                   reviewer_.audience() + "'"});
    return;
  }
  review(caller.bearer_token, [this, done = std::move(done)](Result<Principal> p) {
    if (!p) {
      ++stats_.streams_refused;
      done(p.error());
      return;
    }
    if (Status ok = mayDiscover(*p); !ok) {
      ++stats_.streams_refused;
      done(ok.error());
      return;
    }
    ++stats_.streams_allowed;
    discovery::Principal out;
    out.namespace_name = p->ns;
    out.service_account = p->service_account;
    if (!p->node.empty()) out.node = p->node;
    if (!p->pod_name.empty()) out.pod = p->pod_name;
    done(std::move(out));
  });
}

identity::CallAuthorizer CallerAuth::csrAuthorizer() {
  return [this](grpc::ServerContext& ctx,
                const v1::CsrRequest&) -> Result<identity::IdentityAuthorizer> {
    std::string token = bearerToken(ctx);
    if (token.empty()) {
      ++stats_.csr_refused;
      return Error{identity::kUnauthenticated, "no bearer token in the certificate request"};
    }
    auto promise = std::make_shared<std::promise<Result<Principal>>>();
    auto answer = promise->get_future();
    review(std::move(token), [promise](Result<Principal> p) { promise->set_value(std::move(p)); });
    if (answer.wait_for(review_timeout_) != std::future_status::ready) {
      ++stats_.csr_refused;
      return Error{EAGAIN, "the token could not be reviewed in time; retry"};
    }
    auto principal = answer.get();
    if (!principal) {
      ++stats_.csr_refused;
      return principal.error();
    }
    return identity::IdentityAuthorizer(
        [this, p = *principal](const identity::SpiffeId& id) -> Status {
          Status s = authorizeIdentity(p, id, pods_, rules_);
          ++(s ? stats_.csr_allowed : stats_.csr_refused);
          return s;
        });
  };
}

}  // namespace ambit::control
