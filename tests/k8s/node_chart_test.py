#!/usr/bin/env python3
"""ctest k8s_node_chart: the kubelet of a real node runs ambit from the Helm chart.

The steps are those of docs/kubernetes.md ("Install on Kubernetes"), as a user runs them on the
test node (tests/k8s/cluster/node.py: kubelet, containerd, runc, CNI bridge, kube-proxy in
nftables mode, CoreDNS): the images built from the project's binaries by
scripts/build-images.sh and imported into the node's containerd; `helm install ambit
deploy/helm/ambit` with the node's values file (and its cgroup2 mount, found in mountinfo) →
ambit-control and the ambit-node DaemonSet Ready; the sample app (deploy/samples/kubernetes) in
the ambient namespace `demo` → its pods enrolled by the agent (annotation
ambient.istio.io/redirection); a client pod's requests to the Service reach both versions from
the client's own address, and the node's ztunnel counts the connections as mutual_tls; the
pod-startup race (50 pods whose curl connects at once: none bypasses the mesh, counted at the
destination's ztunnel); L4 and L7 policy and the 80/20 split through the waypoint; a Prometheus on the host with the RBAC and
kubernetes_sd_configs jobs of docs/kubernetes.md ("Metrics") finds the chart's pods and the
waypoint by their prometheus.io annotations, scrapes them on their pod IPs and has the traffic's
istio_tcp_* and istio_requests_total series with the workloads on both ends; the agent and
the ztunnel killed and restarted by the kubelet (no failed request / recovery time); under
2,000 new connections and 20 long-lived ones each (node_chart_lifecycle.py): `helm upgrade` to
a second image tag (the ambit-node DaemonSet rolls with maxSurge 1: no new connection may fail),
`kubectl delete pod` of the node pod (none may fail) and the waypoint's roll (measured only);
`helm uninstall` → the chart's pods and objects go, pods talk directly again. Time to Ready and
time to enrolled are printed. The node is torn down on success and failure alike and must leave
nothing on the host (nor BPF pins or kube-proxy's nftables tables). Needs root and
`scripts/setup-k8s.sh --node --observability`; exits 77 (skipped, loudly) without them. Run under
flock /tmp/ambit-e2e.lock.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
SETUP = os.path.join(REPO, "scripts", "setup-k8s.sh")
sys.path.insert(0, os.path.join(HERE, "cluster"))
sys.path.insert(0, HERE)
import cluster as k8s  # noqa: E402
import node as k8s_node  # noqa: E402
import node_services  # noqa: E402
from host_prometheus import (HostPrometheus, out_of_cluster_scrape_config,  # noqa: E402
                             service_account_credentials)
from node_chart_lifecycle import NodeLifecycleSteps, cgroup2_mount  # noqa: E402
from node_cluster_test import (host_leftovers, host_netns_and_veths, read_state,  # noqa: E402
                               wait_for)

BIN = os.environ.get("AMBIT_BIN_DIR", os.path.join(REPO, "build", "bin"))
BINARIES = [os.path.join(BIN, b) for b in ("ambit-agent", "ambit-ztunnel", "ambit-control",
                                           "ambit-waypoint", "ambit-sample-app")]
CLIENT = "/usr/bin/curl"  # Debian's curl, made an image like ambit's binaries
CHART = os.path.join(REPO, "deploy", "helm", "ambit")
VALUES = os.path.join(HERE, "node_chart", "values-test-node.yaml")
SAMPLES = os.path.join(REPO, "deploy", "samples", "kubernetes")
SAMPLE_APP = os.path.join(SAMPLES, "sample-app.yaml")
WAYPOINT = os.path.join(SAMPLES, "waypoint.yaml")
POLICIES = os.path.join(SAMPLES, "policies.yaml")
REDIRECTION = "ambient.istio.io/redirection"
ZTUNNEL_METRICS = "http://127.0.0.1:15020/metrics"  # the node pod's host port


def json_values_lenient(text: str) -> list[dict]:
    """The JSON objects in curl's output, skipping what curl printed between them (its
    retry warnings and errors go to the same pod log)."""
    decoder, values, i = json.JSONDecoder(), [], 0
    while (i := text.find("{", i)) >= 0:
        try:
            value, i = decoder.raw_decode(text, i)
            values.append(value)
        except ValueError:
            i += 1
    return values


def metric_sum(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        series, value = line.rsplit(" ", 1)
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', series))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(value)
    return total


class ChartOnRealNodeTest(NodeLifecycleSteps, unittest.TestCase):
    node: k8s_node.NodeCluster
    timings: dict[str, float] = {}
    results: dict[str, float] = {}

    @classmethod
    def setUpClass(cls):
        cls.before = host_netns_and_veths()
        cls.root = tempfile.mkdtemp(prefix="ambit-node-")
        os.rmdir(cls.root)  # up wants to create it; the name stays ours while this runs
        cls.node = k8s_node.NodeCluster(cls.root)
        started = time.monotonic()
        try:
            cls.node.up(k8s.default_bin_dir(), owner_pid=os.getpid(),
                        images=[*BINARIES, CLIENT])
        except BaseException:
            cls.node.down()
            raise
        cls.timings["node up (incl. images)"] = time.monotonic() - started

    @classmethod
    def tearDownClass(cls):
        state = read_state(cls.root)
        cls.node.down()
        for what, seconds in cls.timings.items():
            print(f"timing: {what}: {seconds:.1f} s", file=sys.stderr)
        for what, value in cls.results.items():
            print(f"result: {what}: {value:.0f}", file=sys.stderr)
        left = host_leftovers(cls.root, state)
        left += [f"nft table {t}" for t in node_services.kube_proxy_tables()]
        if os.path.exists(k8s_node.BPF_PIN_DIR):
            left.append(f"BPF pins {k8s_node.BPF_PIN_DIR}")
        new = host_netns_and_veths() - cls.before
        if left or new:
            raise AssertionError(f"left on the host after down: {left + sorted(new)}")

    # ----- what a user types ----------------------------------------------------------------

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        return self.node.kubectl(*args, stdin=stdin)

    def helm(self, *args: str) -> str:
        result = subprocess.run([self.node.binary("helm"), f"--kubeconfig={self.node.kubeconfig}",
                                 *args], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def get(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", *args, "-o", "json"))

    def diagnose(self) -> str:
        """What a user looks at when something is not Ready: pods, events, logs."""
        out = []
        for args in (("get", "pods", "-A", "-o", "wide"),
                     ("get", "events", "-A", "--sort-by=.lastTimestamp"),
                     ("-n", "ambit-system", "logs", "daemonset/ambit-node", "-c", "agent",
                      "--tail=40"),
                     ("-n", "ambit-system", "logs", "daemonset/ambit-node", "-c", "ztunnel",
                      "--tail=40"),
                     ("-n", "ambit-system", "logs", "deployment/ambit-control", "--tail=40"),
                     ("-n", "demo", "logs", "deployment/waypoint", "--tail=40")):
            try:
                out.append(f"$ kubectl {' '.join(args)}\n{self.kubectl(*args)}")
            except k8s.ClusterError as e:
                out.append(f"$ kubectl {' '.join(args)}\n{e}")
        return "\n".join(out)[-20000:]

    def run_client(self, name: str, curl_args: list[str], service_account: str = "client",
                   retry: bool = True) -> tuple[dict, str]:
        """`kubectl run` a curl pod in demo; its pod object (finished) and its output."""
        retries = ["--retry", "5", "--retry-connrefused", "--retry-all-errors"] if retry else []
        self.kubectl("-n", "demo", "run", name, "--restart=Never",
                     f"--image=localhost/curl:{k8s_node.image_tag()}",
                     "--image-pull-policy=Never", "--overrides",
                     json.dumps({"spec": {"serviceAccountName": service_account}}), "--",
                     "-sS", "--max-time", "5", *retries, *curl_args)

        def done():
            pod = self.get("-n", "demo", "pod", name)
            return pod if pod["status"].get("phase") in ("Succeeded", "Failed") else None

        try:
            pod = wait_for(done, f"client pod {name} to finish", 120)
        except AssertionError as e:
            self.fail(f"{e}\n$ kubectl -n demo logs {name} --tail=20\n"
                      f"{self.kubectl('-n', 'demo', 'logs', name, '--tail=20')}\n"
                      f"{self.diagnose()}")
        return pod, self.kubectl("-n", "demo", "logs", name)

    def answers_of(self, name: str, curl_args: list[str]) -> tuple[dict, list[dict]]:
        """run_client that must succeed; the JSON answers of the sample app."""
        pod, logs = self.run_client(name, curl_args)
        self.assertEqual(pod["status"]["phase"], "Succeeded", logs[-3000:])
        return pod, json_values_lenient(logs)

    # ----- the test -------------------------------------------------------------------------

    def test_chart_runs_on_the_node_and_meshes_an_ambient_namespace(self):
        started = time.monotonic()
        self.helm("install", "ambit", CHART, "--namespace", "ambit-system", "--create-namespace",
                  "-f", VALUES, "--set", f"node.cgroupHostPath={cgroup2_mount()}",
                  "--set", f"node.stateHostPath={self.root}/ambit-state")
        try:
            self.kubectl("-n", "ambit-system", "rollout", "status", "deployment/ambit-control",
                         "--timeout=120s")
            self.kubectl("-n", "ambit-system", "rollout", "status", "daemonset/ambit-node",
                         "--timeout=120s")
        except k8s.ClusterError as e:
            self.fail(f"{e}\n{self.diagnose()}")
        self.timings["helm install -> ambit-control and ambit-node Ready"] = (
            time.monotonic() - started)

        # The sample app in the ambient namespace: enrolled by the node agent.
        applied = time.monotonic()
        self.kubectl("apply", "-f", SAMPLE_APP)
        seen_running: dict[str, float] = {}

        def enrolled():
            pods = self.get("-n", "demo", "pods", "-l", "app=my-app")["items"]
            now = time.monotonic()
            for p in pods:
                if p["status"].get("podIP"):
                    seen_running.setdefault(p["metadata"]["name"], now)
            annotated = [p for p in pods
                         if p["metadata"].get("annotations", {}).get(REDIRECTION) == "enabled"]
            return pods if len(pods) == 2 and len(annotated) == 2 else None

        try:
            pods = wait_for(enrolled, "both my-app pods enrolled", 90, interval=0.1)
        except AssertionError as e:
            self.fail(f"{e}\n{self.diagnose()}")
        enrolled_at = time.monotonic()
        self.timings["apply sample app -> both pods enrolled"] = enrolled_at - applied
        self.timings["pod IP seen -> enrolled (slowest pod, polled ~0.1 s + kubectl)"] = max(
            enrolled_at - t for t in seen_running.values())
        for deployment in ("my-app-v1", "my-app-v2"):
            self.kubectl("-n", "demo", "rollout", "status", f"deployment/{deployment}",
                         "--timeout=60s")

        # A client pod: its requests go through the ztunnel (the Service by its DNS name). One
        # connection per request, 4 per second: the first ones race the pod's enrollment (the
        # agent learns of a pod from the API and captures it ~0.5 s after its first process
        # started), the rest must be meshed. Meshed ones are counted by the destination's
        # ztunnel as mutual_tls from workload `client`; the others bypassed the mesh.
        requests = 20
        label = dict(connection_security_policy="mutual_tls", source_workload="client",
                     destination_service_name="my-app", reporter="destination")
        before = metric_sum(self.ztunnel_metrics(), "istio_tcp_connections_opened_total", **label)
        client, answers = self.answers_of(
            "client", ["--rate", "4/s", "-H", "Connection: close", *["http://my-app/"] * requests])
        self.assertEqual(len(answers), requests, answers)
        client_ip = client["status"]["podIP"]
        names = {p["metadata"]["name"] for p in pods}
        for answer in answers:
            self.assertIn(answer["pod"], names)
            # Meshed: delivered by the destination's ztunnel from the client's own address.
            self.assertEqual(answer["peer"].rsplit(":", 1)[0], client_ip, answer)
        self.assertEqual({a["version"] for a in answers}, {"v1", "v2"},
                         "requests reach both versions")

        def meshed():
            opened = metric_sum(self.ztunnel_metrics(), "istio_tcp_connections_opened_total",
                                **label) - before
            return opened if opened > 0 else None

        try:
            opened = wait_for(meshed, "mutual_tls connections in the ztunnel's metrics", 20)
        except AssertionError as e:
            self.fail(f"{e}\n{self.ztunnel_metrics()[-6000:]}")
        self.results["client requests meshed (mutual_tls at the destination)"] = opened
        self.results["client requests that bypassed the mesh (pod-startup race)"] = (
            requests - opened)

        self.pod_startup_race()
        self.l4_policy_refuses_other_identities()
        self.waypoint_splits_80_20()
        self.l7_policy_denies_admin()
        self.prometheus_discovers_and_scrapes_the_mesh()
        # Last before uninstall: a restarted ztunnel starts its counters from zero.
        self.daemons_killed_and_restarted_by_the_kubelet()
        self.upgrade_and_replace_the_node_pods_under_load()

        # Uninstall: the chart's objects go and the pods talk directly again.
        started = time.monotonic()
        self.helm("uninstall", "ambit", "--namespace", "ambit-system", "--wait",
                  "--timeout=120s")
        wait_for(lambda: not self.get("-n", "ambit-system", "pods")["items"],
                 "the chart's pods to go", 120)
        self.timings["helm uninstall -> pods gone"] = time.monotonic() - started
        _, answers = self.answers_of("client-direct", ["http://my-app/"] * 4)
        self.assertEqual(len(answers), 4, answers)
        # The agent saw its DaemonSet gone at SIGTERM and removed the node's capture: no pins
        # (and with them no programs attached to the kubepods cgroups).
        pins = sorted(os.listdir(k8s_node.BPF_PIN_DIR)) if os.path.isdir(
            k8s_node.BPF_PIN_DIR) else []
        self.assertEqual(pins, [], f"helm uninstall left pins in {k8s_node.BPF_PIN_DIR}")

    def pod_startup_race(self):
        """50 pod starts whose app connects in its first milliseconds (curl as the container's
        process, 25 pods at a time). None may bypass the mesh: the agent holds a pod's connects
        (refused, fail closed) from the moment the kubelet creates its cgroup until the pod is
        enrolled, and curl retries. Counted at the destination: my-app's ztunnel logs every
        connection to it, HBONE (meshed) or plain TCP (steered to 15006: it bypassed the mesh at
        its source); none of the latter may appear, and each pod's answer must be an HBONE one."""
        pods, batch = 50, 25
        plaintext_before = len(self.inbound_to_my_app("TCP"))
        answered: dict[str, int] = {}
        pod_ip: dict[str, str] = {}
        retried = 0
        started = time.monotonic()
        for first in range(0, pods, batch):
            names = [f"race-{i}" for i in range(first, first + batch)]
            self.kubectl("apply", "-f", "-", stdin=json.dumps({
                "apiVersion": "v1", "kind": "List",
                "items": [self.race_pod(name) for name in names]}))

            def finished():
                items = self.get("-n", "demo", "pods", "-l", "race=startup")["items"]
                phases = {p["metadata"]["name"]: p["status"].get("phase") for p in items}
                for p in items:
                    if p["status"].get("podIP"):
                        pod_ip[p["metadata"]["name"]] = p["status"]["podIP"]
                return phases if all(phases.get(n) in ("Succeeded", "Failed")
                                     for n in names) else None

            try:
                phases = wait_for(finished, f"race pods {names[0]}..{names[-1]} to finish", 180)
            except AssertionError as e:
                self.fail(f"{e}\n{self.diagnose()}")
            for name in names:
                logs = self.kubectl("-n", "demo", "logs", name)
                self.assertEqual(phases[name], "Succeeded", f"{name}: {logs[-2000:]}")
                answered[name] = len(json_values_lenient(logs))
                retried += "Will retry" in logs
            self.kubectl("-n", "demo", "delete", "pods", "-l", "race=startup", "--wait=false")
        self.timings["50 race pods (2 x 25 at once) run to completion"] = (
            time.monotonic() - started)
        self.assertEqual(sum(answered.values()), pods, answered)
        self.assertEqual(sorted(set(answered) - set(pod_ip)), [], "race pods without an IP")
        # By source address (the ztunnel preserves it): the node's own probes are plaintext too.
        race_ips = {ip: name for name, ip in pod_ip.items()}

        def source(r: dict) -> str | None:
            return race_ips.get(r.get("src.addr", "").rsplit(":", 1)[0].strip("[]"))

        plaintext = [r for r in self.inbound_to_my_app("TCP")[plaintext_before:] if source(r)]
        meshed = {source(r) for r in self.inbound_to_my_app("HBONE")}
        held = self.race_pods_held()
        self.results["race pods marked fail-closed before enrollment (agent log)"] = len(held)
        self.results["race pods whose first connect was refused and retried"] = retried
        self.results["race pods answered over HBONE (destination's access log)"] = len(
            [n for n in answered if n in meshed])
        self.results["plaintext connections to my-app during the race (bypassed)"] = len(
            plaintext)
        enrolled = self.race_enroll_seconds()
        if enrolled:
            enrolled.sort()
            self.results["race pods: first process -> captured, p50 ms"] = (
                1000 * enrolled[len(enrolled) // 2])
            self.results["race pods: first process -> captured, max ms"] = 1000 * enrolled[-1]
        self.assertEqual(plaintext, [], "connections that bypassed the mesh at their source")
        self.assertEqual(sorted(n for n in answered if n not in meshed), [],
                         "race pods whose request my-app's ztunnel did not log as HBONE")

    def inbound_to_my_app(self, protocol: str) -> list[dict]:
        """The node ztunnel's access records of connections into my-app's pods, in order."""
        logs = self.kubectl("-n", "ambit-system", "logs", "daemonset/ambit-node", "-c", "ztunnel",
                            "--tail=-1")
        records = []
        for line in logs.splitlines():
            at = line.find(" access ")
            if at < 0:
                continue
            r = {k: v[1:-1] if v.startswith('"') else v for k, v in re.findall(
                r'(\S+?)=("(?:[^"\\]|\\.)*"|\S*)', line[at + len(" access "):])}
            if (r.get("direction") == "inbound" and r.get("protocol") == protocol
                    and r.get("dst.workload", "").startswith("my-app-")):
                records.append(r)
        return records

    @staticmethod
    def race_pod(name: str) -> dict:
        """A pod whose only process is curl: it connects as soon as its container starts."""
        return {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "demo",
                         "labels": {"app": name, "race": "startup"}},
            "spec": {
                "restartPolicy": "Never", "serviceAccountName": "client",
                "terminationGracePeriodSeconds": 1,
                "containers": [{
                    "name": "curl", "image": f"localhost/curl:{k8s_node.image_tag()}",
                    "imagePullPolicy": "Never",
                    "args": ["--no-progress-meter", "--max-time", "5", "--retry", "10",
                     "--retry-delay", "1",
                             "--retry-all-errors", "-H", "Connection: close",
                             "http://my-app/"]}]}}

    def agent_logs(self) -> str:
        return self.kubectl("-n", "ambit-system", "logs", "daemonset/ambit-node", "-c", "agent",
                            "--tail=-1")

    def race_enroll_seconds(self) -> list[float]:
        """The agent's "captured N s after its first process started" for the race pods."""
        return [float(m.group(1)) for m in re.finditer(
            r"pod demo/race-\d+: captured ([0-9.]+) s after its first process started",
            self.agent_logs())]

    def race_pods_held(self) -> set[str]:
        """Race pods whose cgroup the agent marked (fail closed) before enrolling them."""
        return set(re.findall(r"pod demo/(race-\d+): connects refused until it is enrolled",
                              self.agent_logs()))

    def l4_policy_refuses_other_identities(self):
        """AuthorizationPolicy ALLOW principals (client, waypoint) on my-app, at its ztunnel."""
        self.kubectl("apply", "-f", POLICIES)
        pod, logs = self.run_client("intruder", ["--rate", "4/s", "-H", "Connection: close",
                                                 *["http://my-app/"] * 8],
                                    service_account="default", retry=False)
        self.assertEqual(pod["status"]["phase"], "Failed", logs)
        self.assertEqual(json_values_lenient(logs), [], logs)
        _, answers = self.answers_of("allowed", ["http://my-app/"] * 4)
        self.assertEqual(len(answers), 4)

    def waypoint_splits_80_20(self):
        """The namespace waypoint ambit-control deploys for a Gateway, the seed VirtualService."""
        started = time.monotonic()
        self.kubectl("apply", "-f", WAYPOINT)
        self.kubectl("-n", "demo", "label", "service", "my-app",
                     "istio.io/use-waypoint=waypoint")
        wait_for(lambda: self.get("-n", "demo", "deployments")["items"] and any(
            d["metadata"]["name"] == "waypoint"
            for d in self.get("-n", "demo", "deployments")["items"]),
            "ambit-control to create the waypoint Deployment", 60)
        try:
            self.kubectl("-n", "demo", "rollout", "status", "deployment/waypoint",
                         "--timeout=90s")
        except k8s.ClusterError as e:
            self.fail(f"{e}\n{self.diagnose()}")
        self.timings["Gateway applied -> waypoint Ready"] = time.monotonic() - started
        # A 1 s warm-up request on its own connection while the client pod is being enrolled
        # (the app's /delay/1000), then 2,000 on one keep-alive connection, counted.
        total = 2000
        started = time.monotonic()
        _, answers = self.answers_of("canary", [
            "-H", "Connection: close", "http://my-app/delay/1000", "--next",
            "-sS", "--max-time", "3", *["http://my-app/"] * total])
        self.timings["2,000 requests through the waypoint"] = time.monotonic() - started
        counted = answers[-total:]
        self.assertEqual(len(counted), total)
        v1 = sum(1 for a in counted if a["version"] == "v1")
        self.results["waypoint split: v1 of 2,000"] = v1
        self.assertLessEqual(abs(v1 / total - 0.80), 0.03, f"v1 {v1} of {total}")

    def l7_policy_denies_admin(self):
        _, logs = self.run_client("admin", [
            "-o", "/dev/null", "-w", "%{http_code}\n", "-H", "Connection: close",
            "http://my-app/delay/1000", "--next", "-sS", "-o", "/dev/null", "-w",
            "%{http_code}\n", "http://my-app/admin", "-o", "/dev/null", "http://my-app/"])
        self.assertEqual(logs.split()[-2:], ["403", "200"], logs)

    def prometheus_discovers_and_scrapes_the_mesh(self):
        """Prometheus on the host with docs/kubernetes.md's RBAC and scrape jobs: it finds the
        chart's pods (and the waypoint) by their prometheus.io/* annotations through the API
        server, scrapes them on their pod IPs, and has the traffic above with workload labels."""
        started = time.monotonic()
        with HostPrometheus(self.node.binary("prometheus")) as prometheus:
            token, ca = service_account_credentials(self.kubectl, prometheus.directory)
            prometheus.start(out_of_cluster_scrape_config(self.node.server, token, ca))
            self.targets_up(prometheus)
            self.timings["Prometheus started -> ambit's targets up"] = time.monotonic() - started
            self.traffic_in_prometheus(prometheus)
        self.timings["Prometheus discovery and queries, in all"] = time.monotonic() - started

    def expected_targets(self) -> dict[str, tuple[str, str]]:
        """What Prometheus must scrape, from the pods' own objects: scrape URL -> (job, pod)."""
        pods = {}
        for namespace, selector in (("ambit-system", "app.kubernetes.io/name=ambit-control"),
                                    ("ambit-system", "app.kubernetes.io/name=ambit-node"),
                                    ("demo", "gateway.networking.k8s.io/gateway-name=waypoint")):
            items = self.get("-n", namespace, "pods", "-l", selector)["items"]
            self.assertTrue(items, f"no pod {selector} in {namespace}")
            pods[selector.split("=")[1]] = [(p["metadata"]["name"], p["status"]["podIP"])
                                            for p in items]
        expected = {}
        for app, job, port in (("ambit-control", "kubernetes-pods", 15014),
                               ("ambit-node", "kubernetes-pods", 15020),  # the ztunnel
                               ("ambit-node", "kubernetes-service-endpoints", 15030),  # agent
                               ("waypoint", "kubernetes-pods", 15020)):
            for name, ip in pods[app]:
                expected[f"http://{ip}:{port}/metrics"] = (job, name)
        return expected

    def targets_up(self, prometheus: HostPrometheus) -> None:
        expected = self.expected_targets()
        seen: dict[str, dict] = {}

        def all_up():
            seen.clear()
            seen.update({t["scrapeUrl"]: t for t in prometheus.active_targets()})
            return all(url in seen and seen[url]["health"] == "up" and
                       (seen[url]["labels"].get("job"), seen[url]["labels"].get("pod")) == want
                       for url, want in expected.items())

        try:
            wait_for(all_up, "Prometheus to discover and scrape ambit's pods", 30)
        except AssertionError as e:
            missing = [f"{job} pod {pod} at {url}: " + (
                f"{seen[url]['health']} {seen[url]['lastError']!r} labels {seen[url]['labels']}"
                if url in seen else "not discovered")
                for url, (job, pod) in expected.items()
                if url not in seen or seen[url]["health"] != "up" or
                (seen[url]["labels"].get("job"), seen[url]["labels"].get("pod")) != (job, pod)]
            others = [f"{url} {t['health']} {t['labels']}" for url, t in seen.items()]
            self.fail(f"{e}\nmissing or down:\n  " + "\n  ".join(missing) +
                      "\nactive targets:\n  " + "\n  ".join(others) + "\n" +
                      prometheus.log_tail())

    def traffic_in_prometheus(self, prometheus: HostPrometheus) -> None:
        """The client's meshed connections (at my-app's ztunnel) and the canary's requests (at
        the waypoint), with the workloads on both ends and the scraped pod's labels."""
        v1, v2, either = {"my-app-v1"}, {"my-app-v2"}, {"my-app-v1", "my-app-v2"}
        # The client's first requests may race its enrollment, so one version is enough from
        # it; the waypoint's 80/20 split reaches both.
        from_both = [("client", either), ("waypoint", v1), ("waypoint", v2)]
        checks = [  # (series, selector, [(source_workload, one of these destinations), ...])
            ("istio_tcp_connections_opened_total",
             'reporter="destination",connection_security_policy="mutual_tls",'
             'app_kubernetes_io_name="ambit-node"', from_both),
            # Bytes are counted when a connection ends: the waypoint's pooled ones are still open.
            ("istio_tcp_sent_bytes_total",
             'reporter="destination",app_kubernetes_io_name="ambit-node"', [("client", either)]),
            ("istio_requests_total",
             'reporter="waypoint",response_code="200",'
             'gateway_networking_k8s_io_gateway_name="waypoint"', [("canary", v1), ("canary", v2)]),
        ]
        found: dict[str, set[tuple[str, str]]] = {}

        def lacking(series: str, wanted: list[tuple[str, set[str]]]) -> list:
            return [(source, sorted(destinations)) for source, destinations in wanted
                    if not any(s == source and d in destinations
                               for s, d in found.get(series, ()))]

        def arrived():
            for series, selector, _ in checks:
                result = prometheus.query(
                    f'sum by (source_workload, destination_workload) ({series}{{{selector},'
                    'destination_workload_namespace="demo"}) > 0')
                found[series] = {(r["metric"].get("source_workload", ""),
                                  r["metric"].get("destination_workload", "")) for r in result}
            return not any(lacking(series, wanted) for series, _, wanted in checks)

        try:
            wait_for(arrived, "the mesh's traffic in Prometheus", 15)
        except AssertionError as e:
            missing = [f"{series}{{{selector}}}: no (source, destination) {lacking(series, w)}; "
                       f"has {sorted(found.get(series, ()))}" for series, selector, w in checks]
            self.fail(f"{e}\n  " + "\n  ".join(missing) + "\n" + prometheus.log_tail())
        for series, _, _ in checks:
            self.results[f"Prometheus: {series} (source, destination) workload pairs"] = len(
                found[series])

    def ztunnel_metrics(self) -> str:
        with urllib.request.urlopen(ZTUNNEL_METRICS, timeout=5) as r:
            return r.read().decode()


def main() -> int:
    if os.geteuid() != 0:
        print("SKIPPED LOUDLY: a real node needs root (cgroups, mounts, a bridge)",
              file=sys.stderr)
        return 77
    check = subprocess.run([SETUP, "--check", "--all"], capture_output=True, text=True,
                           check=False)
    if check.returncode != 0:
        print(f"SKIPPED LOUDLY: the node's components are not built.\n{check.stderr.strip()}",
              file=sys.stderr)
        return 77
    for binary in (*BINARIES, CLIENT):
        if not os.access(binary, os.X_OK):
            print(f"SKIPPED LOUDLY: no executable {binary} (build ambit; apt-get install curl)",
                  file=sys.stderr)
            return 77
    result = unittest.main(module="__main__", exit=False, verbosity=2).result
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
