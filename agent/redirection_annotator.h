#pragma once
// Writes Istio's annotation `ambient.istio.io/redirection: enabled` on the pods this agent
// captures, and removes it when it stops (Kiali and istioctl read it), with a JSON merge patch
// on pods/<name>/status (the agent's RBAC grants patch on pods/status only):
//   {"metadata":{"uid":"<uid>","annotations":{"ambient.istio.io/redirection":"enabled"|null}}}
// The uid in the patch is a precondition: a pod recreated under the same name is not touched
// (the API server refuses to change an immutable uid).
//
// Never blocks enrollment: set() records the wish and returns; one worker per pod applies the
// latest wish. 404 = the pod is gone (done); 409, 429, 5xx and transport errors are retried
// with a capped exponential backoff; other answers (403, 422) are logged and dropped.
//
// Thread: every call on the ApiClient's executor. stop() ends the workers (they exit at their
// next step); the annotator must outlive them (see idle()).

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/kube/api_client.h"

namespace ambit::agent {

inline constexpr const char* kRedirectionAnnotation = "ambient.istio.io/redirection";

struct RedirectionAnnotatorOptions {
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{std::chrono::seconds(30)};
};

struct RedirectionAnnotatorStats {
  uint64_t patched = 0;  // successful writes
  uint64_t gone = 0;     // 404: the pod no longer exists
  uint64_t retries = 0;  // failed attempts that were retried
  uint64_t dropped = 0;  // answers that no retry can fix (403, 422, ...)
  std::string last_error;
};

class RedirectionAnnotator {
 public:
  explicit RedirectionAnnotator(kube::ApiClient& client, RedirectionAnnotatorOptions options = {});

  // The pod should (enabled) or should not carry the annotation.
  void set(const std::string& uid, const std::string& name_space, const std::string& name,
           bool enabled);
  // Forget a pod (deleted): its worker stops without writing.
  void forget(const std::string& uid);
  void stop();

  // No worker is running (safe to destroy).
  bool idle() const { return workers_ == 0; }
  // What was last written for the pod (nullopt: nothing yet).
  std::optional<bool> applied(const std::string& uid) const;
  const RedirectionAnnotatorStats& stats() const { return stats_; }

 private:
  struct Pod {
    std::string name_space, name;
    bool desired = false;
    std::optional<bool> applied;
    bool busy = false;  // a worker is running for it
  };
  enum class Outcome { kDone, kGone, kRetry, kDrop };

  boost::asio::awaitable<void> work(std::string uid);
  boost::asio::awaitable<Outcome> patch(const std::string& uid, const Pod& pod);

  kube::ApiClient& client_;
  RedirectionAnnotatorOptions options_;
  std::map<std::string, Pod> pods_;
  std::map<std::string, std::shared_ptr<boost::asio::steady_timer>> timers_;  // sleeping workers
  int workers_ = 0;
  bool stopped_ = false;
  RedirectionAnnotatorStats stats_;
};

}  // namespace ambit::agent
