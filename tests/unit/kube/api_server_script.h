#pragma once
// A scripted HTTPS server on 127.0.0.1:<ephemeral> that stands in for the Kubernetes API server
// in the client's protocol edge-case tests (an in-stream ERROR 410 at a chosen moment, an expired
// continue token, a 401 before a token rotation): sequences a real API server produces only by
// chance. The real kube-apiserver runs in the k8s-labelled tests. Each request is answered by the
// test's handler; an answer may stream watch lines (chunked, like the API server) and stay open.
// Its certificate (IP SAN 127.0.0.1) comes from a throwaway test CA (tests/support/test_pki.h).
// Runs on the test's io_context (single thread).

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/kube/rest_config.h"

namespace ambit::kube::testing {

class ScriptedApiServer {
 public:
  struct Request {
    std::string method, target, authorization, body;
  };
  struct Reply {
    unsigned status = 200;
    std::string body;                // the whole body, unless `lines` is set
    std::vector<std::string> lines;  // a streamed (chunked) body, one watch event per line
    bool hold_open = false;          // after the lines, keep the stream open until stop()
  };
  using Handler = std::function<Reply(const Request&)>;

  ScriptedApiServer(boost::asio::io_context& io, Handler handler);
  ~ScriptedApiServer();

  // Host, port and CA to reach this server.
  RestConfig restConfig() const;
  const std::vector<Request>& requests() const { return requests_; }
  // Closes the listener and every held stream.
  void stop();

 private:
  struct Conn;
  void accept();

  boost::asio::io_context& io_;
  Handler handler_;
  std::string ca_pem_;
  boost::asio::ssl::context tls_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::vector<std::shared_ptr<Conn>> held_;
  std::vector<Request> requests_;
};

}  // namespace ambit::kube::testing
