#include "ztunnel/handoff_client.h"

#include "common/handoff/handoff_socket.h"
#include "common/log.h"

namespace ambit::ztunnel {

namespace {
constexpr auto kRetry = std::chrono::milliseconds(200);
constexpr auto kPoll = std::chrono::milliseconds(250);
}  // namespace

HandoffClient::HandoffClient(std::string socket_path, PodSink& sink)
    : path_(std::move(socket_path)), sink_(sink) {}

HandoffClient::~HandoffClient() { stop(); }

void HandoffClient::start() {
  thread_ = std::thread([this] { run(); });
}

void HandoffClient::stop() {
  requestStop();
  if (thread_.joinable()) thread_.join();
}

void HandoffClient::run() {
  bool logged = false;
  while (!stopping_) {
    auto sock = handoff::connectSocket(path_);
    if (!sock) {
      if (!logged) logInfo("hand-off: waiting for the agent: {}", sock.error().message);
      logged = true;
      std::this_thread::sleep_for(kRetry);
      continue;
    }
    logged = false;
    logInfo("hand-off: connected to the agent at {}", path_);
    sink_.snapshotStart();
    Status st = serve(sock->get());
    synced_ = false;
    if (!stopping_) logWarn("hand-off: connection lost ({}), reconnecting", st.message());
  }
}

Status HandoffClient::serve(int sock) {
  while (!stopping_) {
    auto got = handoff::receiveMessage(sock, kPoll);
    if (!got) {
      if (got.error().code == ETIMEDOUT) continue;
      return got.error();
    }
    const v1::HandoffMessage& m = got->message;
    Status applied;
    switch (m.payload_case()) {
      case v1::HandoffMessage::kAdd:
        applied = sink_.addPod(m.add().pod(), std::move(got->fd));
        break;
      case v1::HandoffMessage::kKeep:
        applied = sink_.addPod(m.keep().pod(), std::move(got->fd));
        break;
      case v1::HandoffMessage::kDel:
        applied = sink_.deletePod(m.del().uid());
        break;
      case v1::HandoffMessage::kSnapshotDone:
        sink_.snapshotDone();
        synced_ = true;
        break;
      default:
        applied = makeError("hand-off message seq {} has no payload", m.seq());
    }
    v1::HandoffAck ack;
    ack.set_seq(m.seq());
    ack.set_ok(applied.isOk());
    if (!applied) {
      ack.set_error(applied.message());
      logWarn("hand-off seq {}: {}", m.seq(), applied.message());
    }
    AMBIT_TRY(handoff::sendAck(sock, ack));
  }
  return Status::ok();
}

}  // namespace ambit::ztunnel
