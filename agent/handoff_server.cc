#include "agent/handoff_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cerrno>

#include "common/async/accept_loop.h"
#include "common/handoff/handoff_socket.h"
#include "common/log.h"

namespace ambit::agent {

HandoffServer::HandoffServer(std::chrono::milliseconds ack_timeout) : ack_timeout_(ack_timeout) {}

HandoffServer::~HandoffServer() { stop(); }

Status HandoffServer::start(const std::string& socket_path, ServedCallback on_served) {
  on_served_ = std::move(on_served);
  auto listener = handoff::listenSocket(socket_path);
  if (!listener) return listener.error();
  listener_ = std::move(*listener);
  stop_event_ = UniqueFd(::eventfd(0, EFD_CLOEXEC));
  if (!stop_event_) return errnoError("eventfd for hand-off server");
  acceptor_ = std::thread([this] { acceptLoop(); });
  logInfo("hand-off: listening on {}", socket_path);
  return Status::ok();
}

void HandoffServer::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    for (auto& c : connections_) {
      c->closed = true;
      if (c->sock) ::shutdown(c->sock.get(), SHUT_RDWR);
    }
  }
  cv_.notify_all();
  if (stop_event_) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_event_.get(), &one, sizeof(one));
  }
  if (acceptor_.joinable()) acceptor_.join();
  std::list<std::unique_ptr<Connection>> conns;
  {
    std::lock_guard lock(mu_);
    conns.swap(connections_);
  }
  for (auto& c : conns) {
    if (c->sender.joinable()) c->sender.join();
  }
}

void HandoffServer::acceptLoop() {
  AcceptBackoff backoff("hand-off listener");
  for (;;) {
    pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_event_.get(), POLLIN, 0}};
    if (::poll(fds, 2, 1000) < 0 && errno != EINTR) {
      logError("hand-off: poll: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents) return;
    reapClosed();
    if (!(fds[0].revents & POLLIN)) continue;
    UniqueFd sock(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!sock) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      // EMFILE and friends: the listener stays readable; pause (still woken by stop()).
      auto pause =
          backoff.failed(boost::system::error_code(errno, boost::system::system_category()));
      pollfd stop = {stop_event_.get(), POLLIN, 0};
      if (pause.count() > 0) (void)::poll(&stop, 1, static_cast<int>(pause.count()));
      continue;
    }
    backoff.succeeded();
    auto conn = std::make_unique<Connection>();
    conn->sock = std::move(sock);
    std::lock_guard lock(mu_);
    // Snapshot and live changes are queued under one lock, so ordering is exact.
    for (const auto& [uid, pod] : pods_) {
      Item item;
      item.message.set_seq(next_seq_++);
      *item.message.mutable_keep()->mutable_pod() = pod.info;
      item.message.mutable_keep()->set_uid(uid);
      item.fd = pod.netns;
      conn->queue.push_back(std::move(item));
    }
    Item done;
    done.message.set_seq(next_seq_++);
    done.message.mutable_snapshot_done();
    conn->queue.push_back(std::move(done));
    Connection* raw = conn.get();
    connections_.push_back(std::move(conn));
    raw->sender = std::thread([this, raw] { sendLoop(raw); });
    logInfo("hand-off: ztunnel connected, sending snapshot of {} pods", pods_.size());
  }
}

void HandoffServer::reapClosed() {
  std::list<std::unique_ptr<Connection>> dead;
  {
    std::lock_guard lock(mu_);
    for (auto it = connections_.begin(); it != connections_.end();) {
      if ((*it)->closed) {
        dead.push_back(std::move(*it));
        it = connections_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& c : dead) {
    if (c->sender.joinable()) c->sender.join();
  }
}

void HandoffServer::sendLoop(Connection* conn) {
  for (;;) {
    Item item;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return conn->closed || !conn->queue.empty(); });
      if (conn->closed) return;
      item = std::move(conn->queue.front());
      conn->queue.pop_front();
    }
    if (Status st = deliver(conn, item); !st) {
      errors_++;
      logWarn("hand-off: dropping ztunnel connection: {}", st.message());
      std::lock_guard lock(mu_);
      conn->closed = true;
      return;
    }
  }
}

Status HandoffServer::deliver(Connection* conn, Item& item) {
  int fd = item.fd && item.fd->valid() ? item.fd->get() : -1;
  AMBIT_TRY(handoff::sendMessage(conn->sock.get(), item.message, fd));
  auto ack = handoff::receiveAck(conn->sock.get(), ack_timeout_);
  if (!ack)
    return ack.error().context(fmt::format("waiting for ack of seq {}", item.message.seq()));
  if (ack->seq() != item.message.seq()) {
    return makeError("ack for seq {} while waiting for seq {}", ack->seq(), item.message.seq());
  }
  if (!ack->ok()) {
    // The ztunnel refused this pod (e.g. cannot open listeners); keep the connection, count it.
    errors_++;
    logWarn("hand-off: ztunnel rejected seq {}: {}", ack->seq(), ack->error());
    return Status::ok();
  }
  acked_++;
  if (on_served_ && item.message.has_add()) on_served_(item.message.add().pod().uid());
  if (on_served_ && item.message.has_keep()) on_served_(item.message.keep().uid());
  return Status::ok();
}

void HandoffServer::enqueueAll(Item item) {
  for (auto& c : connections_) {
    if (!c->closed) c->queue.push_back(item);
  }
}

void HandoffServer::upsert(HandoffPod pod) {
  {
    std::lock_guard lock(mu_);
    Item item;
    item.message.set_seq(next_seq_++);
    *item.message.mutable_add()->mutable_pod() = pod.info;
    item.fd = pod.netns;
    pods_[pod.info.uid()] = std::move(pod);
    enqueueAll(std::move(item));
  }
  cv_.notify_all();
}

void HandoffServer::remove(const std::string& uid) {
  {
    std::lock_guard lock(mu_);
    if (pods_.erase(uid) == 0) return;
    Item item;
    item.message.set_seq(next_seq_++);
    item.message.mutable_del()->set_uid(uid);
    enqueueAll(std::move(item));
  }
  cv_.notify_all();
}

HandoffStats HandoffServer::stats() const {
  std::lock_guard lock(mu_);
  uint64_t live = 0;
  for (const auto& c : connections_) live += c->closed ? 0 : 1;
  return HandoffStats{live, acked_.load(), errors_.load()};
}

}  // namespace ambit::agent
