#pragma once
// The agent -> ztunnel pod hand-off transport (proto/ambit/v1/handoff.proto).
//
// One protobuf message per SOCK_SEQPACKET packet on a unix socket; a pod's netns fd travels
// beside PodAdd/PodKeep as SCM_RIGHTS. The agent listens; each ztunnel connects, receives the
// current snapshot (PodAdd... then SnapshotDone), then live changes. Every message is answered
// with a HandoffAck carrying the same seq before the agent sends the next one.
//
// These are blocking helpers on a socket the caller owns; callers run them off data threads
// (the agent's control thread; the ztunnel's hand-off thread).

#include <chrono>
#include <string>

#include "ambit/v1/handoff.pb.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace ambit::handoff {

inline constexpr std::size_t kMaxPacketBytes = 64 * 1024;

struct Received {
  v1::HandoffMessage message;
  UniqueFd fd;  // the attached netns fd, when the message carries one
};

// Creates, binds and listens on a SOCK_SEQPACKET unix socket at `path` (replacing a stale
// socket file; the parent directory is created).
Result<UniqueFd> listenSocket(const std::string& path);
// Connects to the agent's socket.
Result<UniqueFd> connectSocket(const std::string& path);

Status sendMessage(int sock, const v1::HandoffMessage& msg, int fd_to_pass = -1);
// Waits up to `timeout` (negative: forever). A closed peer is an error with code EPIPE.
Result<Received> receiveMessage(int sock, std::chrono::milliseconds timeout);

Status sendAck(int sock, const v1::HandoffAck& ack);
Result<v1::HandoffAck> receiveAck(int sock, std::chrono::milliseconds timeout);

}  // namespace ambit::handoff
