#pragma once
// The ztunnel's side of the pod hand-off: connects to the agent's unix SOCK_SEQPACKET socket
// (retrying while the agent is away), receives PodAdd/PodKeep/PodDelete/SnapshotDone and acks
// each one after the PodSink has applied it (for adds: once the pod's listeners are up).
//
// Thread: one dedicated thread (blocking socket I/O); the PodSink is called on it and is
// responsible for moving work to the data thread.

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "ambit/v1/handoff.pb.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace ambit::ztunnel {

class PodSink {
 public:
  virtual ~PodSink() = default;
  virtual Status addPod(const v1::PodInfo& pod, UniqueFd netns) = 0;
  virtual Status deletePod(const std::string& uid) = 0;
  // Every pod not named since the previous snapshot start is gone.
  virtual void snapshotStart() = 0;
  virtual void snapshotDone() = 0;
};

class HandoffClient {
 public:
  HandoffClient(std::string socket_path, PodSink& sink);
  ~HandoffClient();
  void start();
  // Asks the hand-off thread to stop and returns at once: safe on the data thread, which the
  // hand-off thread may be waiting for (a PodSink call moves its work there).
  void requestStop() { stopping_ = true; }
  // requestStop() and waits for the thread to end. Never on the data thread.
  void stop();
  bool synced() const { return synced_; }  // a full snapshot has been applied
  // Applies and acks the messages on one connected socket until the agent closes it, sending
  // fails, or stop(); run() calls it for each connection (tests/fuzz/handoff drives it alone).
  Status serve(int sock);

 private:
  void run();

  std::string path_;
  PodSink& sink_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> synced_{false};
};

}  // namespace ambit::ztunnel
