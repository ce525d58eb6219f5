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
the client's own address, and the node's ztunnel counts the connections as mutual_tls;
`helm uninstall` → the chart's pods and objects go, pods talk directly again. Time to Ready and
time to enrolled are printed. The node is torn down on success and failure alike and must leave
nothing on the host (nor BPF pins or kube-proxy's nftables tables). Needs root and
`scripts/setup-k8s.sh --node`; exits 77 (skipped, loudly) without them. Run under
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
import node_cleanup as cleanup  # noqa: E402
import node_services  # noqa: E402
from node_cluster_test import (host_leftovers, host_netns_and_veths, json_values,  # noqa: E402
                               read_state, wait_for)

BIN = os.environ.get("AMBIT_BIN_DIR", os.path.join(REPO, "build", "bin"))
BINARIES = [os.path.join(BIN, b) for b in ("ambit-agent", "ambit-ztunnel", "ambit-control",
                                           "ambit-waypoint", "ambit-sample-app")]
CLIENT = "/usr/bin/curl"  # Debian's curl, made an image like ambit's binaries
CHART = os.path.join(REPO, "deploy", "helm", "ambit")
VALUES = os.path.join(HERE, "node_chart", "values-test-node.yaml")
SAMPLE_APP = os.path.join(REPO, "deploy", "samples", "kubernetes", "sample-app.yaml")
REDIRECTION = "ambient.istio.io/redirection"
ZTUNNEL_METRICS = "http://127.0.0.1:15020/metrics"  # the node pod's host port


def cgroup2_mount() -> str:
    mounts = [m for m, fstype in cleanup.mountinfo() if fstype == "cgroup2"]
    if not mounts:
        raise AssertionError("no cgroup2 mount on this host")
    return mounts[0]


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


class ChartOnRealNodeTest(unittest.TestCase):
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
                     ("-n", "ambit-system", "logs", "deployment/ambit-control", "--tail=40")):
            try:
                out.append(f"$ kubectl {' '.join(args)}\n{self.kubectl(*args)}")
            except k8s.ClusterError as e:
                out.append(f"$ kubectl {' '.join(args)}\n{e}")
        return "\n".join(out)[-12000:]

    def run_client(self, name: str, curl_args: list[str]) -> tuple[dict, list[dict]]:
        """`kubectl run` a curl pod in demo; its pod object and the JSON answers it printed."""
        self.kubectl("-n", "demo", "run", name, "--restart=Never",
                     f"--image=localhost/curl:{k8s_node.image_tag()}",
                     "--image-pull-policy=Never", "--overrides",
                     json.dumps({"spec": {"serviceAccountName": "client"}}), "--",
                     "-sS", "--max-time", "5", "--retry", "5", "--retry-connrefused", *curl_args)

        def done():
            pod = self.get("-n", "demo", "pod", name)
            return pod if pod["status"].get("phase") in ("Succeeded", "Failed") else None

        pod = wait_for(done, f"client pod {name} to finish", 90)
        logs = self.kubectl("-n", "demo", "logs", name)
        self.assertEqual(pod["status"]["phase"], "Succeeded", logs)
        return pod, json_values(logs)

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
        client, answers = self.run_client(
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

        # Uninstall: the chart's objects go and the pods talk directly again.
        started = time.monotonic()
        self.helm("uninstall", "ambit", "--namespace", "ambit-system", "--wait",
                  "--timeout=120s")
        wait_for(lambda: not self.get("-n", "ambit-system", "pods")["items"],
                 "the chart's pods to go", 120)
        self.timings["helm uninstall -> pods gone"] = time.monotonic() - started
        _, answers = self.run_client("client-direct", ["http://my-app/"] * 4)
        self.assertEqual(len(answers), 4, answers)

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
