// ambit-control at cluster scale, against a real kube-apiserver (tests/k8s/cluster): N pods,
// services and AuthorizationPolicies held in the API server, ambit-control started on them,
// node agents' discovery clients connected. Prints one table:
//   - initial sync: process start → /ready (every type listed, first state in the store), and
//     → the first whole mesh at every client;
//   - write → applied: a pod created with kubectl-equivalent API calls → the pod's workload in
//     the mesh of every connected client (the agents' DiscoverySource, whose snapshot is what a
//     node's ztunnel gets through the relay), p50/p99 over --adds pod adds;
//   - ambit-control CPU per API event during those adds (utime+stime / events applied);
//   - the ztunnel's memory for that mesh: a real ambit-ztunnel is not started (it needs a node's
//     capture maps), so the figure is the heap the ztunnel's state takes: the snapshot a client
//     holds plus the prepared configuration (ztunnel::prepareConfig) built from it.
// Not a test: no assertions. Usage (root, K8s binaries built by scripts/setup-k8s.sh):
//   build/bench/control_bench [--pods 10000] [--services 1000] [--policies 1000] [--nodes 10]
//                             [--adds 200] [--ztunnel-thread 1] [--push-debounce-ms N]

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <unordered_set>

#include "common/async/spawn.h"
#include "common/discovery/client.h"
#include "common/discovery/grpc_client_stream.h"
#include "common/kube/api_client.h"
#include "common/kube/rest_config.h"
#include "common/log.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"
#include "ztunnel/ztunnel_config.h"

namespace ambit {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

const std::string kSource = AMBIT_SOURCE_DIR;

struct Args {
  int pods = 10000, services = 1000, policies = 1000, nodes = 10, adds = 200, concurrency = 16;
  int ztunnel_thread = 1;     // node-0 (the one applied as its ztunnel would) on its own thread
  int push_debounce_ms = -1;  // ambit-control's --push-debounce-ms; -1: its default
};

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

long rssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return 0;
}

double cpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  auto close = stat.rfind(')');
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Runs API calls with bounded concurrency on one io_context.
class Api {
 public:
  explicit Api(const std::string& kubeconfig) {
    auto cfg = kube::loadKubeconfig(kubeconfig);
    if (!cfg) throw std::runtime_error(cfg.error().message);
    client_ = std::make_unique<kube::ApiClient>(io_.get_executor(),
                                                std::make_shared<kube::Credentials>(*cfg));
  }
  asio::io_context& io() { return io_; }
  kube::ApiClient& client() { return *client_; }

  // Each job: a list of (verb, path, body) calls run in order; jobs run `concurrency` at a time.
  struct Call {
    http::verb verb;
    std::string path;
    std::function<std::string(const json& previous)> body;  // may use the previous answer
  };
  void run(std::vector<std::vector<Call>> jobs, int concurrency) {
    size_t next = 0, done = 0, failed = 0;
    std::string first_error;
    std::function<void()> launch = [&] {
      if (next >= jobs.size()) return;
      auto* job = &jobs[next++];
      spawn(
          io_,
          [&, job]() -> asio::awaitable<void> {
            json previous;
            for (auto& call : *job) {
              const std::string body = call.body ? call.body(previous) : std::string();
              const std::string path = call.path;
              auto r = co_await client_->request(call.verb, path, body);
              if (!r || (r->status != 200 && r->status != 201)) {
                if (first_error.empty()) {
                  first_error = r ? path + ": HTTP " + std::to_string(r->status) + " " +
                                        r->body.substr(0, 200)
                                  : r.error().message;
                }
                ++failed;
                break;
              }
              previous = json::parse(r->body, nullptr, false);
            }
            ++done;
            launch();
          },
          "bench call");
    };
    for (int i = 0; i < concurrency; ++i) launch();
    while (done < jobs.size()) io_.run_one();
    if (failed > 0) {
      std::fprintf(stderr, "%zu of %zu API jobs failed; first: %s\n", failed, jobs.size(),
                   first_error.c_str());
    }
  }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::unique_ptr<kube::ApiClient> client_;
};

std::string ip(int i) {
  return fmt::format("10.{}.{}.{}", 64 + i / 65536, (i / 256) % 256, i % 256);
}

std::vector<Api::Call> podJob(const std::string& ns, const std::string& name,
                              const std::string& app, const std::string& node, int index) {
  json pod = {{"metadata", {{"name", name}, {"labels", {{"app", app}}}}},
              {"spec",
               {{"nodeName", node},
                {"serviceAccountName", "default"},
                {"containers", {{{"name", "app"}, {"image", "example/app"}}}}}}};
  const std::string base = "/api/v1/namespaces/" + ns + "/pods";
  std::string address = ip(index);
  return {{http::verb::post, base, [pod](const json&) { return pod.dump(); }},
          {http::verb::put, base + "/" + name + "/status", [address](const json& created) {
             json p = created;
             p["status"] = {{"phase", "Running"},
                            {"qosClass", "BestEffort"},
                            {"podIP", address},
                            {"podIPs", {{{"ip", address}}}}};
             return p.dump();
           }}};
}

int run(const Args& a) {
  test::TempDir scratch("ambit-control-bench");
  const std::string root = scratch.file("cluster");
  auto harness = [&](const std::string& args) {
    return test::sh("python3 " + kSource + "/tests/k8s/cluster/cluster.py " + args,
                    std::chrono::minutes(5), true);
  };
  auto up = harness("up --root " + root + " --owner-pid " + std::to_string(getpid()));
  if (up.exit_code != 0) {
    std::fprintf(stderr, "cluster did not start:\n%s\n", up.out.c_str());
    return 1;
  }
  struct Down {
    std::function<void()> f;
    ~Down() { f(); }
  } down{[&] { (void)harness("down --root " + root); }};
  const std::string kubeconfig = root + "/kubeconfig";
  const std::string bin_dir =
      test::sh("bash " + kSource + "/scripts/setup-k8s.sh --print-bin-dir").out;
  auto crds = test::sh(bin_dir.substr(0, bin_dir.find('\n')) + "/kubectl --kubeconfig " +
                           kubeconfig + " apply -f " + kSource + "/deploy/manifests/crds.yaml",
                       std::chrono::minutes(2), true);
  if (crds.exit_code != 0) std::fprintf(stderr, "CRDs: %s\n", crds.out.c_str());

  Api api(kubeconfig);
  const int namespaces = std::max(1, a.services / 100);
  std::vector<std::vector<Api::Call>> jobs;
  for (const char* ns : {"ambit-system"}) {
    jobs.push_back({{http::verb::post, "/api/v1/namespaces", [ns](const json&) {
                       return json{{"metadata", {{"name", ns}}}}.dump();
                     }}});
  }
  for (int n = 0; n < namespaces; ++n) {
    std::string ns = fmt::format("bench-{}", n);
    jobs.push_back(
        {{http::verb::post, "/api/v1/namespaces", [ns](const json&) {
            return json{
                {"metadata", {{"name", ns}, {"labels", {{"istio.io/dataplane-mode", "ambient"}}}}}}
                .dump();
          }}});
  }
  api.run(std::move(jobs), 1);
  jobs = {};
  // No controller-manager runs here: create the "default" service accounts it would.
  for (int n = 0; n < namespaces; ++n) {
    std::string ns = fmt::format("bench-{}", n);
    jobs.push_back(
        {{http::verb::post, "/api/v1/namespaces/" + ns + "/serviceaccounts", [](const json&) {
            return json{{"metadata", {{"name", "default"}}}}.dump();
          }}});
  }
  jobs.push_back(
      {{http::verb::post, "/api/v1/namespaces/ambit-system/serviceaccounts", [](const json&) {
          return json{{"metadata", {{"name", "ambit-agent"}}}}.dump();
        }}});
  api.run(std::move(jobs), 1);
  jobs = {};
  for (int s = 0; s < a.services; ++s) {
    std::string ns = fmt::format("bench-{}", s % namespaces), name = fmt::format("svc-{}", s);
    jobs.push_back(
        {{http::verb::post, "/api/v1/namespaces/" + ns + "/services", [name](const json&) {
            return json{
                {"metadata", {{"name", name}}},
                {"spec",
                 {{"selector", {{"app", name}}}, {"ports", {{{"name", "http"}, {"port", 80}}}}}}}
                .dump();
          }}});
  }
  for (int p = 0; p < a.policies; ++p) {
    std::string ns = fmt::format("bench-{}", p % namespaces), name = fmt::format("policy-{}", p);
    std::string app = fmt::format("svc-{}", p % a.services);
    jobs.push_back(
        {{http::verb::post,
          "/apis/security.istio.io/v1/namespaces/" + ns + "/authorizationpolicies",
          [name, app](const json&) {
            return json{
                {"apiVersion", "security.istio.io/v1"},
                {"kind", "AuthorizationPolicy"},
                {"metadata", {{"name", name}}},
                {"spec",
                 {{"selector", {{"matchLabels", {{"app", app}}}}},
                  {"action", "ALLOW"},
                  {"rules",
                   {{{"from", {{{"source", {{"principals", {"cluster.local/ns/x/sa/y"}}}}}}}}}}}}}
                .dump();
          }}});
  }
  for (int i = 0; i < a.pods; ++i) {
    const int s = i % a.services;
    jobs.push_back(podJob(fmt::format("bench-{}", s % namespaces), fmt::format("pod-{}", i),
                          fmt::format("svc-{}", s), fmt::format("node-{}", i % a.nodes), i));
  }
  auto t_load = Clock::now();
  api.run(std::move(jobs), a.concurrency);
  std::printf("loaded %d pods, %d services, %d policies into the API server in %.1f s\n", a.pods,
              a.services, a.policies, ms(Clock::now() - t_load) / 1000);

  // ambit-control, as a process.
  const int port = 20000 + getpid() % 20000;
  const int mon = port + 1;
  test::Subprocess control;
  auto t_start = Clock::now();
  std::vector<std::string> control_argv = {test::binary("ambit-control"),
                                           "--kubeconfig",
                                           kubeconfig,
                                           "--namespace",
                                           "ambit-system",
                                           "--listen",
                                           fmt::format("127.0.0.1:{}", port),
                                           "--monitoring-address",
                                           "127.0.0.1",
                                           "--monitoring-port",
                                           std::to_string(mon),
                                           "--log-level",
                                           "warn"};
  if (a.push_debounce_ms >= 0) {
    control_argv.insert(control_argv.end(),
                        {"--push-debounce-ms", std::to_string(a.push_debounce_ms)});
  }
  auto started = control.start({.argv = control_argv, .log_file = scratch.file("control.log")});
  if (!started) {
    std::fprintf(stderr, "ambit-control: %s\n", started.message().c_str());
    return 1;
  }
  Clock::duration ready_after{};
  for (int i = 0; i < 6000; ++i) {
    auto r = test::sh(fmt::format("curl -fs -o /dev/null http://127.0.0.1:{}/ready", mon));
    if (r.exit_code == 0) {
      ready_after = Clock::now() - t_start;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (ready_after == Clock::duration{}) {
    std::fprintf(stderr, "ambit-control never became ready; see %s\n",
                 scratch.file("control.log").c_str());
    return 1;
  }

  // The root certificate and agent tokens (one per node, as the node agents hold).
  auto cm = test::sh(bin_dir.substr(0, bin_dir.find('\n')) + "/kubectl --kubeconfig " + kubeconfig +
                     " -n ambit-system get configmap ambit-ca-root-cert -o "
                     "jsonpath='{.data.root-cert\\.pem}'");
  const std::string ca_file = scratch.file("root-cert.pem");
  std::ofstream(ca_file) << cm.out;
  auto token = harness("token --root " + root + " -n ambit-system ambit-agent --audience ambit");
  if (token.exit_code != 0) {
    (void)test::sh(bin_dir.substr(0, bin_dir.find('\n')) + "/kubectl --kubeconfig " + kubeconfig +
                   " -n ambit-system create serviceaccount ambit-agent");
    token = harness("token --root " + root + " -n ambit-system ambit-agent --audience ambit");
  }
  const std::string token_file = scratch.file("token");
  std::ofstream(token_file) << token.out.substr(0, token.out.find('\n'));

  // One discovery client per node. Each sink notes when the pod the bench waits for arrives;
  // node-0's also applies every snapshot as its ztunnel does (prepareConfig), so one node is
  // measured to "applied". Node-0 runs on a config thread of its own (--ztunnel-thread 1, the
  // default): on a real cluster its ztunnel's work runs on its own node, not in the way of the
  // other nodes' agents; the other nine share one thread and take turns, so the spread from the
  // first client to the last shows the clients' own work (a thread each measured no better:
  // 10 clients share 2 vCPUs either way). --ztunnel-thread 0 puts all ten on one thread (the
  // bench before session 8: node-0's prepareConfig then delayed every client behind it).
  std::vector<std::unique_ptr<asio::io_context>> config_ios;
  config_ios.push_back(std::make_unique<asio::io_context>());
  if (a.ztunnel_thread) config_ios.push_back(std::make_unique<asio::io_context>());
  auto ioOf = [&](size_t node) -> asio::io_context& {
    return *config_ios[node == 0 ? 0 : config_ios.size() - 1];
  };
  struct Sink : config::ConfigSink {
    bool apply = false;
    std::mutex mu;
    std::shared_ptr<const v1::MeshSnapshot> last;
    std::string wanted;
    std::optional<Clock::time_point> arrived, applied;
    std::vector<double> apply_ms;
    void publish(std::shared_ptr<const v1::MeshSnapshot> s) override {
      const auto now = Clock::now();
      std::optional<Clock::time_point> done;
      if (apply) {
        auto prepared = ztunnel::prepareConfig(s);
        if (prepared) done = Clock::now();
        apply_ms.push_back(ms(Clock::now() - now));
      }
      std::lock_guard lock(mu);
      last = std::move(s);
      if (wanted.empty() || arrived) return;
      for (const auto& w : last->workloads()) {
        if (w.name() != wanted) continue;
        arrived = now;
        applied = done;
        break;
      }
    }
    void reject(config::ConfigErrors) override {}
    void want(const std::string& pod) {
      std::lock_guard lock(mu);
      wanted = pod;
      arrived.reset();
      applied.reset();
      if (!last) return;
      for (const auto& w : last->workloads()) {
        if (w.name() == pod) arrived = applied = Clock::now();
      }
    }
    std::optional<Clock::time_point> arrival() {
      std::lock_guard lock(mu);
      return arrived;
    }
  };
  std::vector<std::unique_ptr<Sink>> sinks;
  std::vector<std::unique_ptr<discovery::DiscoverySource>> sources;

  for (int n = 0; n < a.nodes; ++n) {
    discovery::DiscoverySourceOptions o;
    o.addresses = {fmt::format("127.0.0.1:{}", port)};
    o.streams = discovery::grpcStreams();  // as the agents
    o.server_name = "ambit-control.ambit-system.svc";
    o.control_ca = ca_file;
    o.token_file = token_file;
    o.node = fmt::format("node-{}", n);
    sinks.push_back(std::make_unique<Sink>());
    sinks.back()->apply = n == 0;
    sinks.back()->want("pod-0");
    sources.push_back(std::make_unique<discovery::DiscoverySource>(o));
  }
  for (size_t i = 0; i < sources.size(); ++i) {
    asio::post(ioOf(i), [&, i] {
      if (auto st = sources[i]->start(ioOf(i), *sinks[i]); !st) {
        std::fprintf(stderr, "discovery client: %s\n", st.message().c_str());
      }
    });
  }
  std::vector<std::thread> config_threads;
  for (auto& io : config_ios) {
    config_threads.emplace_back([io = io.get()] {
      auto work = asio::make_work_guard(*io);
      io->run();
    });
  }
  // Waits until every sink has the wanted pod; the latest arrival, or nothing after `limit`.
  auto wait_all = [&](std::chrono::seconds limit) -> std::optional<Clock::time_point> {
    auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      std::optional<Clock::time_point> latest;
      bool all = true;
      for (auto& sink : sinks) {
        auto t = sink->arrival();
        if (!t) {
          all = false;
          break;
        }
        latest = std::max(latest.value_or(*t), *t);
      }
      if (all) return latest;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return std::nullopt;
  };
  const bool synced = wait_all(std::chrono::seconds(120)).has_value();
  if (!synced) std::fprintf(stderr, "the clients never received the whole mesh\n");
  const auto clients_synced = Clock::now() - t_start;
  {
    std::lock_guard lock(sinks[0]->mu);
    sinks[0]->apply_ms.clear();  // the whole-mesh applies of the initial sync
  }

  // ambit-control's own cost with nothing changing (10 streams, the watches, timers): part of
  // what each event below is charged with, reported on its own.
  const pid_t cpid = control.pid();
  constexpr auto kIdleWindow = std::chrono::seconds(5);
  const double idle0 = cpuSeconds(cpid);
  std::this_thread::sleep_for(kIdleWindow);
  const double idle_cpu_per_s =
      (cpuSeconds(cpid) - idle0) / std::chrono::duration<double>(kIdleWindow).count();

  // Pod adds, one at a time: write → in every client's mesh.
  const auto adds_start = Clock::now();
  const double cpu0 = cpuSeconds(cpid);
  auto responses = [&] {
    uint64_t n = 0;
    for (auto& source : sources) n += source->status()->get().responses;
    return n;
  };
  const uint64_t responses0 = responses();
  // total; the API writes; to the first client; applied in node-0's ztunnel
  std::vector<double> lat, write_lat, first_lat, applied_lat;
  for (int i = 0; i < a.adds; ++i) {
    const int index = a.pods + i;
    const int s = index % a.services;
    const std::string name = fmt::format("added-{}", i);
    for (auto& sink : sinks) sink->want(name);
    auto t0 = Clock::now();
    api.run({podJob(fmt::format("bench-{}", s % namespaces), name, fmt::format("svc-{}", s),
                    fmt::format("node-{}", i % a.nodes), index)},
            1);
    write_lat.push_back(ms(Clock::now() - t0));
    auto last = wait_all(std::chrono::seconds(10));
    if (!last) {
      std::fprintf(stderr, "pod %s did not reach every client within 10 s; stopping\n",
                   name.c_str());
      break;
    }
    Clock::time_point first = *last;
    for (auto& sink : sinks) first = std::min(first, *sink->arrival());
    first_lat.push_back(ms(first - t0));
    lat.push_back(ms(*last - t0));
    std::lock_guard lock(sinks[0]->mu);
    if (sinks[0]->applied) applied_lat.push_back(ms(*sinks[0]->applied - t0));
  }
  const double cpu = cpuSeconds(cpid) - cpu0;
  const double adds_seconds = std::chrono::duration<double>(Clock::now() - adds_start).count();
  const uint64_t responses_during = responses() - responses0;
  const long control_rss_kb = rssKb(cpid);
  auto pctOf = [](std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
  };
  auto pct = [&](double p) { return pctOf(lat, p); };
  std::vector<double> apply_ms;
  {
    std::lock_guard lock(sinks[0]->mu);
    apply_ms = sinks[0]->apply_ms;
  }

  // The ztunnel's prepared state for this mesh.
  std::shared_ptr<const v1::MeshSnapshot> mesh;
  {
    std::lock_guard lock(sinks[0]->mu);
    mesh = sinks[0]->last;
  }
  // Heap bytes in use (mallinfo2) before and after, with the prepared config alive: RSS would
  // hide it in memory this process freed earlier.
  const size_t heap0 = mallinfo2().uordblks;
  auto prepared =
      mesh ? ztunnel::prepareConfig(mesh) : Result<ztunnel::ZtunnelConfig>(makeError("no mesh"));
  const size_t heap1 = mallinfo2().uordblks;
  const size_t mesh_bytes = mesh ? mesh->ByteSizeLong() : 0;

  for (size_t i = 0; i < sources.size(); ++i) {
    asio::post(ioOf(i), [&, i] { sources[i].reset(); });
  }
  for (auto& io : config_ios) asio::post(*io, [io = io.get()] { io->stop(); });
  for (auto& t : config_threads) t.join();
  control.stop();

  std::printf("\n| measure | value | goal |\n|---|---:|---|\n");
  std::printf("| mesh | %d pods, %d services, %d policies, %d nodes | |\n", a.pods, a.services,
              a.policies, a.nodes);
  std::printf("| clients' config threads | %s | |\n",
              a.ztunnel_thread ? "node-0 (applies) alone, the others on one" : "all on one");
  std::printf("| ambit-control --push-debounce-ms | %s | |\n",
              a.push_debounce_ms >= 0 ? std::to_string(a.push_debounce_ms).c_str() : "default");
  std::printf("| initial sync: start → /ready | %.0f ms | ≤ 5000 ms |\n", ms(ready_after));
  std::printf("| initial sync: start → whole mesh at all %d clients | %s | |\n", a.nodes,
              synced ? fmt::format("{:.0f} ms", ms(clients_synced)).c_str() : "not reached");
  std::printf("| pod add → in every client's mesh, p50 | %.1f ms | |\n", pct(0.50));
  std::printf("| pod add → in every client's mesh, p99 | %.1f ms | ≤ 100 ms |\n", pct(0.99));
  std::printf("| of which the two API writes (create, status), p50 / p99 | %.1f / %.1f ms | |\n",
              pctOf(write_lat, 0.5), pctOf(write_lat, 0.99));
  std::printf("| pod add → in the first client's mesh, p50 / p99 | %.1f / %.1f ms | |\n",
              pctOf(first_lat, 0.5), pctOf(first_lat, 0.99));
  std::printf(
      "| pod add → applied in node-0's ztunnel (prepareConfig), p50 / p99 | %.1f / %.1f ms | ≤ 100 "
      "ms |\n",
      pctOf(applied_lat, 0.5), pctOf(applied_lat, 0.99));
  std::printf(
      "| of which one ztunnel's prepareConfig of the whole mesh, p50 / p99 | %.1f / %.1f ms | |\n",
      pctOf(apply_ms, 0.5), pctOf(apply_ms, 0.99));
  std::printf("| adds measured | %zu of %d | |\n", lat.size(), a.adds);
  // Each add is two API events (create, status update).
  std::printf("| ambit-control CPU per API event | %.3f ms | ≤ 1 ms |\n",
              lat.empty() ? 0.0 : cpu * 1000 / (2.0 * a.adds));
  std::printf(
      "| of which its idle cost over the adds (%.1f ms CPU per s idle × %.1f s) | %.3f ms | |\n",
      idle_cpu_per_s * 1000, adds_seconds,
      lat.empty() ? 0.0 : idle_cpu_per_s * adds_seconds * 1000 / (2.0 * a.adds));
  std::printf("| discovery responses per pod add, per client | %.2f | |\n",
              lat.empty() ? 0.0
                          : static_cast<double>(responses_during) /
                                (static_cast<double>(lat.size()) * static_cast<double>(a.nodes)));
  std::printf("| ambit-control RSS | %.1f MB | |\n", static_cast<double>(control_rss_kb) / 1024);
  std::printf("| mesh snapshot (serialized) | %.1f MB | |\n",
              static_cast<double>(mesh_bytes) / 1e6);
  std::printf("| ztunnel: mesh snapshot + prepared config (heap) | %s | ≤ 50 MB |\n",
              prepared
                  ? fmt::format("{:.1f} MB",
                                static_cast<double>(heap1 - heap0 + mesh->SpaceUsedLong()) / 1e6)
                        .c_str()
                  : prepared.error().message.c_str());
  return 0;
}

}  // namespace
}  // namespace ambit

int main(int argc, char** argv) {
  ambit::Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    int v = std::atoi(argv[i + 1]);
    if (flag == "--pods")
      a.pods = v;
    else if (flag == "--services")
      a.services = v;
    else if (flag == "--policies")
      a.policies = v;
    else if (flag == "--nodes")
      a.nodes = v;
    else if (flag == "--adds")
      a.adds = v;
    else if (flag == "--concurrency")
      a.concurrency = v;
    else if (flag == "--ztunnel-thread")
      a.ztunnel_thread = v;
    else if (flag == "--push-debounce-ms")
      a.push_debounce_ms = v;
    else {
      std::fprintf(stderr, "unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  ambit::initLogging("bench", "warn");
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  return ambit::run(a);
}
