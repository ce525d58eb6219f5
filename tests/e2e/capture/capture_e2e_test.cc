// Issue 3, traffic cases: outbound capture of arbitrary IPv4/IPv6 destinations, two pods on
// the same source port, de-enrollment restoring the direct path within 1 s, and inbound
// plaintext steered to the destination's 15006 listener (PeerAuthentication STRICT denies it;
// probes from the node keep working), and source preservation: the app sees the client's own
// IP over HBONE and steered plaintext, so an app bound only to its pod IP works, thanks to the
// agent's reply routing in each enrolled pod netns.
#include <gmock/gmock.h>
#include <signal.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "tests/e2e/capture/capture_lab.h"
#include "tests/support/observability.h"

namespace ambit::e2e {
namespace {

using testing::HasSubstr;
using testing::StartsWith;
using namespace std::chrono_literals;

class CaptureTest : public CaptureLabTest {
 protected:
  // node's ztunnel has logged an access record with every field of `want`.
  static bool hasAccessRecord(const std::string& node, const test::AccessRecord& want) {
    return !test::matchingAccessRecords(ztunnelLog(node), want).empty();
  }
};

constexpr const char* kOpened = "istio_tcp_connections_opened_total";

TEST_F(CaptureTest, EnrolledPodConnectToServiceVipIsCapturedIPv4AndIPv6) {
  for (const char* vip : {kServiceV4, kServiceV6}) {
    SCOPED_TRACE(vip);
    double before = metricSum(ztunnelMetrics("node1"), kOpened);
    HttpResult r = podGet("client", url(vip, 80, "/capture"));
    // The VIP exists only in the mesh: an answer means the connect() was captured.
    ASSERT_TRUE(r.ok()) << r.raw;
    EXPECT_THAT(r.pod(), StartsWith("my-app-v"));
    EXPECT_EQ(r.body.value("path", ""), "/capture");
    // getpeername() in the app shows the original destination, not 127.0.0.1:15001.
    EXPECT_EQ(r.remote_ip, vip);
    EXPECT_EQ(r.remote_port, 80);
    // A destination ztunnel opened the app's connection, from the client's own pod IP of the
    // family the client dialled (a v6 VIP reaches the endpoint's v6 address).
    EXPECT_TRUE(r.relayed()) << "the app saw curl's own socket: " << r.peer() << " " << r.raw;
    EXPECT_EQ(r.peerIp(), podIp("client", std::string(vip) == kServiceV6));
    EXPECT_GT(metricSum(ztunnelMetrics("node1"), kOpened), before)
        << "node1's ztunnel did not count the connection";
  }
  // The client's ztunnel learned the exact original destination of each connection.
  for (const char* dst : {"10.96.0.10:80", "[fd00:10:96::10]:80"}) {
    const test::AccessRecord want{{"direction", "outbound"},
                                  {"protocol", "HBONE"},
                                  {"src.identity", "spiffe://cluster.local/ns/default/sa/client"},
                                  {"dst.addr", dst}};
    EXPECT_TRUE(eventually([&] { return hasAccessRecord("node1", want); }))
        << "no outbound access record to " << dst << " in node1's ztunnel log";
  }
}

TEST_F(CaptureTest, ConnectToCrossNodePodIpGoesThroughHbone) {
  for (bool v6 : {false, true}) {
    SCOPED_TRACE(v6 ? "IPv6" : "IPv4");
    std::string dst = podIp("my-app-v2", v6);
    double before = inboundOpened("node2", "my-app-v2", true);
    HttpResult r = podGet("client", url(dst, 8080));
    ASSERT_TRUE(r.ok()) << r.raw;
    EXPECT_EQ(r.pod(), "my-app-v2");
    EXPECT_EQ(r.remote_ip, dst);
    // Direct, the app would see curl's own socket; through HBONE it sees node2's ztunnel
    // connecting from the client's IP and another port.
    EXPECT_TRUE(r.relayed()) << "the app saw curl's own socket: " << r.peer();
    EXPECT_GT(inboundOpened("node2", "my-app-v2", true), before)
        << "node2's ztunnel did not count the inbound HBONE connection";
  }
}

TEST_F(CaptureTest, TwoPodsOnTheSameSourcePortGetTheirOwnAnswers) {
  // client -> my-app-v2's IP and my-app-v1 -> client's service, both from source port P at
  // the same time: the original-destination lookup must not mix up the two netns.
  std::string v2 = podIp("my-app-v2");
  // A fresh port range per run: a previous run's TIME_WAIT must not make bind() fail.
  int base = 40000 + static_cast<int>(::time(nullptr) % 1000) * 10;
  for (int round = 0; round < 5; ++round) {
    std::string port = std::to_string(base + round);
    auto a = std::async(std::launch::async, [&] {
      return podGet("client", url(v2, 8080), {"--local-port", port});
    });
    auto b = std::async(std::launch::async, [&] {
      return podGet("my-app-v1", url("10.96.0.11", 80), {"--local-port", port});
    });
    HttpResult ra = a.get(), rb = b.get();
    ASSERT_TRUE(ra.ok()) << "round " << round << ": " << ra.raw;
    ASSERT_TRUE(rb.ok()) << "round " << round << ": " << rb.raw;
    EXPECT_EQ(ra.pod(), "my-app-v2");
    EXPECT_EQ(rb.pod(), "client");
  }
}

TEST_F(CaptureTest, DeEnrollingRestoresTheDirectPathWithinOneSecond) {
  // Both ends leave the mesh: client's connect() is no longer captured and my-app-v1's
  // sk_lookup is gone, so the app sees the client's own pod IP.
  std::string client = podIp("client"), v1 = podIp("my-app-v1");
  ASSERT_TRUE(meshPathWorks());
  HttpResult meshed = podGet("client", url(v1, 8080));
  ASSERT_TRUE(meshed.ok()) << meshed.raw;
  ASSERT_TRUE(meshed.relayed()) << "not through the mesh to begin with: " << meshed.peer();

  std::string yaml = original_pods_;
  for (const char* pod : {"client", "my-app-v1"}) {
    yaml = withPodLabel(yaml, pod, "istio.io/dataplane-mode", "none");
  }
  // A poller inside the client pod (one process: no per-attempt exec cost) tries every 20 ms
  // until the app's peer is the poller's own socket (the mesh path shows the client's IP too,
  // but from the ztunnel's port).
  std::string script =
      "import socket,time,sys\n"
      "end=time.monotonic()+10\n"
      "while time.monotonic()<end:\n"
      "  try:\n"
      "    s=socket.create_connection(('" +
      v1 +
      "',8080),timeout=0.5)\n"
      "    me=b'\"peer\":\"" +
      client +
      ":%d\"' % s.getsockname()[1]\n"
      "    s.sendall(b'GET /direct HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')\n"
      "    d=b''\n"
      "    while True:\n"
      "      c=s.recv(65536)\n"
      "      if not c: break\n"
      "      d+=c\n"
      "    s.close()\n"
      "    if me in d:\n"
      "      print('%.6f' % time.monotonic()); sys.exit(0)\n"
      "  except OSError: pass\n"
      "  time.sleep(0.02)\n"
      "sys.exit(1)\n";
  auto poller = std::async(std::launch::async, [&] {
    return lab().exec("client", {"/usr/bin/python3", "-c", script}, 20s);
  });
  std::this_thread::sleep_for(300ms);  // the poller is running (and seeing the mesh path)
  auto renamed = publishPods(yaml);
  CommandOutput p = poller.get();
  ASSERT_EQ(p.exit_code, 0) << "the direct path never came back within 10 s: " << p.out << p.err;
  // CLOCK_MONOTONIC is shared by the test and the pod (no time namespaces).
  double seen = std::stod(p.out);
  double renamed_s = std::chrono::duration<double>(renamed.time_since_epoch()).count();
  double latency = seen - renamed_s;
  std::printf("de-enroll: direct path after %.0f ms\n", latency * 1000);
  RecordProperty("deenroll_latency_ms", static_cast<int>(latency * 1000));
  EXPECT_LE(latency, 1.0) << "direct path restored after " << latency << " s";

  // Without capture the service VIP exists nowhere: nothing answers.
  HttpResult vip = podGet("client", url(kServiceV4, 80), {"-m", "1"});
  EXPECT_FALSE(vip.ok()) << "the VIP still answered with client de-enrolled: " << vip.raw;

  // Re-enrolling brings the mesh path back.
  auto back = publishPods(original_pods_);
  bool meshed_again = eventually(
      [&] {
        HttpResult r = podGet("client", url(v1, 8080));
        return r.relayed() && r.peerIp() == client && meshPathWorks();
      },
      10s);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - back);
  std::printf("re-enroll: mesh path after <= %lld ms\n", static_cast<long long>(took.count()));
  EXPECT_TRUE(meshed_again) << "the mesh path did not come back after re-enrolling";
}

TEST_F(CaptureTest, ReEnrolledPodSteersPlaintextTo15006Again) {
  // my-app-v1 leaves and rejoins the mesh; a plaintext client (client, de-enrolled) must land
  // on its new 15006 listener again, not on the app directly.
  std::string client = podIp("client"), v1 = podIp("my-app-v1");
  std::string yaml = withPodLabel(original_pods_, "client", "istio.io/dataplane-mode", "none");
  publishPods(withPodLabel(yaml, "my-app-v1", "istio.io/dataplane-mode", "none"));
  ASSERT_TRUE(eventually(
      [&] {
        return podGet("client", url(v1, 8080), {"-m", "1"}).direct();
      },
      5s))
      << "the direct path did not come back";
  publishPods(yaml);
  HttpResult steered;
  EXPECT_TRUE(eventually(
      [&] {
        steered = podGet("client", url(v1, 8080), {"-m", "1"});
        return steered.relayed() && steered.peerIp() == client;
      },
      10s))
      << "plaintext to the re-enrolled pod does not reach its 15006 listener: " << steered.peer()
      << " " << steered.raw;
  const test::AccessRecord want{{"direction", "inbound"},
                                {"protocol", "TCP"},
                                {"src.addr", client + ":" + std::to_string(steered.local_port)},
                                {"dst.addr", v1 + ":8080"}};
  EXPECT_TRUE(eventually([&] { return hasAccessRecord("node1", want); }))
      << "no plaintext inbound access record from " << client << " on node1";
}

TEST_F(CaptureTest, InboundPlaintextLandsOn15006AndStrictDeniesItButNotProbes) {
  std::string client = podIp("client"), v1 = podIp("my-app-v1");
  setPodLabel("client", "istio.io/dataplane-mode", "none");
  ASSERT_TRUE(eventually(
      [] {
        return !podGet("client", url(kServiceV4, 80), {"-m", "1"}).ok();
      },
      5s))
      << "client still captured after de-enrolling it";

  // Plaintext from client arrives on my-app-v1's eth0: sk_lookup steers it to 15006.
  for (bool v6 : {false, true}) {
    SCOPED_TRACE(v6 ? "IPv6" : "IPv4");
    std::string client_ip = podIp("client", v6);
    double before = inboundOpened("node1", "my-app-v1", false);
    HttpResult plain = podGet("client", url(podIp("my-app-v1", v6), 8080, "/plain"));
    ASSERT_TRUE(plain.ok()) << plain.raw;
    EXPECT_EQ(plain.pod(), "my-app-v1");
    EXPECT_TRUE(plain.relayed()) << "plaintext bypassed the 15006 listener: " << plain.peer();
    EXPECT_EQ(plain.peerIp(), client_ip) << "the app does not see the plaintext client's IP";
    std::string src =
        (v6 ? "[" + client_ip + "]:" : client_ip + ":") + std::to_string(plain.local_port);
    EXPECT_GT(inboundOpened("node1", "my-app-v1", false), before)
        << "node1's ztunnel did not count the plaintext connection";
    EXPECT_TRUE(eventually([&] {
      return hasAccessRecord(
          "node1",
          {{"direction", "inbound"}, {"protocol", "TCP"}, {"src.addr", src}, {"authz", "allow"}});
    })) << "no plaintext inbound access record from "
        << src << " on node1";
  }

  writeExtraConfig("40-e2e-strict.yaml",
                   "apiVersion: security.istio.io/v1beta1\n"
                   "kind: PeerAuthentication\n"
                   "metadata:\n  name: e2e-strict\n  namespace: default\n"
                   "spec:\n  mtls:\n    mode: STRICT\n");
  EXPECT_TRUE(eventually(
      [&] {
        return !podGet("client", url(v1, 8080), {"-m", "1"}).ok();
      },
      5s))
      << "plaintext still allowed with STRICT";
  // The connection that saw STRICT first may have been open before it applied: the re-check cut
  // it ("policy changed: ..."). A new one is refused at once.
  EXPECT_FALSE(podGet("client", url(v1, 8080), {"-m", "1"}).ok()) << "plaintext allowed again";
  EXPECT_TRUE(eventually([&] {
    for (const auto& r : test::matchingAccessRecords(ztunnelLog("node1"),
                                                     {{"direction", "inbound"},
                                                      {"protocol", "TCP"},
                                                      {"authz", "deny"},
                                                      {"reason", "PeerAuthentication STRICT"}})) {
      if (r.at("src.addr").starts_with(client + ":")) return true;
    }
    return false;
  })) << "no DENY access record; node1's inbound records from the client:\n"
      << [&] {
           std::string out;
           for (const auto& r : test::matchingAccessRecords(
                    ztunnelLog("node1"), {{"direction", "inbound"}, {"protocol", "TCP"}})) {
             if (!r.at("src.addr").starts_with(client + ":")) continue;
             for (const auto& [k, v] : r) out += k + "=" + v + " ";
             out += "\n";
           }
           return out;
         }();

  // Mesh traffic keeps working (HBONE from node2).
  HttpResult mesh = podGet("my-app-v2", url(v1, 8080));
  EXPECT_TRUE(mesh.ok()) << mesh.raw;
  EXPECT_EQ(mesh.pod(), "my-app-v1");
  // Kubelet-style probe from the node: a probe source, never steered, so STRICT does not apply
  // and the app sees the gateway address directly.
  HttpResult probe = nodeGet("node1", url(v1, 8080, "/healthz"));
  EXPECT_TRUE(probe.ok()) << probe.raw;
  EXPECT_TRUE(probe.direct()) << "the probe was relayed: " << probe.peer();
  EXPECT_EQ(probe.peerIp(), gatewayIp("node1"));
}

// Source preservation (the destination ztunnel connects to the app from the client's own IP).

TEST_F(CaptureTest, HboneInboundShowsTheClientPodIpToTheAppSameNodeAndCrossNode) {
  for (const std::string pod : {"my-app-v1", "my-app-v2"}) {
    std::string node = pod == "my-app-v2" ? "node2" : "node1";
    for (bool v6 : {false, true}) {
      SCOPED_TRACE(pod + (v6 ? " IPv6" : " IPv4"));
      std::string client = podIp("client", v6), dst = podIp(pod, v6);
      double before = inboundOpened(node, pod, true);
      HttpResult r = podGet("client", url(dst, 8080, "/source"));
      ASSERT_TRUE(r.ok()) << r.raw;
      EXPECT_EQ(r.pod(), pod);
      EXPECT_EQ(r.peerIp(), client) << "the app did not see the client pod's IP: " << r.peer();
      EXPECT_TRUE(r.relayed()) << "the app saw curl's own socket: " << r.peer();
      EXPECT_GT(inboundOpened(node, pod, true), before)
          << node << "'s ztunnel did not count the inbound HBONE connection";
      const test::AccessRecord want{{"direction", "inbound"},
                                    {"protocol", "HBONE"},
                                    {"src.identity", "spiffe://cluster.local/ns/default/sa/client"},
                                    {"dst.addr", (v6 ? "[" + dst + "]" : dst) + ":8080"}};
      EXPECT_TRUE(eventually([&] { return hasAccessRecord(node, want); }))
          << "no inbound HBONE access record to " << dst << " in " << node << "'s ztunnel log";
    }
  }
}

TEST_F(CaptureTest, SteeredPlaintextShowsThePlaintextClientIpToTheApp) {
  setPodLabel("client", "istio.io/dataplane-mode", "none");
  ASSERT_TRUE(eventually(
      [] {
        return !podGet("client", url(kServiceV4, 80), {"-m", "1"}).ok();
      },
      5s))
      << "client still captured after de-enrolling it";
  for (bool v6 : {false, true}) {
    SCOPED_TRACE(v6 ? "IPv6" : "IPv4");
    std::string client = podIp("client", v6), dst = podIp("my-app-v1", v6);
    double before = inboundOpened("node1", "my-app-v1", false);
    HttpResult r = podGet("client", url(dst, 8080, "/steered"));
    ASSERT_TRUE(r.ok()) << r.raw;
    EXPECT_EQ(r.pod(), "my-app-v1");
    ASSERT_EQ(r.local_ip, client) << r.raw;
    EXPECT_EQ(r.peerIp(), client) << "the app did not see the plaintext client's IP: " << r.peer();
    EXPECT_TRUE(r.relayed()) << "plaintext bypassed the 15006 listener: " << r.peer();
    EXPECT_GT(inboundOpened("node1", "my-app-v1", false), before)
        << "node1's ztunnel did not count a plaintext (15006) connection";
    const std::string src = (v6 ? "[" + client + "]" : client) + ":" + std::to_string(r.local_port);
    EXPECT_TRUE(eventually([&] {
      return hasAccessRecord("node1",
                             {{"direction", "inbound"}, {"protocol", "TCP"}, {"src.addr", src}});
    })) << "no plaintext inbound access record from "
        << src << " in node1's ztunnel log";
  }
}

// A server inside a pod's netns started with `lab exec` in the background; killed by PID (from
// its pidfile) when the guard goes, also after a failed assertion.
class PodServer {
 public:
  PodServer(Lab& lab, const std::string& pod, const std::string& script,
            std::vector<std::string> args)
      : pidfile_(testing::TempDir() + "/ambitcap-" + pod + "-server.pid") {
    std::filesystem::remove(pidfile_);
    std::vector<std::string> argv{"/usr/bin/python3", "-c", script, pidfile_};
    argv.insert(argv.end(), args.begin(), args.end());
    done_ = std::async(std::launch::async, [&lab, pod, argv] { return lab.exec(pod, argv, 60s); });
  }
  ~PodServer() {
    pid_t pid = -1;
    eventually(
        [&] {
          std::ifstream in(pidfile_);
          return static_cast<bool>(in >> pid);
        },
        3s);
    if (pid > 0) ::kill(pid, SIGKILL);
    CommandOutput r = done_.get();
    std::filesystem::remove(pidfile_);
    if (pid <= 0) ADD_FAILURE() << "the pod server never wrote its PID: " << r.out << r.err;
  }
  PodServer(const PodServer&) = delete;
  PodServer& operator=(const PodServer&) = delete;

 private:
  std::string pidfile_;
  std::future<CommandOutput> done_;
};

TEST_F(CaptureTest, AppBoundOnlyToItsPodIpIsReachedThroughTheMesh) {
  // Connecting to the app from loopback (the ztunnel's fallback) cannot reach this server.
  std::string v1 = podIp("my-app-v1"), client = podIp("client");
  std::string ns = std::string(kLabName) + "-pod-my-app-v1";
  std::string script =
      "import http.server,json,os,sys\n"
      "open(sys.argv[1],'w').write(str(os.getpid()))\n"
      "class H(http.server.BaseHTTPRequestHandler):\n"
      "  def do_GET(self):\n"
      "    b=json.dumps({'pod':'pod-ip-only','peer':'%s:%d' % self.client_address[:2]}).encode()\n"
      "    self.send_response(200)\n"
      "    self.send_header('Content-Length',str(len(b)))\n"
      "    self.end_headers()\n"
      "    self.wfile.write(b)\n"
      "  def log_message(self,*a): pass\n"
      "http.server.HTTPServer((sys.argv[2],int(sys.argv[3])),H).serve_forever()\n";
  PodServer server(lab(), "my-app-v1", script, {v1, "18080"});
  ASSERT_TRUE(eventually(
      [&] { return !sh("ip netns exec " + ns + " ss -Htln 'sport = :18080'").out.empty(); }, 5s))
      << "the pod-IP-only server did not start in my-app-v1";
  CommandOutput lo = sh("ip netns exec " + ns + " curl -sS -m 1 http://127.0.0.1:18080/");
  EXPECT_NE(lo.exit_code, 0) << "the server answers on loopback: " << lo.out;

  double before = inboundOpened("node1", "my-app-v1", true);
  HttpResult r = podGet("client", url(v1, 18080, "/only-pod-ip"));
  ASSERT_TRUE(r.ok()) << r.raw;
  EXPECT_EQ(r.pod(), "pod-ip-only");
  EXPECT_EQ(r.peerIp(), client) << r.peer();
  EXPECT_TRUE(r.relayed()) << "the app saw curl's own socket: " << r.peer();
  EXPECT_GT(inboundOpened("node1", "my-app-v1", true), before)
      << "node1's ztunnel did not count the inbound HBONE connection";
}

TEST_F(CaptureTest, AgentInstallsReplyRoutingInEnrolledPodNetnsOnly) {
  std::string ns = std::string(kLabName) + "-pod-my-app-v1";
  auto in = [&](const std::string& cmd) { return sh("ip netns exec " + ns + " " + cmd).out; };
  // Every piece: the IPv4 and IPv6 rule and route, and tcp_fwmark_accept.
  auto installed = [&] {
    return in("ip -4 rule").find("fwmark 0x53a lookup 133") != std::string::npos &&
           in("ip -6 rule").find("fwmark 0x53a lookup 133") != std::string::npos &&
           in("ip -4 route show table 133").find("local default dev lo") != std::string::npos &&
           in("ip -6 route show table 133").find("local default dev lo") != std::string::npos &&
           in("cat /proc/sys/net/ipv4/tcp_fwmark_accept") == "1\n";
  };
  // None of them left.
  auto removed = [&] {
    return in("ip rule").find("0x53a") == std::string::npos &&
           in("ip -6 rule").find("0x53a") == std::string::npos &&
           in("ip -4 route show table 133").empty() && in("ip -6 route show table 133").empty() &&
           in("cat /proc/sys/net/ipv4/tcp_fwmark_accept") == "0\n";
  };
  auto state = [&] {
    return in("ip -4 rule") + in("ip -6 rule") + in("ip -4 route show table 133") +
           in("ip -6 route show table 133") +
           "tcp_fwmark_accept=" + in("cat /proc/sys/net/ipv4/tcp_fwmark_accept");
  };
  ASSERT_TRUE(installed()) << "enrolled my-app-v1 lacks the reply routing:\n" << state();

  setPodLabel("my-app-v1", "istio.io/dataplane-mode", "none");
  EXPECT_TRUE(eventually(removed, 5s)) << "de-enrolled my-app-v1 kept reply routing:\n" << state();

  publishPods(original_pods_);
  EXPECT_TRUE(eventually(installed, 5s)) << "re-enrolled my-app-v1 lacks reply routing:\n"
                                         << state();
  HttpResult r = podGet("client", url(podIp("my-app-v1"), 8080));
  EXPECT_TRUE(r.relayed() && r.peerIp() == podIp("client")) << r.peer() << " " << r.raw;
}

TEST_F(CaptureTest, ZtunnelMarkedSocketIsNotCaptured) {
  // A socket carrying SO_MARK 0x539 (what the ztunnel's own sockets carry) in an enrolled pod:
  // connect() is left alone, so the service VIP (mesh-only) does not answer, and a connection
  // to my-app-v1 arrives there as plaintext from the client's own address and port.
  std::string v1 = podIp("my-app-v1");
  std::string script =
      "import socket,sys\n"
      "def conn(host,port):\n"
      "  s=socket.socket()\n"
      "  s.setsockopt(socket.SOL_SOCKET,socket.SO_MARK,0x539)\n"
      "  s.settimeout(1)\n"
      "  s.connect((host,port))\n"
      "  return s\n"
      "try:\n"
      "  conn('" +
      std::string(kServiceV4) +
      "',80)\n"
      "  print('vip-connected')\n"
      "except OSError as e:\n"
      "  print('vip-failed')\n"
      "s=conn('" +
      v1 +
      "',8080)\n"
      "print('port=%d peer=%s' % (s.getsockname()[1], s.getpeername()[0]))\n"
      "s.sendall(b'GET /marked HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')\n"
      "d=b''\n"
      "while True:\n"
      "  c=s.recv(65536)\n"
      "  if not c: break\n"
      "  d+=c\n"
      "print(d.split(b'\\r\\n')[0].decode())\n";
  CommandOutput r = lab().exec("client", {"/usr/bin/python3", "-c", script}, 20s);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("vip-failed")) << "a 0x539-marked socket was captured";
  EXPECT_THAT(r.out, HasSubstr("HTTP/1.1 200"));
  size_t at = r.out.find("port=");
  ASSERT_NE(at, std::string::npos) << r.out;
  std::string port = r.out.substr(at + 5, r.out.find(' ', at) - at - 5);
  const std::string src = podIp("client") + ":" + port;
  EXPECT_TRUE(eventually([&] {
    return hasAccessRecord("node1",
                           {{"direction", "inbound"}, {"protocol", "TCP"}, {"src.addr", src}});
  })) << "no plaintext inbound access record from "
      << src << " on node1: the marked connection did not leave the pod directly";
}

}  // namespace
}  // namespace ambit::e2e
