#pragma once
// The real collectors the observability e2e test runs against a lab: Prometheus (Debian's
// /usr/bin/prometheus) scraping every mesh daemon, and Jaeger all-in-one (built by
// scripts/setup-k8s.sh --observability) receiving the waypoint's spans. Each runs as a child
// process inside a lab network namespace, on loopback ports of that namespace, and is queried
// over its HTTP API with curl run in the same namespace. Destruction stops the process.

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace ambit::e2e {

// GET (or POST with a body) `url` with curl inside `netns` (a /run/netns path): the body, or
// nullopt when nothing answered 2xx.
std::optional<std::string> httpInNetns(const std::string& netns, const std::string& url,
                                       const std::string& post_json = "");

struct ScrapeJob {
  std::string name;                  // job label
  std::vector<std::string> targets;  // host:port, as seen from the Prometheus netns
};

class LabPrometheus {
 public:
  // Starts Prometheus in `netns` listening on 127.0.0.1:`port`, scraping `jobs` every second.
  // An error when it cannot start or does not answer within 20 s.
  [[nodiscard]] Status start(const std::string& netns, uint16_t port,
                             const std::vector<ScrapeJob>& jobs);
  // Waits until every target has been scraped successfully (up == 1); false at the timeout,
  // with the failing targets in `why`.
  bool waitTargetsUp(std::chrono::seconds timeout, std::string& why);
  // An instant query through /api/v1/query: the result array, or an error naming Prometheus's
  // error when the query failed (a syntax error, say).
  Result<nlohmann::json> query(const std::string& promql);

 private:
  std::string netns_;
  uint16_t port_ = 0;
  std::optional<test::TempDir> dir_;
  test::Subprocess process_;
};

struct JaegerPorts {
  uint16_t zipkin = 0;  // 0: the Zipkin receiver off
  uint16_t otlp_http = 4318;
  uint16_t otlp_grpc = 4317;
  uint16_t query_http = 16686;
  uint16_t query_grpc = 16685;
  uint16_t admin = 14269;
  uint16_t collector_http = 14268;
  uint16_t collector_grpc = 14250;
};

class LabJaeger {
 public:
  // The jaeger-all-in-one binary scripts/setup-k8s.sh built, or nullopt with why not in `why`.
  static std::optional<std::string> binary(std::string& why);
  // Starts jaeger-all-in-one (in-memory storage) in `netns` on 127.0.0.1 `ports`; returns once
  // its query API answers (an error after 30 s).
  [[nodiscard]] Status start(const std::string& binary, const std::string& netns,
                             const JaegerPorts& ports, const std::string& log_file);
  // GET /api/traces/<id>: the trace's first data element (spans, processes), or null.
  nlohmann::json trace(const std::string& trace_id);
  // POST an OTLP/HTTP JSON body to its OTLP receiver / a Zipkin v2 JSON array to its Zipkin one.
  bool postOtlp(const std::string& body);
  bool postZipkin(const std::string& body);

 private:
  std::string netns_;
  JaegerPorts ports_;
  test::Subprocess process_;
};

}  // namespace ambit::e2e
