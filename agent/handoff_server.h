#pragma once
// The agent's side of the pod hand-off (proto/ambit/v1/handoff.proto): it listens on a unix
// SOCK_SEQPACKET socket; every ztunnel that connects first gets the current pod set as PodKeep
// messages (each with the pod's netns fd) and SnapshotDone, then live PodAdd/PodDelete.
// Each message waits for its ack before the next is sent; a ztunnel that does not ack within
// the ack timeout is disconnected (it reconnects and gets a fresh snapshot).
//
// Threads: one accept thread, one sender thread per connected ztunnel. upsert()/remove() are
// thread-safe and return at once; delivery is asynchronous and ordered per ztunnel.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "agent/pod_datapath.h"
#include "ambit/v1/handoff.pb.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace ambit::agent {

struct HandoffPod {
  v1::PodInfo info;
  std::shared_ptr<const UniqueFd> netns;  // shared: every ztunnel connection sends a dup
};

struct HandoffStats {
  uint64_t connected_ztunnels = 0;
  uint64_t messages_acked = 0;
  uint64_t errors = 0;  // nacks, timeouts, send failures
};

class HandoffServer final : public PodHandoff {
 public:
  // Called on a sender thread each time a ztunnel acks a pod (PodAdd/PodKeep) as served, i.e.
  // its listeners are up in the pod's netns.
  using ServedCallback = std::function<void(const std::string& uid)>;

  // The ztunnel acks a pod once its listeners are up and, bounded by 5 s, its certificate is
  // in place: the default leaves room for that wait, so a slow CA does not cause a reconnect.
  explicit HandoffServer(std::chrono::milliseconds ack_timeout = std::chrono::seconds(10));
  ~HandoffServer();
  HandoffServer(const HandoffServer&) = delete;
  HandoffServer& operator=(const HandoffServer&) = delete;

  // on_served may be empty.
  Status start(const std::string& socket_path, ServedCallback on_served = {});
  void stop();

  void upsert(HandoffPod pod) override;
  void remove(const std::string& uid) override;

  HandoffStats stats() const;

 private:
  struct Item {
    v1::HandoffMessage message;
    std::shared_ptr<const UniqueFd> fd;
  };
  struct Connection {
    UniqueFd sock;
    std::deque<Item> queue;
    bool closed = false;
    std::thread sender;
  };

  void acceptLoop();
  void sendLoop(Connection* conn);
  Status deliver(Connection* conn, Item& item);
  void enqueueAll(Item item);  // requires mu_
  void reapClosed();           // requires mu_ not held

  std::chrono::milliseconds ack_timeout_;
  ServedCallback on_served_;
  UniqueFd listener_;
  UniqueFd stop_event_;
  std::thread acceptor_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, HandoffPod> pods_;
  std::list<std::unique_ptr<Connection>> connections_;
  uint64_t next_seq_ = 1;
  bool stopping_ = false;

  std::atomic<uint64_t> acked_{0};
  std::atomic<uint64_t> errors_{0};
};

}  // namespace ambit::agent
