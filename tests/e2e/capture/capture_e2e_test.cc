// Issue 3, traffic cases: outbound capture of arbitrary IPv4/IPv6 destinations, two pods on
// the same source port, de-enrollment restoring the direct path within 1 s, and inbound
// plaintext steered to the destination's 15006 listener (PeerAuthentication STRICT denies it;
// probes from the node keep working).
#include <gmock/gmock.h>

#include <ctime>
#include <future>
#include <thread>

#include "tests/e2e/capture/capture_lab.h"

namespace ambit::e2e {
namespace {

using testing::HasSubstr;
using testing::StartsWith;
using namespace std::chrono_literals;

class CaptureTest : public CaptureLabTest {};

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
    // The destination ztunnel connects to the app over loopback: never the client's IP.
    EXPECT_THAT(r.peer(), testing::AnyOf(StartsWith("127.0.0.1:"), StartsWith("[::1]:")));
    EXPECT_GT(metricSum(ztunnelMetrics("node1"), kOpened), before)
        << "node1's ztunnel did not count the connection";
  }
  // The client's ztunnel learned the exact original destination of each connection.
  for (const char* dst : {"10.96.0.10:80", "[fd00:10:96::10]:80"}) {
    std::string line =
        "access: outbound src=spiffe://cluster.local/ns/default/sa/client dst=" + std::string(dst) +
        " ";
    EXPECT_TRUE(eventually([&] { return ztunnelLog("node1").find(line) != std::string::npos; }))
        << "no '" << line << "' in node1's ztunnel log";
  }
}

TEST_F(CaptureTest, ConnectToCrossNodePodIpGoesThroughHbone) {
  for (bool v6 : {false, true}) {
    SCOPED_TRACE(v6 ? "IPv6" : "IPv4");
    std::string dst = podIp("my-app-v2", v6);
    double before = metricSum(ztunnelMetrics("node2"), kOpened);
    HttpResult r = podGet("client", url(dst, 8080));
    ASSERT_TRUE(r.ok()) << r.raw;
    EXPECT_EQ(r.pod(), "my-app-v2");
    EXPECT_EQ(r.remote_ip, dst);
    // Direct, the app would see the client's pod IP; through HBONE it sees node2's ztunnel
    // connecting over loopback.
    EXPECT_THAT(r.peer(), testing::AnyOf(StartsWith("127.0.0.1:"), StartsWith("[::1]:")));
    EXPECT_GT(metricSum(ztunnelMetrics("node2"), kOpened), before)
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
  ASSERT_THAT(meshed.peer(), StartsWith("127.0.0.1:")) << "not through the mesh to begin with";

  std::string yaml = original_pods_;
  for (const char* pod : {"client", "my-app-v1"}) {
    yaml = withPodLabel(yaml, pod, "istio.io/dataplane-mode", "none");
  }
  // A poller inside the client pod (one process: no per-attempt exec cost) tries every 20 ms.
  std::string script =
      "import socket,time,sys\n"
      "end=time.monotonic()+10\n"
      "while time.monotonic()<end:\n"
      "  try:\n"
      "    s=socket.create_connection(('" +
      v1 +
      "',8080),timeout=0.5)\n"
      "    s.sendall(b'GET /direct HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')\n"
      "    d=b''\n"
      "    while True:\n"
      "      c=s.recv(65536)\n"
      "      if not c: break\n"
      "      d+=c\n"
      "    s.close()\n"
      "    if b'\"peer\":\"" +
      client +
      ":' in d:\n"
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
        return r.ok() && r.peer().rfind("127.0.0.1:", 0) == 0 && meshPathWorks();
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
        HttpResult r = podGet("client", url(v1, 8080), {"-m", "1"});
        return r.ok() && r.peer().rfind(client + ":", 0) == 0;
      },
      5s))
      << "the direct path did not come back";
  publishPods(yaml);
  EXPECT_TRUE(eventually(
      [&] {
        HttpResult r = podGet("client", url(v1, 8080), {"-m", "1"});
        return r.ok() && r.peer().rfind("127.0.0.1:", 0) == 0;
      },
      10s))
      << "plaintext to the re-enrolled pod does not reach its 15006 listener: "
      << podGet("client", url(v1, 8080), {"-m", "1"}).raw;
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
    std::string src = v6 ? "[" + podIp("client", true) + "]:" : client + ":";
    HttpResult plain = podGet("client", url(podIp("my-app-v1", v6), 8080, "/plain"));
    ASSERT_TRUE(plain.ok()) << plain.raw;
    EXPECT_EQ(plain.pod(), "my-app-v1");
    EXPECT_THAT(plain.peer(), testing::AnyOf(StartsWith("127.0.0.1:"), StartsWith("[::1]:")))
        << "plaintext bypassed the 15006 listener";
    EXPECT_TRUE(eventually([&] {
      return ztunnelLog("node1").find("access: inbound plaintext src=" + src) != std::string::npos;
    })) << "no 'inbound plaintext src="
        << src << "' access log line on node1";
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
  EXPECT_TRUE(eventually([&] {
    return ztunnelLog("node1").find("inbound plaintext DENY src=" + client) != std::string::npos;
  })) << "no DENY access log line";

  // Mesh traffic keeps working (HBONE from node2).
  HttpResult mesh = podGet("my-app-v2", url(v1, 8080));
  EXPECT_TRUE(mesh.ok()) << mesh.raw;
  EXPECT_EQ(mesh.pod(), "my-app-v1");
  // Kubelet-style probe from the node: a probe source, never steered, so STRICT does not apply
  // and the app sees the gateway address directly.
  HttpResult probe = nodeGet("node1", url(v1, 8080, "/healthz"));
  EXPECT_TRUE(probe.ok()) << probe.raw;
  EXPECT_THAT(probe.peer(), StartsWith(gatewayIp("node1") + ":"));
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
  std::string line = "access: inbound plaintext src=" + podIp("client") + ":" + port + " ";
  EXPECT_TRUE(eventually([&] { return ztunnelLog("node1").find(line) != std::string::npos; }))
      << "no '" << line << "' on node1: the marked connection did not leave the pod directly";
}

}  // namespace
}  // namespace ambit::e2e
