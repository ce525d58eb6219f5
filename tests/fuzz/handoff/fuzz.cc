// Fuzzes the agent <-> ztunnel hand-off protocol (common/handoff/, ztunnel/handoff_client.h)
// through a real SOCK_SEQPACKET socket pair, as the two daemons talk. The input is a sequence
// of packets, each [flags u8][length u16 big-endian][bytes]:
//   flags bit 1 clear: the packet goes to the ztunnel, whose HandoffClient::serve() receives,
//     dispatches (add, keep, delete, snapshot done) and acks it; bit 0 attaches an fd
//     (SCM_RIGHTS), as a pod's netns travels;
//   flags bit 1 set: the packet goes to the agent side, which reads it as a HandoffAck
//     (handoff::receiveAck).
// The ztunnel's pod sink records what it was asked to do and checks what every message must
// carry before it reaches the pod registry.
#include <fcntl.h>
#include <google/protobuf/stubs/logging.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "common/handoff/handoff_socket.h"
#include "common/log.h"
#include "ztunnel/handoff_client.h"

namespace {

using namespace ambit;

class RecordingSink final : public ztunnel::PodSink {
 public:
  Status addPod(const v1::PodInfo& pod, UniqueFd netns) override {
    if (!netns) return makeError("pod {}: hand-off carried no netns fd", pod.uid());
    ++added;
    return Status::ok();
  }
  Status deletePod(const std::string& uid) override {
    (void)uid;
    ++deleted;
    return Status::ok();
  }
  void snapshotStart() override {}
  void snapshotDone() override {}

  int added = 0;
  int deleted = 0;
};

struct SocketPair {
  SocketPair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) abort();
    agent = UniqueFd(fds[0]);
    ztunnel = UniqueFd(fds[1]);
  }
  UniqueFd agent, ztunnel;
};

// Sends one raw packet, optionally with an fd (as handoff::sendMessage does).
void sendRaw(int sock, const std::string& bytes, int fd) {
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  if (::sendmsg(sock, &msg, MSG_NOSIGNAL) < 0) abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ambit::initLogging("fuzz", "off");
  google::protobuf::SetLogHandler(nullptr);  // invalid UTF-8 in string fields is logged
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  SocketPair to_ztunnel;  // agent writes, the ztunnel serves
  SocketPair to_agent;    // the ztunnel's acks as the agent reads them
  UniqueFd netns(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int to_ztunnel_packets = 0;
  size_t off = 0;
  // A SOCK_SEQPACKET pair buffers a few hundred small packets: bound the count.
  for (int packets = 0; off + 3 <= size && packets < 64; ++packets) {
    const uint8_t flags = data[off];
    size_t len = (size_t{data[off + 1]} << 8) | data[off + 2];
    off += 3;
    len = std::min(len, size - off);
    std::string bytes(reinterpret_cast<const char*>(data) + off, len);
    off += len;
    if (flags & 2) {
      sendRaw(to_agent.ztunnel.get(), bytes, -1);
      auto ack = handoff::receiveAck(to_agent.agent.get(), std::chrono::milliseconds(0));
      (void)ack;
    } else {
      sendRaw(to_ztunnel.agent.get(), bytes, (flags & 1) ? netns.get() : -1);
      ++to_ztunnel_packets;
    }
  }
  // The agent is done: the ztunnel serves every queued message, acking each, then sees EOF.
  ::shutdown(to_ztunnel.agent.get(), SHUT_WR);
  RecordingSink sink;
  ztunnel::HandoffClient client("/nonexistent", sink);
  Status ended = client.serve(to_ztunnel.ztunnel.get());
  (void)ended;
  int acks = 0;
  while (handoff::receiveAck(to_ztunnel.agent.get(), std::chrono::milliseconds(0))) ++acks;
  if (acks > to_ztunnel_packets) {
    fprintf(stderr, "%d acks for %d messages\n", acks, to_ztunnel_packets);
    abort();
  }
  return 0;
}
