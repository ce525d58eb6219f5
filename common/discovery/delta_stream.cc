#include "common/discovery/delta_stream.h"

#include <grpcpp/server_context.h>

#include <algorithm>

#include "common/discovery/service_membership.h"
#include "common/log.h"

namespace ambit::discovery::internal {
namespace {

constexpr std::string_view kBearer = "bearer ";

CallerInfo callerOf(grpc::ServerContext& context) {
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

void DeltaStream::Op::complete(bool ok) { (stream->*handler)(ok); }

DeltaStream::DeltaStream(StreamHost& host, std::weak_ptr<void> host_alive,
                         Authenticator& authenticator)
    : host_(host),
      host_alive_(std::move(host_alive)),
      authenticator_(authenticator),
      io_(&context_),
      accept_op_(this, &DeltaStream::accepted),
      read_op_(this, &DeltaStream::readDone),
      write_op_(this, &DeltaStream::writeDone),
      finish_op_(this, &DeltaStream::finishDone),
      done_op_(this, &DeltaStream::callDone) {}

void DeltaStream::listen(StreamHost& host, std::weak_ptr<void> host_alive, Service& service,
                         grpc::ServerCompletionQueue& cq, Authenticator& authenticator) {
  auto stream = std::make_shared<DeltaStream>(host, std::move(host_alive), authenticator);
  stream->self_ = stream;
  // Delivered once the call is over (finished or cancelled), only for a call that started.
  stream->context_.AsyncNotifyWhenDone(&stream->done_op_);
  service.RequestDeltaStream(&stream->context_, &stream->io_, &cq, &cq, &stream->accept_op_);
}

void DeltaStream::accepted(bool ok) {
  host_.requestReturned();
  if (!ok) {
    // The server is shutting down: no call came, and none will.
    self_.reset();
    return;
  }
  host_.listenNext();
  CallerInfo caller = callerOf(context_);
  peer_ = caller.peer;
  // The answer may come on any thread, even after the server is gone; it keeps the object
  // alive, not the call (a call cancelled meanwhile is released at once).
  authenticator_.authenticate(
      caller, [self = shared_from_this()](Result<Principal> principal) mutable {
        auto alive = self->host_alive_.lock();
        if (!alive) return;
        StreamHost& host = self->host_;
        host.post([self = std::move(self), principal = std::move(principal)]() mutable {
          self->authenticated(std::move(principal));
        });
      });
}

std::string DeltaStream::describe() const {
  return fmt::format("node '{}' ({}, {})", node_, principal_ ? principal_->toString() : "?", peer_);
}

void DeltaStream::authenticated(Result<Principal> principal) {
  if (finishing_ || call_done_) return;
  if (!principal) {
    logWarn("discovery stream from {} refused: {}", peer_, principal.error().message);
    host_.streamRefused();
    finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "discovery stream refused: " + principal.error().message));
    return;
  }
  principal_ = std::move(*principal);
  started_ = true;
  host_.streamStarted(shared_from_this());
  startRead();
}

void DeltaStream::startRead() {
  if (finishing_ || call_done_) return;
  request_.Clear();
  if (host_.startOp([this] { io_.Read(&request_, &read_op_); })) ++in_flight_;
}

void DeltaStream::readDone(bool ok) {
  --in_flight_;
  if (!ok || call_done_) {
    // The client closed its side or went away.
    finish(grpc::Status::OK);
  } else if (!finishing_) {
    handleRequest(request_);
    startRead();
    trySend();
    host_.requested();
  }
  releaseIfIdle();
}

void DeltaStream::writeDone(bool ok) {
  --in_flight_;
  writing_ = false;
  if (deferred_finish_) {
    grpc::Status status = *std::exchange(deferred_finish_, std::nullopt);
    if (host_.startOp([&] { io_.Finish(status, &finish_op_); })) ++in_flight_;
  } else if (!ok) {
    finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write to the client failed"));
  } else {
    trySend();
  }
  releaseIfIdle();
}

void DeltaStream::finishDone(bool) {
  --in_flight_;
  releaseIfIdle();
}

void DeltaStream::callDone(bool) {
  call_done_ = true;
  releaseIfIdle();
}

void DeltaStream::releaseIfIdle() {
  if (!call_done_ || in_flight_ > 0 || !self_) return;
  std::shared_ptr<DeltaStream> self = std::move(self_);  // alive until this returns
  if (started_) host_.streamEnded(self);
}

void DeltaStream::finish(grpc::Status status) {
  if (finishing_) return;
  finishing_ = true;
  if (call_done_) return;  // cancelled: nothing more to send
  if (writing_) {
    deferred_finish_ = std::move(status);
    return;
  }
  if (host_.startOp([&] { io_.Finish(status, &finish_op_); })) ++in_flight_;
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
    finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, type.error().message));
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
  if (finishing_ || call_done_ || writing_ || !principal_ || !host_.store().ready()) return;
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
    host_.responded(type);  // before the client can have it (tests read the count after)
    if (host_.startOp([this] { io_.Write(response_, &write_op_); })) {
      ++in_flight_;
    } else {
      writing_ = false;  // shutting down
    }
    return;
  }
}

}  // namespace ambit::discovery::internal
