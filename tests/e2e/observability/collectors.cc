#include "tests/e2e/observability/collectors.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "tests/support/wait.h"

namespace ambit::e2e {
namespace {

using nlohmann::json;

std::string address(uint16_t port) { return fmt::format("127.0.0.1:{}", port); }

std::string urlEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

}  // namespace

std::optional<std::string> httpInNetns(const std::string& netns, const std::string& url,
                                       const std::string& post_json) {
  test::Command c;
  c.netns = netns;
  c.argv = {"curl", "-sS", "--fail", "--max-time", "10", url};
  // A body goes through a file: stdin is /dev/null and argv has a size limit.
  std::string body_file;
  if (!post_json.empty()) {
    static int counter = 0;
    body_file = fmt::format("/tmp/ambit-obs-e2e-body-{}-{}", ::getpid(), ++counter);
    std::ofstream(body_file) << post_json;
    c.argv.insert(c.argv.end(),
                  {"-H", "Content-Type: application/json", "--data-binary", "@" + body_file});
  }
  auto out = test::run(c, std::chrono::seconds(15));
  if (!body_file.empty()) std::remove(body_file.c_str());
  if (out.exit_code != 0) return std::nullopt;
  return out.out;
}

Status LabPrometheus::start(const std::string& netns, uint16_t port,
                            const std::vector<ScrapeJob>& jobs) {
  netns_ = netns;
  port_ = port;
  dir_.emplace("ambit-prometheus");
  std::ofstream config(dir_->path() / "prometheus.yml");
  config << "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
         << "scrape_configs:\n";
  for (const auto& job : jobs) {
    config << "- job_name: " << job.name << "\n  static_configs:\n  - targets: [";
    for (size_t i = 0; i < job.targets.size(); ++i) {
      config << (i ? ", " : "") << "'" << job.targets[i] << "'";
    }
    config << "]\n";
  }
  config.close();
  test::Command c;
  c.netns = netns;
  c.log_file = (dir_->path() / "prometheus.log").string();
  c.argv = {"/usr/bin/prometheus", "--config.file=" + (dir_->path() / "prometheus.yml").string(),
            "--storage.tsdb.path=" + (dir_->path() / "data").string(),
            "--web.listen-address=" + address(port)};
  AMBIT_TRY(process_.start(c));
  const bool ready = test::eventually(
      [&] { return httpInNetns(netns_, "http://" + address(port_) + "/-/ready").has_value(); },
      std::chrono::seconds(20));
  if (!ready) return makeError("Prometheus did not become ready (log {})", c.log_file);
  return Status::ok();
}

bool LabPrometheus::waitTargetsUp(std::chrono::seconds timeout, std::string& why) {
  return test::eventually(
      [&] {
        auto r = query("up");
        if (!r) {
          why = r.error().message;
          return false;
        }
        why.clear();
        for (const auto& s : *r) {
          if (s["value"][1] != "1") why += s["metric"].value("instance", "?") + " down; ";
        }
        return !r->empty() && why.empty();
      },
      timeout);
}

Result<json> LabPrometheus::query(const std::string& promql) {
  auto body =
      httpInNetns(netns_, "http://" + address(port_) + "/api/v1/query?query=" + urlEncode(promql));
  if (!body) {
    // --fail hides Prometheus's 400 body: ask again without it for the error text.
    test::Command c;
    c.netns = netns_;
    c.argv = {"curl", "-sS", "--max-time", "10",
              "http://" + address(port_) + "/api/v1/query?query=" + urlEncode(promql)};
    return makeError("query failed: {}", test::run(c).out);
  }
  json j = json::parse(*body, nullptr, false);
  if (j.is_discarded() || j.value("status", "") != "success") {
    return makeError("query failed: {}", *body);
  }
  return j["data"]["result"];
}

std::optional<std::string> LabJaeger::binary(std::string& why) {
  const std::string setup = std::string(AMBIT_SOURCE_DIR) + "/scripts/setup-k8s.sh";
  auto check = test::run({"bash", setup, "--check", "jaeger-all-in-one"});
  if (check.exit_code != 0) {
    why = "Jaeger all-in-one is not built (" + check.err +
          "); run scripts/setup-k8s.sh --observability (scripts/test.sh does)";
    return std::nullopt;
  }
  auto dir = test::run({"bash", setup, "--print-bin-dir"});
  std::string bin = dir.out.substr(0, dir.out.find('\n')) + "/jaeger-all-in-one";
  return bin;
}

Status LabJaeger::start(const std::string& binary, const std::string& netns,
                        const JaegerPorts& ports, const std::string& log_file) {
  netns_ = netns;
  ports_ = ports;
  test::Command c;
  c.netns = netns;
  c.log_file = log_file;
  c.env = {"SPAN_STORAGE_TYPE=memory"};
  c.argv = {binary,
            "--memory.max-traces=10000",
            "--collector.otlp.http.host-port=" + address(ports.otlp_http),
            "--collector.otlp.grpc.host-port=" + address(ports.otlp_grpc),
            "--query.http-server.host-port=" + address(ports.query_http),
            "--query.grpc-server.host-port=" + address(ports.query_grpc),
            "--admin.http.host-port=" + address(ports.admin),
            "--collector.http-server.host-port=" + address(ports.collector_http),
            "--collector.grpc-server.host-port=" + address(ports.collector_grpc)};
  if (ports.zipkin != 0) c.argv.push_back("--collector.zipkin.host-port=" + address(ports.zipkin));
  AMBIT_TRY(process_.start(c));
  const bool ready = test::eventually(
      [&] {
        return httpInNetns(netns_, "http://" + address(ports_.query_http) + "/api/services")
            .has_value();
      },
      std::chrono::seconds(30));
  if (!ready) return makeError("Jaeger did not answer on its query port (log {})", log_file);
  return Status::ok();
}

json LabJaeger::trace(const std::string& trace_id) {
  auto body =
      httpInNetns(netns_, "http://" + address(ports_.query_http) + "/api/traces/" + trace_id);
  if (!body) return nullptr;
  json j = json::parse(*body, nullptr, false);
  if (j.is_discarded() || !j.contains("data") || j["data"].empty()) return nullptr;
  return j["data"][0];
}

bool LabJaeger::postOtlp(const std::string& body) {
  return httpInNetns(netns_, "http://" + address(ports_.otlp_http) + "/v1/traces", body)
      .has_value();
}

bool LabJaeger::postZipkin(const std::string& body) {
  return httpInNetns(netns_, "http://" + address(ports_.zipkin) + "/api/v2/spans", body)
      .has_value();
}

}  // namespace ambit::e2e
