#pragma once
// Where the Kubernetes API server is and how to authenticate to it, from a kubeconfig file
// (`--kubeconfig`, running outside a cluster) or from the pod's service-account mount
// (in-cluster). A projected service-account token rotates (the kubelet rewrites the file
// before it expires), so the token and the CA bundle are kept as file paths and re-read by
// Credentials, never copied once at start.
//
// No maintained C++ Kubernetes client exists (none in Debian); this one is hand-written on
// the project's own stack: Boost.Beast HTTP/1.1 over Asio + OpenSSL, nlohmann::json, yaml-cpp.

#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>

#include "common/status.h"

namespace ambit::kube {

struct RestConfig {
  std::string host;  // name or IP (no brackets)
  std::string port;  // decimal
  // Trust: PEM text, or a file re-read by Credentials. Both empty: system trust store.
  std::string ca_pem;
  std::filesystem::path ca_file;
  // Client certificate authentication (kubeconfig users with certificate/key).
  std::string client_cert_pem;
  std::string client_key_pem;
  // Bearer token: literal, or a file re-read by Credentials (projected tokens rotate).
  std::string token;
  std::filesystem::path token_file;
  // Where this came from ("kubeconfig /x context y", "in-cluster"), for log lines.
  std::string source;
};

// Parses "https://host[:port]" (IPv6 in brackets). Only https is accepted.
Result<RestConfig> parseServerUrl(std::string_view url);

// Reads a kubeconfig (current-context, or `context` when not empty). Supports
// certificate-authority(-data), client-certificate(-data), client-key(-data), token and
// tokenFile; relative paths are relative to the kubeconfig's directory. Every problem names
// the file and the field.
Result<RestConfig> loadKubeconfig(const std::filesystem::path& path,
                                  const std::string& context = {});

// In-cluster: KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT and the service-account
// directory (token, ca.crt). `sa_dir` is overridable for tests.
Result<RestConfig> inClusterConfig(
    const std::filesystem::path& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// The current token and CA of a RestConfig. Files are re-read when `refresh` has passed since
// the last read, and at once after invalidate() (a 401 from the server). Thread-safe.
class Credentials {
 public:
  explicit Credentials(RestConfig config, std::chrono::seconds refresh = std::chrono::seconds(60));

  const RestConfig& config() const { return config_; }
  // The bearer token to send now (empty when the config has none).
  Result<std::string> token();
  // The CA bundle PEM to trust now (empty: system store).
  Result<std::string> caPem();
  // Forces the next token()/caPem() to re-read the files.
  void invalidate();

 private:
  Result<std::string> cached(const std::filesystem::path& file, const std::string& literal,
                             std::string& value, std::chrono::steady_clock::time_point& read_at);

  RestConfig config_;
  std::chrono::seconds refresh_;
  std::mutex mu_;
  std::string token_, ca_;
  std::chrono::steady_clock::time_point token_read_{}, ca_read_{};
};

}  // namespace ambit::kube
