#include "common/discovery/delta_stream.h"

#include <grpcpp/server_context.h>

#include <algorithm>
#include <boost/asio/post.hpp>

#include "common/discovery/service_membership.h"
#include "common/log.h"

namespace ambit::discovery::internal {
namespace {

constexpr std::string_view kBearer = "bearer ";

CallerInfo callerOf(grpc::CallbackServerContext& context) {
  CallerInfo caller;
  caller.peer = context.peer();
  caller.unix_socket = std::string_view(caller.peer).starts_with("unix:");
  const auto& metadata = context.client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    std::string value(it->second.data(), it->second.size());
    std::string prefix = value.substr(0, kBearer.size());
    std::transform(prefix.begin(), prefix.end(), prefix.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (prefix == kBearer) caller.bearer_token = value.substr(kBearer.size());
  }
  if (auto auth = context.auth_context(); auth && auth->IsPeerAuthenticated()) {
    for (const grpc::string_ref& id : auth->GetPeerIdentity()) {
      caller.tls_identities.emplace_back(id.data(), id.size());
    }
  }
  return caller;
}

size_t indexOf(config::MeshType type) { return static_cast<size_t>(type); }

}  // namespace

DeltaStream* DeltaStream::begin(StreamHost& host, std::weak_ptr<void> host_alive,
                                Authenticator& authenticator,
                                grpc::CallbackServerContext* context) {
  auto stream = std::make_shared<DeltaStream>(host);
  stream->self_ = stream;
  CallerInfo caller = callerOf(*context);
  stream->peer_ = caller.peer;
  authenticator.authenticate(caller, [stream, host_alive](Result<Principal> principal) {
    // The answer may come on any thread, even after the server is gone.
    auto alive = host_alive.lock();
    if (!alive) return;
    boost::asio::post(stream->host_.streamIo(), [stream, principal = std::move(principal)] {
      std::lock_guard lock(stream->mu_);
      stream->authenticated(std::move(principal));
    });
  });
  return stream.get();
}

void DeltaStream::OnReadDone(bool ok) {
  std::lock_guard lock(mu_);
  readDone(ok);
}
void DeltaStream::OnWriteDone(bool ok) {
  std::lock_guard lock(mu_);
  writeDone(ok);
}
void DeltaStream::OnCancel() {
  std::lock_guard lock(mu_);
  finishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled"));
}
void DeltaStream::OnDone() {
  std::shared_ptr<DeltaStream> self;
  {
    std::lock_guard lock(mu_);
    finished_ = true;
    self = std::move(self_);
  }
  host_.streamEnded(self);
}

std::string DeltaStream::describe() const {
  return fmt::format("node '{}' ({}, {})", node_, principal_ ? principal_->toString() : "?", peer_);
}

void DeltaStream::authenticated(Result<Principal> principal) {
  if (finishing_) return;
  if (!principal) {
    logWarn("discovery stream from {} refused: {}", peer_, principal.error().message);
    host_.streamRefused();
    finishLocked(grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                              "discovery stream refused: " + principal.error().message));
    return;
  }
  principal_ = std::move(*principal);
  host_.streamStarted(shared_from_this());
  startRead();
}

void DeltaStream::startRead() {
  if (finishing_) return;
  request_.Clear();
  StartRead(&request_);
}

void DeltaStream::readDone(bool ok) {
  if (finishing_) return;
  if (!ok) {
    // The client closed its side or went away.
    finishLocked(grpc::Status::OK);
    return;
  }
  handleRequest(request_);
  startRead();
  trySendLocked();
  host_.requested();
}

void DeltaStream::writeDone(bool ok) {
  writing_ = false;
  if (deferred_finish_) {
    finished_ = true;
    Finish(*std::exchange(deferred_finish_, std::nullopt));
    return;
  }
  if (!ok) {
    finishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write to the client failed"));
    return;
  }
  trySendLocked();
}

void DeltaStream::finish(grpc::Status status) {
  std::lock_guard lock(mu_);
  finishLocked(std::move(status));
}

void DeltaStream::finishLocked(grpc::Status status) {
  if (finishing_) return;
  finishing_ = true;
  if (writing_) {
    deferred_finish_ = std::move(status);
    return;
  }
  finished_ = true;
  Finish(std::move(status));
}

void DeltaStream::handleRequest(const v1::DeltaDiscoveryRequest& request) {
  if (node_.empty() && !request.node().empty()) {
    node_ = request.node();
    logInfo("discovery stream from {}", describe());
  }
  for (const std::string& feature : request.client_features()) {
    if (feature == kWorkloadServicesFeature) lean_services_ = true;
  }
  auto type = config::meshTypeFromUrl(request.type_url());
  if (!type) {
    logWarn("discovery stream from {}: {}", describe(), type.error().message);
    finishLocked(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, type.error().message));
    return;
  }
  TypeState& ts = types_[indexOf(*type)];
  if (!request.response_nonce().empty()) acknowledge(*type, request);
  if (!ts.subscribed && (request.subscribe_size() > 0 || request.response_nonce().empty())) {
    // The first subscription: resume from what the client says it holds.
    ts.subscribed = true;
    ts.must_respond = true;
    ts.held.insert(request.initial_versions().begin(), request.initial_versions().end());
    if (request.subscribe_size() == 0) ts.wildcard = true;
  }
  for (const std::string& name : request.subscribe()) {
    if (name == "*") {
      ts.wildcard = true;
    } else {
      ts.names.insert(name);
    }
    ts.clean = false;
  }
  for (const std::string& name : request.unsubscribe()) {
    if (name == "*") {
      ts.wildcard = false;
    } else {
      ts.names.erase(name);
      ts.held.erase(name);
    }
    ts.clean = false;
  }
}

void DeltaStream::acknowledge(config::MeshType type, const v1::DeltaDiscoveryRequest& request) {
  TypeState& ts = types_[indexOf(type)];
  if (request.response_nonce() != ts.pending_nonce) {
    logDebug("discovery stream from {}: stale nonce {} for {}", describe(),
             request.response_nonce(), config::typeName(type));
    return;
  }
  ts.pending_nonce.clear();
  if (request.has_error_detail()) {
    // The client keeps its last good version; resending the same one would fail again.
    logWarn("discovery: {} rejected {} response {}: {}", describe(), config::typeName(type),
            request.response_nonce(), request.error_detail().message());
    host_.nacked(type);
  } else {
    host_.acked(type);
  }
}

std::optional<v1::DeltaDiscoveryResponse> DeltaStream::buildResponse(config::MeshType type) {
  TypeState& ts = types_[indexOf(type)];
  std::shared_ptr<const TypeView> view = host_.store().view(type);
  if (ts.clean && ts.diffed_revision == view->revision && !ts.must_respond) return std::nullopt;
  v1::DeltaDiscoveryResponse response;
  auto add = [&](const std::string& name, const StoredResource& resource) {
    if (!ts.wildcard && ts.names.count(name) == 0) return;
    const bool lean = lean_services_ && !resource.lean_version.empty();
    const std::string& version = lean ? resource.lean_version : resource.version;
    auto held = ts.held.find(name);
    if (held != ts.held.end() && held->second == version) return;
    v1::Resource* out = response.add_resources();
    out->set_name(name);
    out->set_version(version);
    *out->mutable_resource() = lean ? resource.lean_resource : resource.resource;
  };
  // A stream in step with an older revision looks only at what changed since (a push costs
  // the change, not the size of the mesh); otherwise (first answer, resume, NACK, a long way
  // behind) it diffs the whole type.
  std::optional<std::vector<std::string>> changed;
  if (ts.clean && !ts.must_respond) changed = view->changedSince(ts.diffed_revision);
  if (changed) {
    std::sort(changed->begin(), changed->end());
    changed->erase(std::unique(changed->begin(), changed->end()), changed->end());
    for (const std::string& name : *changed) {
      if (const StoredResource* resource = view->find(name)) {
        add(name, *resource);
      } else if (ts.held.count(name) > 0) {
        response.add_removed(name);
      }
    }
  } else {
    view->forEach(add);
    for (const auto& [name, version] : ts.held) {
      if (view->find(name) == nullptr) response.add_removed(name);
    }
  }
  ts.clean = true;
  ts.diffed_revision = view->revision;
  if (response.resources_size() == 0 && response.removed_size() == 0 && !ts.must_respond) {
    return std::nullopt;
  }
  // From now on the client holds these (or, after a NACK, is not sent them again).
  for (const v1::Resource& r : response.resources()) ts.held[r.name()] = r.version();
  for (const std::string& name : response.removed()) ts.held.erase(name);
  ts.must_respond = false;
  ts.pending_nonce = std::to_string(next_nonce_++);
  response.set_type_url(std::string(config::typeUrl(type)));
  response.set_nonce(ts.pending_nonce);
  response.set_system_version(std::to_string(host_.store().systemVersion()));
  return response;
}

void DeltaStream::trySend() {
  std::lock_guard lock(mu_);
  trySendLocked();
}

void DeltaStream::trySendLocked() {
  if (finishing_ || writing_ || !principal_ || !host_.store().ready()) return;
  for (size_t i = 0; i < types_.size(); ++i) {
    size_t index = (next_type_ + i) % types_.size();
    TypeState& ts = types_[index];
    if (!ts.subscribed || !ts.pending_nonce.empty()) continue;
    config::MeshType type = config::kMeshTypes[index];
    std::optional<v1::DeltaDiscoveryResponse> response = buildResponse(type);
    if (!response) continue;
    response_ = std::move(*response);
    writing_ = true;
    next_type_ = (index + 1) % types_.size();
    host_.responded(type);
    StartWrite(&response_);
    return;
  }
}

}  // namespace ambit::discovery::internal
