#include "common/discovery/channel.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <fstream>
#include <sstream>

#include "common/log.h"

namespace ambit::discovery {
namespace {

constexpr std::string_view kWhitespace = " \t\r\n";

Result<std::string> readFile(const std::filesystem::path& file, std::string_view what) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return errnoError(fmt::format("read {} {}", what, file.string()));
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) return errnoError(fmt::format("read {} {}", what, file.string()));
  return content.str();
}

// Adds `authorization: Bearer <token>` to every call, reading the token file each time.
// gRPC runs a blocking plugin on its own thread, so the file read never stalls an event loop.
class BearerTokenPlugin final : public grpc::MetadataCredentialsPlugin {
 public:
  explicit BearerTokenPlugin(std::filesystem::path file) : file_(std::move(file)) {}

  bool IsBlocking() const override { return true; }
  const char* GetType() const override { return "ambit-bearer-token-file"; }

  grpc::Status GetMetadata(grpc::string_ref, grpc::string_ref, const grpc::AuthContext&,
                           std::multimap<grpc::string, grpc::string>* metadata) override {
    auto token = readTokenFile(file_);
    if (!token) {
      logWarn("control-plane call without credentials: {}", token.error().message);
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, token.error().message);
    }
    metadata->emplace("authorization", "Bearer " + *token);
    return grpc::Status::OK;
  }

 private:
  std::filesystem::path file_;
};

}  // namespace

bool isUnixAddress(std::string_view address) { return address.starts_with("unix:"); }

std::string firstHostOfAddressList(std::string_view address) {
  std::string_view list;
  if (address.starts_with("ipv4:")) list = address.substr(5);
  if (address.starts_with("ipv6:")) list = address.substr(5);
  size_t comma = list.find(',');
  if (comma == std::string_view::npos) return "";
  std::string_view first = list.substr(0, comma);
  if (first.starts_with("[")) {  // ipv6:[::1]:15012,...
    size_t close = first.find(']');
    return close == std::string_view::npos ? "" : std::string(first.substr(1, close - 1));
  }
  size_t colon = first.rfind(':');
  return std::string(colon == std::string_view::npos ? first : first.substr(0, colon));
}

Result<std::string> readTokenFile(const std::filesystem::path& file) {
  auto content = readFile(file, "token file");
  if (!content) return content.error();
  std::string& token = *content;
  token.erase(0, token.find_first_not_of(kWhitespace));
  token.erase(token.find_last_not_of(kWhitespace) + 1);
  if (token.empty()) return makeError("token file {} is empty", file.string());
  return std::move(token);
}

Result<std::shared_ptr<grpc::Channel>> makeControlChannel(const ChannelOptions& options,
                                                          grpc::ChannelArguments args) {
  if (options.address.empty()) return makeError("no control-plane address (--discovery-address)");
  if (isUnixAddress(options.address)) {
    return grpc::CreateCustomChannel(options.address, grpc::InsecureChannelCredentials(), args);
  }
  if (options.control_ca.empty()) {
    return makeError(
        "{} is reached over TLS and needs the root certificate it chains to "
        "(--control-ca FILE)",
        options.address);
  }
  auto roots = readFile(options.control_ca, "--control-ca");
  if (!roots) return roots.error();
  if (roots->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return makeError("--control-ca {}: no PEM certificate in the file",
                     options.control_ca.string());
  }
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = std::move(*roots);
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::SslCredentials(ssl);
  if (!options.token_file.empty()) {
    creds = grpc::CompositeChannelCredentials(
        creds, grpc::MetadataCredentialsFromPlugin(
                   std::make_unique<BearerTokenPlugin>(options.token_file)));
  }
  if (!options.server_name.empty()) {
    args.SetSslTargetNameOverride(options.server_name);
  } else if (std::string first = firstHostOfAddressList(options.address); !first.empty()) {
    // gRPC would check the whole list as one name: every replica's certificate must name the
    // first address instead (ambit-control's --server-names lists them all).
    args.SetSslTargetNameOverride(first);
  }
  return grpc::CreateCustomChannel(options.address, creds, args);
}

void setReconnectBackoff(grpc::ChannelArguments& args, std::chrono::milliseconds initial,
                         std::chrono::milliseconds connect_timeout, std::chrono::milliseconds max) {
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, static_cast<int>(initial.count()));
  // gRPC 1.51 takes the minimum connect timeout from this argument (subchannel.cc).
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, static_cast<int>(connect_timeout.count()));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(max.count()));
}

Result<std::shared_ptr<identity::CaClient>> certificateClient(const std::string& ca_address,
                                                              const MeshSourceOptions& o) {
  identity::CaClientOptions ca;
  ca.address = ca_address;
  ca.node = o.node;
  if (!isUnixAddress(ca_address)) {
    ChannelOptions c;
    c.address = ca_address;
    c.control_ca = o.control_ca;
    c.token_file = o.token_file;
    grpc::ChannelArguments args;
    setReconnectBackoff(args, std::chrono::milliseconds(250), std::chrono::seconds(1),
                        std::chrono::seconds(2));
    auto channel = makeControlChannel(c, std::move(args));
    if (!channel) return channel.error().context("--ca-address " + ca_address);
    ca.channel = std::move(*channel);
    ca.wait_for_ready = true;
  }
  return std::make_shared<identity::CaClient>(std::move(ca));
}

}  // namespace ambit::discovery
