#include "common/discovery/client_stream.h"

#include <boost/asio/post.hpp>

namespace ambit::discovery::internal {

ClientStream::ClientStream(boost::asio::io_context& io, ClientStreamEvents events,
                           std::string address)
    : io_(io), events_(std::move(events)), address_(std::move(address)) {}

template <typename F>
void ClientStream::post(F&& f) {
  boost::asio::post(
      io_, [alive = events_.alive, self = shared_from_this(), f = std::forward<F>(f)]() mutable {
        if (alive.lock()) f();
      });
}

void ClientStream::start(v1::DiscoveryService::Stub& stub) {
  self_ = shared_from_this();
  stub.async()->DeltaStream(&context_, this);
  AddHold();
  StartRead(&response_);
  StartCall();
}

void ClientStream::write(v1::DeltaDiscoveryRequest request) {
  if (released_) return;
  queue_.push_back(std::move(request));
  pump();
}

void ClientStream::pump() {
  if (writing_ || released_ || queue_.empty()) return;
  request_ = std::move(queue_.front());
  queue_.pop_front();
  writing_ = true;
  StartWrite(&request_);
}

void ClientStream::release() {
  if (released_) return;
  released_ = true;
  queue_.clear();
  RemoveHold();
}

void ClientStream::waitDone() {
  std::shared_ptr<DoneLatch> latch = done_;
  std::unique_lock lock(latch->mu);
  latch->cv.wait(lock, [&] { return latch->done; });
}

void ClientStream::OnReadDone(bool ok) {
  if (!ok) {
    post([this] { events_.read_ended(this); });
    return;
  }
  v1::DeltaDiscoveryResponse response = std::move(response_);
  response_.Clear();
  StartRead(&response_);
  post([this, response = std::move(response)]() mutable {
    events_.response(this, std::move(response));
  });
}

void ClientStream::OnWriteDone(bool ok) {
  post([this, ok] {
    writing_ = false;
    if (ok) pump();
  });
}

void ClientStream::OnDone(const grpc::Status& status) {
  std::shared_ptr<DoneLatch> latch = done_;
  // The posted handler takes the self-reference: the last reference is dropped on the config
  // thread (or with its io_context), never here. `this` may be gone once it is posted.
  boost::asio::post(io_, [alive = events_.alive, self = std::move(self_), status] {
    if (alive.lock()) self->events_.done(self.get(), status);
  });
  {
    std::lock_guard lock(latch->mu);
    latch->done = true;
  }
  latch->cv.notify_all();
}

}  // namespace ambit::discovery::internal
