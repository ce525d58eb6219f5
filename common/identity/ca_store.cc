// EmbeddedCa persistence: create the root on first start, load and check it afterwards.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "common/identity/ca.h"
#include "common/identity/pem.h"
#include "common/identity/svid_rules.h"
#include "common/identity/x509_builder.h"
#include "common/log.h"
#include "common/unique_fd.h"

namespace ambit::identity {
namespace {

namespace fs = std::filesystem;

std::string rootCommonName(const std::string& trustDomain) { return "ambit root " + trustDomain; }

Status writeAll(int fd, std::string_view data, const fs::path& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errnoError(fmt::format("write {}", path.string()));
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::ok();
}

// Temp file in the same directory, fsync, rename over path, fsync the directory.
Status writeFileAtomic(const fs::path& path, std::string_view data, mode_t mode) {
  fs::path tmp = path;
  tmp += ".tmp";
  ::unlink(tmp.c_str());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd) return errnoError(fmt::format("create {}", tmp.string()));
  if (::fchmod(fd.get(), mode) != 0) return errnoError(fmt::format("chmod {}", tmp.string()));
  AMBIT_TRY(writeAll(fd.get(), data, tmp));
  if (::fsync(fd.get()) != 0) return errnoError(fmt::format("fsync {}", tmp.string()));
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return errnoError(fmt::format("rename {} to {}", tmp.string(), path.string()));
  }
  UniqueFd dir(::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir) ::fsync(dir.get());
  return Status::ok();
}

Result<std::string> readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return errnoError(fmt::format("read {}", path.string()));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<std::string> commonName(const X509* cert) {
  const X509_NAME* subject = X509_get_subject_name(cert);
  int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (idx < 0) return makeError("no CN in subject");
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     static_cast<size_t>(ASN1_STRING_length(data)));
}

struct RootMaterial {
  ossl::EvpPkeyPtr key;
  ossl::X509Ptr cert;
};

Result<RootMaterial> generateRoot(const EmbeddedCaOptions& o) {
  auto key = generateP256Key();
  AMBIT_TRY(key);
  auto now = o.clock();
  auto cert = x509::newCertificate(key->get(), now - std::chrono::minutes(1), now + o.rootValidity);
  AMBIT_TRY(cert);
  auto name = x509::makeName({{"O", "ambit"}, {"CN", rootCommonName(o.trustDomain)}});
  AMBIT_TRY(name);
  X509* c = cert->get();
  if (X509_set_subject_name(c, name->get()) != 1 || X509_set_issuer_name(c, name->get()) != 1) {
    return ossl::opensslError("set root names");
  }
  AMBIT_TRY(x509::addExtension(c, c, NID_basic_constraints, "critical,CA:TRUE"));
  AMBIT_TRY(x509::addExtension(c, c, NID_key_usage, "critical,keyCertSign,cRLSign"));
  AMBIT_TRY(x509::addExtension(c, c, NID_subject_key_identifier, "hash"));
  AMBIT_TRY(x509::addExtension(c, c, NID_authority_key_identifier, "keyid:always"));
  // X509-SVID §3.2: a signing certificate SHOULD be an SVID, its id the trust domain's (no path).
  AMBIT_TRY(x509::addUriSan(c, "spiffe://" + o.trustDomain));
  AMBIT_TRY(x509::signSha256(c, key->get()));
  AMBIT_TRY(checkSigningCertificate(c, "generated CA root"));
  return RootMaterial{std::move(*key), std::move(*cert)};
}

Status persistRoot(const fs::path& dir, const RootMaterial& root, const std::string& certPem) {
  auto keyPem = privateKeyToPem(root.key.get());
  AMBIT_TRY(keyPem);
  // Key first: a crash in between leaves a key without a cert, reported on the next start.
  AMBIT_TRY(writeFileAtomic(dir / EmbeddedCa::kKeyFile, *keyPem, 0600));
  return writeFileAtomic(dir / EmbeddedCa::kCertFile, certPem, 0644);
}

Result<RootMaterial> loadRoot(const EmbeddedCaOptions& o, const fs::path& keyPath,
                              const fs::path& certPath) {
  auto keyPem = readFile(keyPath);
  AMBIT_TRY(keyPem);
  auto key = parsePrivateKeyPem(*keyPem);
  if (!key) return key.error().context(fmt::format("CA key file {} is corrupt", keyPath.string()));
  auto certPem = readFile(certPath);
  AMBIT_TRY(certPem);
  auto cert = parseCertificatePem(*certPem);
  if (!cert) {
    return cert.error().context(fmt::format("CA cert file {} is corrupt", certPath.string()));
  }
  if (EVP_PKEY_eq(X509_get0_pubkey(cert->get()), key->get()) != 1) {
    ERR_clear_error();
    return makeError("CA key file {} does not match CA cert file {}; restore the matching pair",
                     keyPath.string(), certPath.string());
  }
  auto cn = commonName(cert->get());
  if (!cn || *cn != rootCommonName(o.trustDomain)) {
    return makeError("CA cert file {} is not a root for trust domain '{}' (subject CN '{}')",
                     certPath.string(), o.trustDomain, cn ? *cn : "");
  }
  if (auto s = requireP256(key->get(), fmt::format("CA key file {}", keyPath.string())); !s) {
    return s.error();
  }
  AMBIT_TRY(
      checkSigningCertificate(cert->get(), fmt::format("CA cert file {}", certPath.string())));
  if (x509::notAfter(cert->get()) <= o.clock()) {
    logWarn("CA root {} has expired; issued certificates will not verify", certPath.string());
  }
  return RootMaterial{std::move(*key), std::move(*cert)};
}

}  // namespace

Result<CaMaterial> EmbeddedCa::generateMaterial(const EmbeddedCaOptions& options) {
  AMBIT_TRY(validateTrustDomain(options.trustDomain));
  auto root = generateRoot(options);
  AMBIT_TRY(root);
  auto keyPem = privateKeyToPem(root->key.get());
  AMBIT_TRY(keyPem);
  auto certPem = certificateToPem(root->cert.get());
  AMBIT_TRY(certPem);
  return CaMaterial{std::move(*keyPem), *certPem, "", *certPem};
}

EmbeddedCa::EmbeddedCa(EmbeddedCaOptions options, ossl::EvpPkeyPtr key, ossl::X509Ptr root,
                       std::string rootPem, bool created, std::vector<std::string> intermediatesPem)
    : options_(std::move(options)),
      key_(std::move(key)),
      root_(std::move(root)),
      rootPem_(std::move(rootPem)),
      created_(created),
      intermediatesPem_(std::move(intermediatesPem)) {}

Result<std::unique_ptr<EmbeddedCa>> EmbeddedCa::openOrCreate(EmbeddedCaOptions o) {
  AMBIT_TRY(validateTrustDomain(o.trustDomain));
  std::error_code ec;
  fs::create_directories(o.stateDir, ec);
  if (ec) return makeError("create CA state dir {}: {}", o.stateDir.string(), ec.message());
  fs::path keyPath = o.stateDir / kKeyFile;
  fs::path certPath = o.stateDir / kCertFile;
  bool haveKey = fs::exists(keyPath, ec);
  bool haveCert = fs::exists(certPath, ec);
  if (haveKey != haveCert) {
    return makeError(
        "CA state incomplete: {} exists but {} is missing; restore it, or remove "
        "both to create a new root (every workload must then trust the new root)",
        (haveKey ? keyPath : certPath).string(), (haveKey ? certPath : keyPath).string());
  }
  auto root = haveKey ? loadRoot(o, keyPath, certPath) : generateRoot(o);
  AMBIT_TRY(root);
  auto pem = certificateToPem(root->cert.get());
  AMBIT_TRY(pem);
  if (!haveKey) {
    AMBIT_TRY(persistRoot(o.stateDir, *root, *pem));
    logInfo("created CA root for trust domain {} in {}", o.trustDomain, o.stateDir.string());
  }
  return std::unique_ptr<EmbeddedCa>(new EmbeddedCa(
      std::move(o), std::move(root->key), std::move(root->cert), std::move(*pem), !haveKey));
}

}  // namespace ambit::identity
