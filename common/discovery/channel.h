#pragma once
// The gRPC channel every client of ambit-control uses (DiscoverySource, CaClient, the agent's
// CSR proxy), built from the flags in docs/kubernetes.md ("The contract the chart follows"):
//
//   --discovery-address unix:/path   plaintext over a local unix socket (the agent's relay and
//                                     CA socket; the socket's file mode keeps others out)
//   --discovery-address host:port     TLS to ambit-control: the server's chain is verified
//   (or dns:///host:port)             against --control-ca and its name against `host`
//   --token-file FILE                 sent as `authorization: Bearer <token>` on every call
//                                     over TLS; read afresh for each call, since projected
//                                     service-account tokens rotate
//
// Thread-safe; the channel may be shared by any number of stubs.

#include <grpcpp/channel.h>
#include <grpcpp/support/channel_arguments.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "common/discovery/mesh_source.h"
#include "common/identity/ca_client.h"
#include "common/status.h"

namespace ambit::discovery {

struct ChannelOptions {
  std::string address;               // "unix:/path", "host:port" or "dns:///host:port"
  std::filesystem::path control_ca;  // root PEM; required for a TLS address
  std::filesystem::path token_file;  // optional; ignored on a unix socket
  std::string server_name;           // optional: name checked instead of the address's host
};

// True for a "unix:" address (plaintext), false for one reached over TLS.
bool isUnixAddress(std::string_view address);

// For a gRPC address list ("ipv4:10.0.0.1:15012,10.0.0.2:15012", "ipv6:[::1]:15012,[::2]:15012"),
// the host of its first address: the TLS name checked on every replica. "" for a single address.
std::string firstHostOfAddressList(std::string_view address);

// Reads a bearer token file: its content without surrounding whitespace. Fails, naming the
// file, when it cannot be read or is empty.
Result<std::string> readTokenFile(const std::filesystem::path& file);

// A channel to ambit-control. `args` are passed through (e.g. the load-balancing policy or
// reconnect backoff). Fails when the options are inconsistent (TLS without a CA, an unreadable
// or non-PEM CA file): the message names the flag and the file.
Result<std::shared_ptr<grpc::Channel>> makeControlChannel(
    const ChannelOptions& options, grpc::ChannelArguments args = grpc::ChannelArguments());

// gRPC's reconnect backoff for a channel to ambit-control: the first retry after `initial`,
// growing to `max`. Each connection attempt is bounded by `connect_timeout` (or the current
// backoff, if longer); gRPC's own default is 20 s, so one SYN to a replica that has just gone
// (kube-proxy keeps a half-open connection's NAT to it) would hold every call on the channel
// for 20 s, where a new attempt picks a live replica.
void setReconnectBackoff(grpc::ChannelArguments& args, std::chrono::milliseconds initial,
                         std::chrono::milliseconds connect_timeout, std::chrono::milliseconds max);

// A CertificateService client for `ca_address`: a local unix socket, or ambit-control over TLS
// with the token (--control-ca and --token-file of `options`, as for discovery). Calls to
// ambit-control wait for the channel within their deadline (a control-plane roll); each
// connection attempt gives up after 1 s (up to 2 s as the backoff grows) and the next follows.
Result<std::shared_ptr<identity::CaClient>> certificateClient(const std::string& ca_address,
                                                              const MeshSourceOptions& options);

}  // namespace ambit::discovery
