#include "ztunnel/tunnel_dialer.h"

namespace ambit::ztunnel {

namespace {

class HboneTunnel final : public Tunnel {
 public:
  explicit HboneTunnel(hbone::HboneStream stream) : stream_(std::move(stream)) {}
  void splice(boost::asio::ip::tcp::socket app, hbone::SpliceDone done) override {
    stream_.splice(std::move(app), std::move(done));
  }

 private:
  hbone::HboneStream stream_;
};

}  // namespace

boost::asio::awaitable<Result<std::unique_ptr<Tunnel>>> PoolTunnelDialer::dial(
    const hbone::Destination& destination, const hbone::TunnelRequest& request) {
  auto stream = co_await pool_.connect(destination, request);
  if (!stream) co_return stream.error();
  co_return std::unique_ptr<Tunnel>(std::make_unique<HboneTunnel>(std::move(*stream)));
}

}  // namespace ambit::ztunnel
