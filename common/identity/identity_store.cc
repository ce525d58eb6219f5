#include "common/identity/identity_store.h"

#include "common/identity/verify.h"
#include "common/log.h"

namespace ambit::identity {

namespace ssl = boost::asio::ssl;

IdentityStore::IdentityStore(boost::asio::io_context& io, std::shared_ptr<CertificateFetcher> ca,
                             CertificateManagerOptions options, std::string trust_domain)
    : trust_domain_(std::move(trust_domain)) {
  manager_ = CertificateManager::create(
      io.get_executor(), std::move(ca), std::move(options),
      [this](const SpiffeId& id, std::shared_ptr<const WorkloadCertificate> c) {
        onRotate(id, std::move(c));
      });
}

IdentityStore::~IdentityStore() { manager_->stop(); }

void IdentityStore::acquire(const SpiffeId& id) {
  std::string key = id.toString();
  if (refs_[key]++ > 0) return;
  auto tls = std::make_shared<IdentityTls>();
  tls->client = std::make_shared<ssl::context>(ssl::context::tls_client);
  tls->server = std::make_shared<ssl::context>(ssl::context::tls_server);
  if (Status st = hbone::configureClientContext(tls->client->native_handle()); !st) {
    logError("identity {}: client TLS context: {}", key, st.message());
  }
  if (Status st = hbone::configureServerContext(tls->server->native_handle()); !st) {
    logError("identity {}: server TLS context: {}", key, st.message());
  }
  contexts_[key] = tls;
  manager_->track(id);
}

void IdentityStore::release(const SpiffeId& id) {
  std::string key = id.toString();
  auto it = refs_.find(key);
  if (it == refs_.end() || --it->second > 0) return;
  refs_.erase(it);
  contexts_.erase(key);
  manager_->untrack(id);
  if (observer_) observer_(key, std::nullopt);
}

void IdentityStore::onRotate(const SpiffeId& id, std::shared_ptr<const WorkloadCertificate> cert) {
  auto it = contexts_.find(id.toString());
  if (it == contexts_.end()) return;
  MtlsOptions mtls{trust_domain_};
  for (auto* ctx : {it->second->client.get(), it->second->server.get()}) {
    if (Status st = configureMtls(ctx->native_handle(), *cert, mtls); !st) {
      logError("identity {}: installing rotated certificate: {}", id.toString(), st.message());
      return;
    }
  }
  it->second->cert = cert;
  ++rotations_;
  if (observer_) observer_(id.toString(), cert->notAfter);
  logInfo("identity {}: certificate installed, valid until {}s from now", id.toString(),
          std::chrono::duration_cast<std::chrono::seconds>(cert->notAfter -
                                                           std::chrono::system_clock::now())
              .count());
}

std::shared_ptr<IdentityTls> IdentityStore::tls(const std::string& spiffe_id) {
  auto it = contexts_.find(spiffe_id);
  return it == contexts_.end() ? nullptr : it->second;
}

bool IdentityStore::ready(const std::string& spiffe_id) const {
  auto it = contexts_.find(spiffe_id);
  return it != contexts_.end() && it->second->cert != nullptr;
}

hbone::PeerVerifier IdentityStore::peerVerifier() const {
  return spiffePeerVerifier(trust_domain_);
}

std::map<std::string, std::shared_ptr<const WorkloadCertificate>> IdentityStore::certificates()
    const {
  std::map<std::string, std::shared_ptr<const WorkloadCertificate>> out;
  for (const auto& [id, tls] : contexts_) out[id] = tls->cert;
  return out;
}

}  // namespace ambit::identity
