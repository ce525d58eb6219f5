// ambit-sample-app: answers every HTTP request with JSON naming the pod and version (see
// request_handler.h for the endpoints). Runs in every lab pod.
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <thread>

#include "common/log.h"
#include "sample-app/http_server.h"

int main(int argc, char** argv) {
  CLI::App app{"ambit-sample-app: HTTP/1.1 echo of pod, version and request headers"};
  uint16_t port = 8080;
  ambit::sample::AppIdentity id{"unknown", "latest"};
  unsigned threads = std::max(1u, std::min(4u, std::thread::hardware_concurrency()));
  std::string log_level = "info";
  app.add_option("--port", port, "TCP port on 0.0.0.0 and [::]")->capture_default_str();
  app.add_option("--pod", id.pod, "pod name reported in responses")->capture_default_str();
  app.add_option("--version", id.version, "version reported in responses")->capture_default_str();
  app.add_option("--threads", threads, "I/O threads")
      ->check(CLI::Range(1u, 64u))
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (!ambit::initLogging("ambit-sample-app", log_level)) {
    fmt::print(stderr, "unknown --log-level '{}'\n", log_level);
    return 2;
  }

  boost::asio::io_context ioc(static_cast<int>(threads));
  ambit::sample::RequestHandler handler(id);
  ambit::sample::HttpServer server(ioc, handler);
  if (ambit::Status s = server.listen(port); !s) {
    ambit::logError("ambit-sample-app: {}", s.message());
    return 1;
  }
  boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) { ioc.stop(); });
  ambit::logInfo("pod {} version {} listening on port {}", id.pod, id.version, server.port());

  std::vector<std::thread> workers;
  for (unsigned i = 1; i < threads; ++i) workers.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& w : workers) w.join();
  return 0;
}
