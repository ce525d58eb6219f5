#!/usr/bin/python3
"""ambit benchmarks (issue 6): ambit against direct and against stunnel / nginx / haproxy.

Driven by tests/bench/run.sh. Brings up its own lab (`bench`, or `benchq` with --quick), runs
every scenario, always tears the lab and every process it started down (also on failure and
Ctrl-C), prints a markdown table and writes it to the results file. Exit status 1 when any
scenario failed or produced no number; the row then says "failed: <reason>".

Phases (each enrolment switch is verified through the ztunnels' metrics):
  A  namespace de-enrolled: direct, stunnel pair, nginx and haproxy (in the waypoint pod's
     netns), two plain TCP relays placed like the stunnel pair (the floor of a two-proxy path);
     the ztunnels' connection counters must not move during the whole phase.
  B  namespace enrolled: ambit L4 (pod IP, two ztunnels, HBONE mTLS) and ambit + waypoint
     (Service VIP with the seed 80/20 VirtualService), 10k idle connections.
  Paired windows, between B's rows and its idle connections: five rounds at 1,000 req/s of
  direct and nginx (de-enrolled), then ambit L4 and the waypoint (enrolled), for the waypoint's
  and nginx's CPU per request and the waypoint's p99 goal measured in the same minute (the
  goals' verdicts use the median over the rounds).
In each phase the HTTP rows run before the iperf3 rows: a proxy's memory at 1,000 req/s is then
its own, not the buffers a bulk transfer just before left in its heap (they go back within a
decay period, ~10 s, which the fixed-rate row would otherwise count as its peak).
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import (  # noqa: E402
    IDLE_SUFFIX, Interrupted, ScenarioError, cpu_seconds, log, machine_busy_seconds, parse_hey,
    parse_wrk, proc_tree, pss_kb, reset_hwm, run, status_kb)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

CLIENT_IP, V1_IP, V2_IP, WAYPOINT_IP, VIP = (
    "10.244.1.10", "10.244.1.11", "10.244.2.10", "10.244.1.12", "10.96.0.10")
IPERF_PORT, STUNNEL_IPERF_PORT, STUNNEL_HTTP_PORT = 5201, 15202, 18443
LOCAL_STUNNEL_IPERF, LOCAL_STUNNEL_HTTP = 15201, 18080
NGINX_PORT, HAPROXY_PORT, SINK_PORT = 8081, 8082, 9000
RELAY_IPERF_PORT, RELAY_HTTP_PORT = 15203, 18444
LOCAL_RELAY_IPERF, LOCAL_RELAY_HTTP = 15204, 18081
CIPHER = "TLS_AES_128_GCM_SHA256"  # the suite the ztunnels prefer (common/hbone/tls.h kTls13CipherSuites)
ENROLLED = 'istio.io/dataplane-mode: "ambient"'
NOT_ENROLLED = 'bench.ambit.dev/dataplane-mode-was: "ambient"'
RATE, CONNS = 1000, 16

def seed_virtual_service():
    """The seed VirtualService, verbatim, from its one definition (tests/data/)."""
    return (Path(__file__).resolve().parents[2] / "tests/data/seed-virtualservice.yaml").read_text()


# ---------------------------------------------------------------- the benchmark

class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.lab = args.lab or ("benchq" if args.quick else "bench")
        self.build = Path(args.build_dir).resolve()
        self.ctl = str(self.build / "bin" / "ambitctl")
        self.run_dir = Path(f"/run/{self.lab}-lab")
        self.work = Path(tempfile.mkdtemp(prefix=f"{self.lab}-bench-", dir="/run"))
        self.procs = []  # (name, Popen) of every server this script started
        self.rows = {}   # scenario key -> dict of numbers or {"failed": reason}
        self.failures = []
        self.lab_up = False
        d = (lambda full, quick: quick if self.quick else full)
        self.t_iperf = d(10, 2)
        self.t_fixed = d(15, 3)
        self.t_max = d(10, 2)
        self.t_conn = d(8, 2)
        self.idle_conns = d(10000, 1000)
        self.paired_rounds = d(5, 1)
        self.micro_min_time = d(0.3, 0.02)

    # ---- plumbing
    def pod(self, pod, cmd):
        return [self.ctl, "lab", "exec", "--name", self.lab, pod, "--", *cmd]

    @staticmethod
    def ns(netns, cmd):
        return ["ip", "netns", "exec", netns, *cmd]

    def start(self, name, cmd, ready_port=None, ready_ns=None):
        logf = open(self.work / f"{name}.log", "w")
        p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        logf.close()
        self.procs.append((name, p))
        if ready_port:
            deadline = time.time() + 10
            while time.time() < deadline:
                if p.poll() is not None:
                    raise ScenarioError(f"{name} exited {p.returncode}: "
                                        f"{self.tail(name)}")
                probe = run(self.ns(ready_ns, ["ss", "-Hltn", f"sport = :{ready_port}"]), 5,
                            check=False)
                if probe.stdout.strip():
                    return p
                time.sleep(0.1)
            raise ScenarioError(f"{name} not listening on {ready_port} after 10s")
        return p

    def tail(self, name):
        try:
            return " | ".join((self.work / f"{name}.log").read_text().strip().splitlines()[-2:])
        except OSError:
            return ""

    def stop(self, name):
        for n, p in list(self.procs):
            if n == name:
                self._kill(p)
                self.procs.remove((n, p))

    @staticmethod
    def _kill(p):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)

    def stop_all(self):
        for _, p in reversed(self.procs):
            try:
                self._kill(p)
            except Exception as e:  # keep cleaning up the rest
                log(f"cleanup: {e}")
        self.procs.clear()

    # ---- lab
    def lab_status(self):
        return json.loads(run([self.ctl, "lab", "status", "--name", self.lab, "-o", "json"],
                              30).stdout)

    def up(self):
        run([self.ctl, "lab", "down", "--name", self.lab], 120, check=False)
        log(f"lab up --name {self.lab} --waypoint")
        self.lab_up = True
        run([self.ctl, "lab", "up", "--name", self.lab, "--waypoint",
             "--waypoint-arg=--no-access-log"], 180)
        (self.run_dir / "config" / "50-bench-seed-vs.yaml").write_text(seed_virtual_service())
        st = self.lab_status()
        self.pids = {}
        for d in st["daemons"]:
            if d["name"] == "ztunnel":
                self.pids[f"ztunnel-{d['node']}"] = d["pid"]
        for p in st["pods"]:
            if p["name"] == "waypoint":
                self.pids["waypoint"] = p["pid"]
        for k in ("ztunnel-node1", "ztunnel-node2", "waypoint"):
            if k not in self.pids:
                raise ScenarioError(f"lab status has no {k}")

    def down(self):
        if self.lab_up:
            log("lab down")
            p = run([self.ctl, "lab", "down", "--name", self.lab], 180, check=False)
            if p.returncode != 0:
                log(f"lab down failed: {p.stderr.strip()}")
            self.lab_up = False

    def ztunnel_connections(self):
        total = 0
        for node in ("node1", "node2"):
            out = run(self.ns(f"{self.lab}-{node}",
                              ["curl", "-s", "-m", "5", "http://127.0.0.1:15020/metrics"]), 15).stdout
            for line in out.splitlines():
                if line.startswith("istio_tcp_connections_opened_total"):
                    total += float(line.rsplit(None, 1)[1])
        return total

    def set_enrolled(self, enrolled):
        f = self.run_dir / "config" / "00-namespaces.yaml"
        text = f.read_text()
        a, b = (NOT_ENROLLED, ENROLLED) if enrolled else (ENROLLED, NOT_ENROLLED)
        if a in text:
            f.write_text(text.replace(a, b))
        elif b not in text:
            raise ScenarioError(f"{f}: no enrolment label to switch")
        # Verify: a probe request moves the ztunnels' counters exactly when enrolled.
        deadline = time.time() + 15
        while time.time() < deadline:
            time.sleep(0.5)
            before = self.ztunnel_connections()
            run(self.pod("client", ["curl", "-s", "-o", "/dev/null", "-m", "3",
                                    f"http://{V2_IP}:8080/"]), 10, check=False)
            moved = self.ztunnel_connections() > before
            if moved == enrolled:
                log(f"namespace {'enrolled' if enrolled else 'de-enrolled'} (verified via "
                    "ztunnel metrics)")
                return
        raise ScenarioError(f"{'enrolment' if enrolled else 'de-enrolment'} did not take effect "
                            "within 15s (ztunnel metrics)")

    # ---- servers
    def issue_certs(self):
        ca = self.run_dir / "ca"
        cacert, cakey = ca / "ca-cert.pem", ca / "ca-key.pem"
        if not cakey.exists():
            raise ScenarioError(f"lab CA key not found at {cakey}")
        for who, sa in (("client", "client"), ("server", "my-app")):
            key, csr, crt = (self.work / f"{who}.{e}" for e in ("key", "csr", "crt"))
            ext = self.work / f"{who}.ext"
            ext.write_text(f"subjectAltName=URI:spiffe://cluster.local/ns/default/sa/{sa}\n"
                           "keyUsage=critical,digitalSignature,keyAgreement\n"
                           "extendedKeyUsage=serverAuth,clientAuth\n")
            run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
                 str(key)], 30)
            run(["openssl", "req", "-new", "-key", str(key), "-subj", f"/O=bench/CN={sa}",
                 "-out", str(csr)], 30)
            run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(cacert), "-CAkey",
                 str(cakey), "-CAcreateserial", "-days", "1", "-sha256", "-extfile", str(ext),
                 "-out", str(crt)], 30)
        return cacert

    def start_servers(self):
        v2 = f"{self.lab}-pod-my-app-v2"
        cl = f"{self.lab}-pod-client"
        wp = f"{self.lab}-pod-waypoint"
        self.start("iperf3-server", self.ns(v2, ["iperf3", "-s", "-p", str(IPERF_PORT)]),
                   IPERF_PORT, v2)
        cacert = self.issue_certs()
        common = (f"foreground = yes\npid =\ndebug = 4\n"
                  f"sslVersion = TLSv1.3\nciphersuites = {CIPHER}\n"
                  f"CAfile = {cacert}\nverifyChain = yes\n")
        srv = self.work / "stunnel-server.conf"
        srv.write_text(common + f"cert = {self.work}/server.crt\nkey = {self.work}/server.key\n"
                       f"[iperf]\naccept = {V2_IP}:{STUNNEL_IPERF_PORT}\n"
                       f"connect = 127.0.0.1:{IPERF_PORT}\n"
                       f"[http]\naccept = {V2_IP}:{STUNNEL_HTTP_PORT}\nconnect = 127.0.0.1:8080\n")
        cli = self.work / "stunnel-client.conf"
        cli.write_text(common + f"client = yes\ncert = {self.work}/client.crt\n"
                       f"key = {self.work}/client.key\n"
                       f"[iperf]\naccept = 127.0.0.1:{LOCAL_STUNNEL_IPERF}\n"
                       f"connect = {V2_IP}:{STUNNEL_IPERF_PORT}\n"
                       f"[http]\naccept = 127.0.0.1:{LOCAL_STUNNEL_HTTP}\n"
                       f"connect = {V2_IP}:{STUNNEL_HTTP_PORT}\n")
        self.start("stunnel-server", self.ns(v2, ["stunnel", str(srv)]), STUNNEL_HTTP_PORT, v2)
        self.start("stunnel-client", self.ns(cl, ["stunnel", str(cli)]), LOCAL_STUNNEL_HTTP, cl)
        ngx = self.work / "nginx"
        ngx.mkdir()
        (ngx / "nginx.conf").write_text(f"""daemon off;
master_process on;
worker_processes 2;
pid {ngx}/nginx.pid;
error_log {ngx}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {ngx}/body; proxy_temp_path {ngx}/proxy;
  fastcgi_temp_path {ngx}/fcgi; uwsgi_temp_path {ngx}/uwsgi; scgi_temp_path {ngx}/scgi;
  upstream my_app {{
    server {V1_IP}:8080 weight=4;
    server {V2_IP}:8080 weight=1;
    keepalive 64;
  }}
  server {{
    listen {WAYPOINT_IP}:{NGINX_PORT};
    location / {{
      proxy_pass http://my_app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
""")
        self.start("nginx", self.ns(wp, ["nginx", "-p", str(ngx), "-e", str(ngx / "error.log"),
                                         "-c", str(ngx / "nginx.conf")]), NGINX_PORT, wp)
        hap = self.work / "haproxy.cfg"
        hap.write_text(f"""global
  nbthread 2
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend fe
  bind {WAYPOINT_IP}:{HAPROXY_PORT}
  default_backend be
backend be
  balance roundrobin
  http-reuse always
  server v1 {V1_IP}:8080 weight 80
  server v2 {V2_IP}:8080 weight 20
""")
        self.start("haproxy", self.ns(wp, ["haproxy", "-db", "-f", str(hap)]), HAPROXY_PORT, wp)
        # The floor of any two-proxy path on this machine: the same placement as the stunnel
        # pair (client pod -> my-app-v2 pod), plain TCP relays with one event-loop thread each
        # (a ztunnel's shape), no TLS and no HTTP/2: what two user-space hops cost by themselves
        # (wake-ups, copies, the kernel's TCP), in the same run.
        relay = ("global\n  nbthread 1\n  maxconn 4000\ndefaults\n  mode tcp\n"
                 "  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n")
        rsrv = self.work / "relay-server.cfg"
        rsrv.write_text(relay + f"listen iperf\n  bind {V2_IP}:{RELAY_IPERF_PORT}\n"
                        f"  server s 127.0.0.1:{IPERF_PORT}\n"
                        f"listen http\n  bind {V2_IP}:{RELAY_HTTP_PORT}\n"
                        f"  server s 127.0.0.1:8080\n")
        rcli = self.work / "relay-client.cfg"
        rcli.write_text(relay + f"listen iperf\n  bind 127.0.0.1:{LOCAL_RELAY_IPERF}\n"
                        f"  server s {V2_IP}:{RELAY_IPERF_PORT}\n"
                        f"listen http\n  bind 127.0.0.1:{LOCAL_RELAY_HTTP}\n"
                        f"  server s {V2_IP}:{RELAY_HTTP_PORT}\n")
        self.start("relay-server", self.ns(v2, ["haproxy", "-db", "-f", str(rsrv)]),
                   RELAY_HTTP_PORT, v2)
        self.start("relay-client", self.ns(cl, ["haproxy", "-db", "-f", str(rcli)]),
                   LOCAL_RELAY_HTTP, cl)

    def server_pid(self, name):
        for n, p in self.procs:
            if n == name:
                return p.pid
        raise ScenarioError(f"{name} not running")

    # ---- scenarios
    def scenario(self, key, fn):
        try:
            self.rows[key] = fn()
            log(f"{key}: {self.rows[key]}")
        except Interrupted:
            raise
        except ScenarioError as e:
            self.rows[key] = {"failed": str(e)}
            self.failures.append(f"{key}: {e}")
            log(f"{key}: FAILED {e}")

    def iperf(self, host, port, cost=None):
        """iperf3 1 and 8 streams; with cost = {label: [root pids]}, also CPU-seconds (user +
        system of those processes) per GB received: what the proxies spend on each byte."""
        out = {}
        trees = {label: [p for r in roots for p in proc_tree(r)]
                 for label, roots in (cost or {}).items()}
        for streams in (1, 8):
            cpu0 = {label: cpu_seconds(pids) for label, pids in trees.items()}
            busy0, t0 = machine_busy_seconds(), time.monotonic()
            p = run(self.pod("client", ["iperf3", "-c", host, "-p", str(port), "-P", str(streams),
                                        "-t", str(self.t_iperf), "-J"]), self.t_iperf + 30,
                    check=False)
            busy1, t1 = machine_busy_seconds(), time.monotonic()
            cpu1 = {label: cpu_seconds(pids) for label, pids in trees.items()}
            try:
                j = json.loads(p.stdout)
            except ValueError as e:
                raise ScenarioError(f"iperf3 output not JSON: {p.stderr.strip()[:200]}") from e
            if "error" in j:
                raise ScenarioError(f"iperf3: {j['error']}")
            bps = j["end"]["sum_received"]["bits_per_second"]
            if bps <= 0:
                raise ScenarioError("iperf3 measured 0 bit/s")
            out[f"gbps{streams}"] = bps / 1e9
            gb = j["end"]["sum_received"]["bytes"] / 1e9
            # How busy the whole machine was (iperf3's start and end included): a path that
            # leaves CPUs idle is limited by something else than CPU time.
            out[f"busy{streams}"] = (busy1 - busy0) / ((t1 - t0) * (os.cpu_count() or 1))
            out[f"machine_per_gb{streams}"] = (busy1 - busy0) / gb
            out["machine_cpus"] = os.cpu_count() or 1
            if trees:
                out[f"cpu_per_gb{streams}"] = sum(cpu1[k] - cpu0[k] for k in trees) / gb
        return out

    def crypto_cost(self):
        """CPU-seconds per GB that AES-128-GCM itself costs here, encrypting and decrypting
        16 KiB records (`openssl speed`, user CPU time): what any user-space TLS path must add
        to a plain relay's cost per byte, measured in the same run as the iperf3 rows."""
        out = {}
        for what, extra in (("encrypt", []), ("decrypt", ["-decrypt"])):
            p = run(["openssl", "speed", "-mr", "-seconds", "2", "-bytes", "16384", *extra,
                     "-evp", "aes-128-gcm"], 60, check=False)
            m = re.search(r"^\+F:\d+:AES-128-GCM:([0-9.]+)$", p.stdout, re.M)
            if p.returncode != 0 or not m or float(m.group(1)) <= 0:
                raise ScenarioError(f"openssl speed ({what}): no rate in its output "
                                    f"{(p.stderr or p.stdout).strip()[-200:]!r}")
            out[f"{what}_s_per_gb"] = 1e9 / float(m.group(1))
        return out

    def fixed_rate(self, url, cost):
        """hey: RATE req/s over CONNS connections; cost = {label: [root pids]}."""
        trees = {label: [p for r in roots for p in proc_tree(r)] for label, roots in cost.items()}
        rss0 = {label: sum(status_kb(pid, "VmRSS") for pid in pids) / 1024.0
                for label, pids in trees.items()}
        for pids in trees.values():
            reset_hwm(pids)
        cpu0 = {label: cpu_seconds(pids) for label, pids in trees.items()}
        p = self.hey(url, self.t_fixed)
        cpu1 = {label: cpu_seconds(pids) for label, pids in trees.items()}
        r = parse_hey(p.stdout)
        if p.returncode != 0 or any(q not in r for q in ("p50", "p90", "p99")) or r["ok"] == 0:
            raise ScenarioError(f"hey: no latency numbers (exit {p.returncode}) "
                                f"{(p.stderr or p.stdout).strip()[-200:]}")
        if r["bad"] or r["errors"]:
            raise ScenarioError(f"hey: {r['bad']} non-2xx, {r['errors']} errors of "
                                f"{r['ok'] + r['bad'] + r['errors']}")
        requests = r["ok"]
        r["cost"] = {}
        for label, pids in trees.items():
            hwm = sum(status_kb(pid, "VmHWM") for pid in pids) / 1024.0
            anon = sum(status_kb(pid, "RssAnon") for pid in pids) / 1024.0
            pss = sum(pss_kb(pid) for pid in pids) / 1024.0
            r["cost"][label] = {"cpu_per_1k": (cpu1[label] - cpu0[label]) * 1000.0 / requests,
                                "hwm_mb": hwm, "rss0_mb": rss0[label], "anon_mb": anon,
                                "pss_mb": pss}
        return r

    def wrk(self, url, close=False, duration=None, cost=None):
        """wrk at its maximum rate; with cost = {label: [root pids]}, also the CPU each label and
        the whole machine spent per 1,000 requests, and how many CPUs the machine kept busy."""
        duration = duration or self.t_max
        cmd = ["wrk", "-t", "2", "-c", str(CONNS), "-d", f"{duration}s", "--timeout", "5s"]
        if close:
            cmd += ["-H", "Connection: close"]
        trees = {label: [p for r in roots for p in proc_tree(r)]
                 for label, roots in (cost or {}).items()}
        cpu0 = {label: cpu_seconds(pids) for label, pids in trees.items()}
        busy0, t0 = machine_busy_seconds(), time.monotonic()
        p = run(self.pod("client", cmd + [url]), duration + 30, check=False)
        busy1, t1 = machine_busy_seconds(), time.monotonic()
        cpu1 = {label: cpu_seconds(pids) for label, pids in trees.items()}
        r = parse_wrk(p.stdout)
        if p.returncode != 0 or not r.get("rps"):
            raise ScenarioError(f"wrk: no rate (exit {p.returncode}) "
                                f"{(p.stderr or p.stdout).strip()[-200:]}")
        if r["non2xx"]:
            raise ScenarioError(f"wrk: {r['non2xx']} non-2xx of {r['requests']}")
        if cost is not None and r.get("requests"):
            per_k = 1000.0 / r["requests"]
            r["max_cost"] = {label: (cpu1[label] - cpu0[label]) * per_k for label in trees}
            r["machine_per_1k"] = (busy1 - busy0) * per_k
            r["machine_cpus"] = (busy1 - busy0) / (t1 - t0)
        return r

    def http_all(self, key, url, cost):
        out = {}
        self.scenario(f"fixed/{key}", lambda: self.fixed_rate(url, cost))
        self.scenario(f"max/{key}", lambda: self.wrk(url, cost=cost))
        return out

    def paired_cpu(self):
        """Alternating windows, each round a minute or so: de-enrolled, direct and nginx; then
        enrolled, ambit L4 and the waypoint. The waypoint's and nginx's CPU per request, and the
        four p99s of the latency goal (waypoint p99 ≤ nginx p99 + ambit L4 added p99), come from
        the same minute of each round, so that the machine's drift between the two phases
        does not decide them. A round that fails can leave the namespace de-enrolled: main()
        enrols it again before the next scenario."""
        v2url = f"http://{V2_IP}:8080/bytes/1024"
        vip = f"http://{VIP}/bytes/1024"
        ngx = f"http://{WAYPOINT_IP}:{NGINX_PORT}/bytes/1024"
        windows = ((False, "direct", v2url, None), (False, "nginx", ngx, self.server_pid("nginx")),
                   (True, "l4", v2url, None), (True, "waypoint", vip, self.pids["waypoint"]))
        rounds = []
        for n in range(self.paired_rounds):
            pair = {}
            try:
                for i, (enrolled, label, url, pid) in enumerate(windows):
                    if i == 0 or enrolled != windows[i - 1][0]:
                        self.set_enrolled(enrolled)
                    self.hey(url, 2)  # warm-up: connections and tunnels open before the window
                    r = self.fixed_rate(url, {label: [pid]} if pid else {})
                    if pid:
                        pair[label] = r["cost"][label]["cpu_per_1k"]
                    pair[f"{label}_p99"] = r["p99"]
            except ScenarioError as e:
                # The rounds done so far stay (the verdicts use them; the report says how many
                # ran); the run still fails.
                if not rounds:
                    raise
                self.failures.append(f"paired: round {n + 1}: {e}")
                log(f"paired: round {n + 1} FAILED {e}")
                return {"rounds": rounds, "failed_round": f"round {n + 1}: {e}"}
            rounds.append(pair)
        return {"rounds": rounds}

    def hey(self, url, seconds):
        """hey at the fixed rate (RATE req/s over CONNS connections) for `seconds`."""
        return run(self.pod("client", ["hey", "-c", str(CONNS), "-q", f"{RATE / CONNS:g}",
                                       "-z", f"{seconds}s", "-t", "10", url]),
                   seconds + 40, check=False)

    def conn_rate(self, key, url):
        self.scenario(f"conn/{key}", lambda: self.wrk(url, close=True, duration=self.t_conn))

    def idle_connections(self):
        v2 = f"{self.lab}-pod-my-app-v2"
        self.start("idle-sink", self.ns(v2, ["/usr/bin/python3", str(HERE / "idle_conns.py"),
                                            "serve", str(SINK_PORT)]), SINK_PORT, v2)
        zt = {n: self.pids[f"ztunnel-{n}"] for n in ("node1", "node2")}
        before = {n: status_kb(pid, "VmRSS") / 1024.0 for n, pid in zt.items()}
        cmd = self.pod("client", ["/usr/bin/python3", str(HERE / "idle_conns.py"), "connect",
                                  V2_IP, str(SINK_PORT), str(self.idle_conns), "60"])
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.procs.append(("idle-client", p))
        try:
            line = ""
            deadline = time.time() + 90
            while time.time() < deadline and not line.startswith(("READY", "ERROR")):
                line = p.stdout.readline()
                if not line and p.poll() is not None:
                    break
            if not line.startswith("READY"):
                raise ScenarioError(f"idle client: {line.strip() or p.stderr.read()[-200:]}")
            held = int(line.split()[1])
            time.sleep(1)
            during = {n: status_kb(pid, "VmRSS") / 1024.0 for n, pid in zt.items()}
            p.stdin.write("done\n")
            p.stdin.flush()
            p.wait(timeout=60)
        finally:
            self.stop("idle-client")
            self.stop("idle-sink")
        if held < self.idle_conns:
            raise ScenarioError(f"only {held} of {self.idle_conns} connections established")
        return {"conns": held, "before": before, "during": during}

    def micro(self):
        out = {}
        stall = {}  # reload_stall_bench's counters by variant (report.py's reload-stall row)
        for name in ("rbac_bench", "route_bench", "config_bench", "reload_stall_bench"):
            exe = self.build / "bench" / name
            if not exe.exists():
                raise ScenarioError(f"{exe} not built")
            p = run([str(exe), "--benchmark_format=json",
                     f"--benchmark_min_time={self.micro_min_time}"], 600)
            for b in json.loads(p.stdout)["benchmarks"]:
                if b.get("error_occurred"):
                    raise ScenarioError(f"{name}/{b['name']}: {b.get('error_message')}")
                unit = b.get("time_unit", "ns")
                scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[unit]
                out[f"{name}/{b['name']}"] = b["real_time"] * scale  # microseconds
                if "idle_ms" in b:  # reload_stall_bench: the same thread's worst tick, idle
                    out[f"{name}/{b['name']}{IDLE_SUFFIX}"] = b["idle_ms"] * 1000.0
                    stall[b["name"].split("/")[1]] = {
                        k: b[k] for k in ("late_ticks", "idle_late_ticks", "reclaim_late_ticks",
                                          "idle_reclaim_late_ticks") if k in b}
        self.rows["reload_stall"] = stall
        if not out or any(v <= 0 for v in out.values()):
            raise ScenarioError("micro-benchmarks produced no positive times")
        return out

    def profile(self, seconds):
        """perf (flat, self time) of both ztunnels and the waypoint under wrk load through the
        waypoint: the top symbols of each."""
        out = {}
        url = f"http://{VIP}/bytes/1024"
        recs = {}
        for target in ("ztunnel-node1", "ztunnel-node2", "waypoint"):
            data = self.work / f"perf-{target}.data"
            recs[target] = (data, subprocess.Popen(
                ["perf", "record", "-F", "999", "-o", str(data), "-p", str(self.pids[target]),
                 "--", "sleep", str(seconds)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            self.procs.append((f"perf-{target}", recs[target][1]))
        try:
            self.wrk(url, duration=seconds)
        finally:
            for target, (_, rec) in recs.items():
                try:
                    rec.wait(timeout=seconds + 60)
                finally:
                    self.stop(f"perf-{target}")
        for target, (data, _) in recs.items():
            lines = []
            for sort, limit, keep in (("dso", 6, lambda ln: True),
                                      ("dso,symbol", 10, lambda ln: "[.]" in ln)):
                rep = run(["perf", "report", "-i", str(data), "--stdio", "--no-children",
                           "--sort", sort, "--percent-limit", "0.5"], 120)
                rows = [re.sub(r"( -)+$", "", re.sub(r"\s+", " ", ln.strip()))[:140]
                        for ln in rep.stdout.splitlines()
                        if ln.strip() and not ln.startswith("#") and keep(ln)]
                lines += rows[:limit]
                if sort == "dso":
                    lines.append("-- top user-space symbols:")
            if len(lines) < 2:
                raise ScenarioError(f"perf report for {target} is empty")
            out[target] = lines
        return out

    # ---- the run
    def main(self):
        t0 = time.time()
        try:
            self.up()
            self.start_servers()
            v2url = f"http://{V2_IP}:8080/bytes/1024"
            # Phase A: no mesh.
            self.set_enrolled(False)
            zt_before = self.ztunnel_connections()
            st_pids = [self.server_pid("stunnel-client"), self.server_pid("stunnel-server")]
            relay_pids = [self.server_pid("relay-client"), self.server_pid("relay-server")]
            # HTTP rows before the iperf3 rows, in both phases: a proxy's memory at 1,000 req/s
            # is then its own, not what a bulk transfer just before left in its heap.
            self.http_all("direct", v2url, {})
            self.http_all("stunnel", f"http://127.0.0.1:{LOCAL_STUNNEL_HTTP}/bytes/1024",
                          {"stunnel (both)": st_pids})
            self.http_all("nginx", f"http://{WAYPOINT_IP}:{NGINX_PORT}/bytes/1024",
                          {"nginx": [self.server_pid("nginx")]})
            self.http_all("haproxy", f"http://{WAYPOINT_IP}:{HAPROXY_PORT}/bytes/1024",
                          {"haproxy": [self.server_pid("haproxy")]})
            self.http_all("relay", f"http://127.0.0.1:{LOCAL_RELAY_HTTP}/bytes/1024",
                          {"relays (both)": relay_pids})
            self.scenario("iperf/direct", lambda: self.iperf(V2_IP, IPERF_PORT))
            self.scenario("iperf/stunnel", lambda: self.iperf("127.0.0.1", LOCAL_STUNNEL_IPERF,
                                                              {"stunnel (both)": st_pids}))
            self.scenario("iperf/relay", lambda: self.iperf("127.0.0.1", LOCAL_RELAY_IPERF,
                                                            {"relays (both)": relay_pids}))
            self.conn_rate("direct", v2url)
            self.conn_rate("stunnel", f"http://127.0.0.1:{LOCAL_STUNNEL_HTTP}/bytes/1024")
            zt_after = self.ztunnel_connections()
            if zt_after != zt_before:
                raise ScenarioError(f"baselines went through the mesh: ztunnel connections "
                                    f"{zt_before} -> {zt_after}")
            self.baseline_bypass = f"ztunnel connections opened: {zt_before:g} before, " \
                                   f"{zt_after:g} after the baselines"
            # nginx stays: the paired windows below alternate it with the waypoint.
            for name in ("stunnel-client", "stunnel-server", "haproxy", "relay-client",
                         "relay-server"):
                self.stop(name)
            # Phase B: the mesh.
            self.set_enrolled(True)
            zt = {"ztunnel node1": [self.pids["ztunnel-node1"]],
                  "ztunnel node2": [self.pids["ztunnel-node2"]]}
            vip = f"http://{VIP}/bytes/1024"
            run(self.pod("client", ["curl", "-sf", "-o", "/dev/null", "-m", "5", "--retry", "5",
                                    "--retry-all-errors", vip]), 60, check=False)
            self.http_all("ambit-l4", v2url, zt)
            self.http_all("ambit-waypoint", vip, {**zt, "waypoint": [self.pids["waypoint"]]})
            self.scenario("iperf/ambit", lambda: self.iperf(V2_IP, IPERF_PORT, zt))
            self.scenario("crypto", self.crypto_cost)
            self.conn_rate("ambit-l4", v2url)
            self.conn_rate("ambit-waypoint", vip)
            self.scenario("paired", self.paired_cpu)
            self.stop("nginx")
            # Outside scenario(): when the mesh cannot be enrolled again, the run stops here
            # rather than measure the rows below without it.
            self.set_enrolled(True)
            self.scenario("idle", self.idle_connections)
            if self.args.profile or not self.quick:
                self.scenario("profile", lambda: self.profile(10 if not self.quick else 3))
        except Interrupted:
            self.failures.append("interrupted")
            log("interrupted: cleaning up")
        except ScenarioError as e:
            self.failures.append(f"setup: {e}")
            log(f"FAILED: {e}")
        finally:
            # A second Ctrl-C must not cut the cleanup short.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            self.stop_all()
            self.down()
            shutil.rmtree(self.work, ignore_errors=True)
        # Micro-benchmarks need no lab; run them after it is gone (quieter machine).
        if "interrupted" not in self.failures:
            self.scenario("micro", self.micro)
        self.elapsed = time.time() - t0
        import report  # noqa: E402 (tests/bench/report.py)
        table = report.render(self)
        out = Path(self.args.out or self.build / "bench" /
                   ("results-quick.md" if self.quick else "results.md"))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(table)
        print(table)
        missing = report.missing_numbers(self)
        problems = self.failures + missing
        if problems:
            print("bench: FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
            return 1
        log(f"results in {out} ({self.elapsed:.0f}s)")
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short durations, lab benchq")
    ap.add_argument("--lab", help="lab name (default bench, benchq with --quick)")
    ap.add_argument("--build-dir", default=str(REPO / "build"))
    ap.add_argument("--out", help="results file (markdown)")
    ap.add_argument("--profile", action="store_true", help="perf the ztunnels and waypoint (always in a full run)")
    args = ap.parse_args()

    def on_signal(signum, _frame):
        raise Interrupted(signal.Signals(signum).name)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    sys.dont_write_bytecode = True
    sys.path.insert(0, str(HERE))
    return Bench(args).main()


if __name__ == "__main__":
    sys.exit(main())
