#include "common/identity/verify.h"

#include <mutex>

#include "common/identity/svid_rules.h"
#include "common/log.h"

namespace ambit::identity {
namespace {

// Non-owning stack of untrusted certificates (the certificates belong to the caller).
struct X509StackShallowFree {
  void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_free(s); }
};
using X509StackView = std::unique_ptr<STACK_OF(X509), X509StackShallowFree>;

void freeTrustDomain(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<std::string*>(ptr);
}

// SSL_CTX ex_data slot holding the required peer trust domain (a heap std::string).
int trustDomainIndex() {
  static int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, freeTrustDomain);
  return index;
}

Status setCtxTrustDomain(SSL_CTX* ctx, const std::string& td) {
  int idx = trustDomainIndex();
  if (idx < 0) return ossl::opensslError("allocate SSL_CTX ex_data index");
  delete static_cast<std::string*>(SSL_CTX_get_ex_data(ctx, idx));
  auto copy = std::make_unique<std::string>(td);
  if (SSL_CTX_set_ex_data(ctx, idx, copy.get()) != 1) {
    SSL_CTX_set_ex_data(ctx, idx, nullptr);
    return ossl::opensslError("store trust domain on SSL_CTX");
  }
  copy.release();  // freed by freeTrustDomain with the SSL_CTX
  return Status::ok();
}

}  // namespace

Result<ossl::X509StorePtr> buildTrustStore(const std::vector<ossl::X509Ptr>& roots) {
  if (roots.empty()) return makeError("build trust store: no root certificates");
  ossl::X509StorePtr store(X509_STORE_new());
  if (!store) return ossl::opensslError("build trust store");
  for (const auto& root : roots) {
    if (X509_STORE_add_cert(store.get(), root.get()) != 1) {
      return ossl::opensslError("add root to trust store");
    }
  }
  return store;
}

Result<SpiffeId> verifyPeerChain(X509_STORE* store, X509* leaf,
                                 const std::vector<X509*>& intermediates,
                                 const PeerVerifyOptions& options) {
  if (leaf == nullptr) return makeError("peer presented no certificate");
  X509StackView untrusted(sk_X509_new_null());
  if (!untrusted) return ossl::opensslError("verify peer chain");
  for (X509* c : intermediates) {
    if (sk_X509_push(untrusted.get(), c) == 0) return ossl::opensslError("verify peer chain");
  }
  ossl::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store, leaf, untrusted.get()) != 1) {
    return ossl::opensslError("verify peer chain");
  }
  if (options.at) {
    X509_STORE_CTX_set_time(ctx.get(), 0, std::chrono::system_clock::to_time_t(*options.at));
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return ruleError(
        SvidRule::kPathValidation,
        fmt::format("peer certificate chain does not verify: {} (depth {})",
                    X509_verify_cert_error_string(err), X509_STORE_CTX_get_error_depth(ctx.get())));
  }
  return checkPeerSvid(leaf, X509_STORE_CTX_get0_chain(ctx.get()), options.trustDomain);
}

int spiffeVerifyCallback(int preverifyOk, X509_STORE_CTX* storeCtx) {
  if (preverifyOk != 1) return 0;
  if (X509_STORE_CTX_get_error_depth(storeCtx) != 0) return 1;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(storeCtx, SSL_get_ex_data_X509_STORE_CTX_idx()));
  const std::string* td = nullptr;
  if (ssl != nullptr) {
    td = static_cast<const std::string*>(
        SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), trustDomainIndex()));
  }
  auto ok = checkPeerSvid(X509_STORE_CTX_get_current_cert(storeCtx),
                          X509_STORE_CTX_get0_chain(storeCtx), td != nullptr ? *td : "");
  if (!ok) {
    logDebug("rejecting peer certificate: {}", ok.error().message);
    X509_STORE_CTX_set_error(storeCtx, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
  }
  return 1;
}

Status configureMtls(SSL_CTX* ctx, const WorkloadCertificate& cert, const MtlsOptions& options) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
    return ossl::opensslError("restrict SSL_CTX to TLS 1.3");
  }
  if (SSL_CTX_use_certificate(ctx, cert.leaf()) != 1 || SSL_CTX_clear_chain_certs(ctx) != 1) {
    return ossl::opensslError(fmt::format("install certificate for {}", cert.id.toString()));
  }
  for (size_t i = 1; i < cert.chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx, cert.chain[i].get()) != 1) {
      return ossl::opensslError("install intermediate certificate");
    }
  }
  if (SSL_CTX_use_PrivateKey(ctx, cert.key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return ossl::opensslError(fmt::format("install private key for {}", cert.id.toString()));
  }
  auto store = buildTrustStore(cert.roots);
  AMBIT_TRY(store);
  SSL_CTX_set_cert_store(ctx, store->release());  // ctx owns it now
  AMBIT_TRY(setCtxTrustDomain(
      ctx, options.trustDomain.empty() ? cert.id.trustDomain : options.trustDomain));
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, spiffeVerifyCallback);
  return Status::ok();
}

Status checkExpectedPeer(const SpiffeId& peer, const std::vector<SpiffeId>& expected) {
  for (const SpiffeId& id : expected) {
    if (id == peer) return Status::ok();
  }
  std::string want;
  for (const SpiffeId& id : expected) {
    want += want.empty() ? id.toString() : ", " + id.toString();
  }
  return makeError("peer {} is not an expected identity (expected: {})", peer.toString(),
                   want.empty() ? "none" : want);
}

hbone::PeerVerifier spiffePeerVerifier(std::string trustDomain) {
  return [td = std::move(trustDomain)](X509* leaf, STACK_OF(X509) * chain) -> Result<std::string> {
    auto id = checkPeerSvid(leaf, chain, td);
    if (!id) return id.error();
    return id->toString();
  };
}

Result<SpiffeId> peerSpiffeId(const SSL* ssl) {
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer == nullptr) return makeError("peer presented no certificate");
  long result = SSL_get_verify_result(ssl);
  if (result != X509_V_OK) {
    return makeError("peer certificate not verified: {}", X509_verify_cert_error_string(result));
  }
  return spiffeIdFromCertificate(peer);
}

}  // namespace ambit::identity
