#!/usr/bin/env python3
"""ctest k8s_real_node: a real single-node Kubernetes cluster runs pods and leaves nothing behind.

tests/k8s/cluster/node.py starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
containerd (runc, CNI bridge + host-local + loopback) and the kubelet; the images are built
from ambit's own binaries (scripts/build-images.sh) and imported, no registry. A Deployment of
ambit-sample-app (2 replicas) runs with pod IPs from the node's pod CIDR, its processes sit in
the cgroup2 directory the agent computes (agent/kubelet_cgroup.h), and a client pod reaches both
replicas over the bridge without NAT. `down`, the watchdog after its owner is SIGKILLed, and the
next start after the owner and the watchdog were both SIGKILLed all leave no process, mount,
cgroup, netns, bridge, veth, log link or changed sysctl; a component that fails to start is
named in the error, with its log, and the host is left clean too. Needs root and the components of
`scripts/setup-k8s.sh --node`; exits 77 (skipped, loudly) without them. Run under
flock /tmp/ambit-e2e.lock.
"""

import ipaddress
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
SETUP = os.path.join(REPO, "scripts", "setup-k8s.sh")
CLUSTER_CLI = os.path.join(HERE, "cluster", "cluster.py")
sys.path.insert(0, os.path.join(HERE, "cluster"))
import cluster as k8s  # noqa: E402
import node as k8s_node  # noqa: E402
import node_cleanup as cleanup  # noqa: E402
import processes  # noqa: E402

SAMPLE_APP = os.environ.get("AMBIT_SAMPLE_APP", os.path.join(REPO, "build", "bin",
                                                             "ambit-sample-app"))
CLIENT = "/usr/bin/curl"  # Debian's curl, made an image like ambit's binaries


def deployment(name: str, replicas: int) -> str:
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {
                     "terminationGracePeriodSeconds": 2,
                     "containers": [{
                         "name": "app",
                         "image": "localhost/ambit-sample-app:" + k8s_node.image_tag(),
                         "imagePullPolicy": "Never",
                         "args": ["--port=8080", "--threads=1", "--pod=$(POD_NAME)"],
                         "env": [{"name": "POD_NAME", "valueFrom": {
                             "fieldRef": {"fieldPath": "metadata.name"}}}],
                         "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                                       "limits": {"cpu": "200m", "memory": "64Mi"}}}]}}}})


def client_pod(urls: list[str]) -> str:
    return json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client", "namespace": "default"},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "curl", "image": "localhost/curl:" + k8s_node.image_tag(),
            "imagePullPolicy": "Never",
            "args": ["-sS", "--max-time", "5", "--retry", "5", "--retry-connrefused", *urls],
            "resources": {"limits": {"cpu": "100m", "memory": "32Mi"}}}]}})


def wait_for(condition, what: str, timeout: float = 120.0, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def json_values(text: str) -> list[dict]:
    """The JSON documents written one after the other (curl prints each response body)."""
    decoder, values, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        value, i = decoder.raw_decode(text, i)
        values.append(value)
    return values


def host_leftovers(root: str, state: dict, shared: bool = True) -> list[str]:
    """What of a node rooted at root (its recorded state) is still on the host; shared=False
    leaves out what every node uses under the same name (cgroup root, sysctls), for a check
    while another node runs."""
    node = state.get("node", {})
    left = []
    daemons = [processes.Daemon.from_json(d) for d in state.get("daemons", [])]
    left += [f"process {d.name} (pid {d.pid})" for d in daemons if processes.is_running(d)]
    if node:
        left += [f"shim pid {p}" for p in cleanup.shim_pids(node["containerd_socket"])]
        if cleanup.link_exists(node["bridge"]):
            left.append(f"bridge {node['bridge']}")
    if node and shared:
        left += [f"pod process pid {p}" for p in cleanup.pids_in_cgroups(node["cgroup_root"])]
        left += [f"cgroup {d}" for d in cleanup.cgroup_dirs(node["cgroup_root"])]
        for name, value in node["sysctls"].items():
            if cleanup.read_sysctl(name) != value:
                left.append(f"sysctl {name}={cleanup.read_sysctl(name)} (was {value})")
    left += [f"mount {m}" for m in cleanup.mounts_under(root)]
    for link in os.listdir("/var/log/containers") if os.path.isdir("/var/log/containers") else []:
        target = os.path.join("/var/log/containers", link)
        if os.path.islink(target) and os.readlink(target).startswith(root + "/"):
            left.append(f"log link {target}")
    if os.path.exists(cleanup.registry_path(root)):
        left.append(f"registry entry {cleanup.registry_path(root)}")
    if os.path.exists(root):
        left.append(f"directory {root}")
    return left


def host_netns_and_veths() -> set[str]:
    """Named netns and veth links on the host: a node may add none that outlive it."""
    names = {f"netns {n}" for n in (os.listdir("/run/netns") if os.path.isdir("/run/netns")
                                    else [])}
    out = subprocess.run(["ip", "-j", "link", "show", "type", "veth"], capture_output=True,
                         text=True, check=True).stdout
    return names | {f"veth {link['ifname']}" for link in json.loads(out or "[]")}


def read_state(root: str) -> dict:
    with open(os.path.join(root, k8s.STATE_FILE), encoding="utf-8") as f:
        return json.load(f)


class RealNodeTest(unittest.TestCase):
    node: k8s_node.NodeCluster

    @classmethod
    def setUpClass(cls):
        cls.before = host_netns_and_veths()
        cls.root = tempfile.mkdtemp(prefix="ambit-node-")
        os.rmdir(cls.root)  # up wants to create it; the name stays ours while this runs
        cls.node = k8s_node.NodeCluster(cls.root)
        started = time.monotonic()
        try:
            cls.node.up(k8s.default_bin_dir(), owner_pid=os.getpid(),
                        images=[SAMPLE_APP, CLIENT])
        except BaseException:
            cls.node.down()
            raise
        print(f"node Ready {time.monotonic() - started:.1f} s after start", file=sys.stderr)

    @classmethod
    def tearDownClass(cls):
        state = read_state(cls.root)
        started = time.monotonic()
        cls.node.down()
        print(f"node down in {time.monotonic() - started:.1f} s", file=sys.stderr)
        left = host_leftovers(cls.root, state)
        new = host_netns_and_veths() - cls.before
        if left or new:
            raise AssertionError(f"left on the host after down: {left + sorted(new)}")

    def pods(self, selector: str) -> list[dict]:
        return json.loads(self.node.kubectl("get", "pods", "-l", selector, "-o", "json"))["items"]

    def test_pods_run_and_reach_each_other_over_the_cni_network(self):
        self.node.kubectl("apply", "-f", "-", stdin=deployment("sample", 2))
        self.node.kubectl("rollout", "status", "deployment/sample", "--timeout=120s")
        pods = self.pods("app=sample")
        self.assertEqual(len(pods), 2)
        cidr = ipaddress.ip_network(k8s_node.POD_CIDR)
        ips = [p["status"]["podIP"] for p in pods]
        self.assertEqual(len(set(ips)), 2, ips)
        for ip in ips:
            self.assertIn(ipaddress.ip_address(ip), cidr, f"pod IP {ip} outside {cidr}")

        # Where the agent looks for a pod's processes (agent/kubelet_cgroup.h, cgroupfs driver,
        # --kubelet-cgroup-root=/ambit-k8s-node): <cgroup2>/<root>/kubepods/<qos>/pod<uid>.
        cgroup2 = [m for m, fstype in cleanup.mountinfo() if fstype == "cgroup2"][0]
        for pod in pods:
            qos = pod["status"]["qosClass"].lower()
            directory = os.path.join(cgroup2, k8s_node.CGROUP_ROOT.strip("/"), "kubepods",
                                     *([] if qos == "guaranteed" else [qos]),
                                     "pod" + pod["metadata"]["uid"])
            procs = []
            for sub, _, files in os.walk(directory):
                if "cgroup.procs" in files:
                    with open(os.path.join(sub, "cgroup.procs"), encoding="ascii") as f:
                        procs += f.read().split()
            self.assertTrue(procs, f"no process of {pod['metadata']['name']} in {directory}")

        self.node.kubectl("apply", "-f", "-",
                          stdin=client_pod([f"http://{ip}:8080/" for ip in ips]))

        def client_done():
            phase = json.loads(self.node.kubectl("get", "pod", "client", "-o", "json"))[
                "status"].get("phase")
            return phase if phase in ("Succeeded", "Failed") else None

        phase = wait_for(client_done, "the client pod to finish")
        logs = self.node.kubectl("logs", "client")
        self.assertEqual(phase, "Succeeded", logs)
        client_ip = json.loads(self.node.kubectl("get", "pod", "client", "-o", "json"))[
            "status"]["podIP"]
        answers = json_values(logs)
        self.assertEqual([a["pod"] for a in answers], [p["metadata"]["name"] for p in pods])
        for answer in answers:  # straight over the bridge: the peer is the client pod itself
            self.assertEqual(answer["peer"].rsplit(":", 1)[0], client_ip, answer)


class FailedStartTest(unittest.TestCase):
    def test_a_component_that_fails_is_named_and_the_host_is_left_clean(self):
        real = k8s.default_bin_dir()
        with tempfile.TemporaryDirectory(prefix="ambit-node-bin-") as bin_dir:
            for name in os.listdir(real):
                if not name.startswith(".") and name != "kubelet":
                    os.symlink(os.path.join(real, name), os.path.join(bin_dir, name))
            with open(os.path.join(bin_dir, "kubelet"), "w", encoding="utf-8") as f:
                f.write("#!/bin/sh\necho 'this kubelet refuses to start'\nexit 3\n")
            os.chmod(os.path.join(bin_dir, "kubelet"), 0o755)
            root = tempfile.mkdtemp(prefix="ambit-node-")
            os.rmdir(root)
            node = k8s_node.NodeCluster(root)
            try:
                with self.assertRaises(k8s.ClusterError) as error:
                    node.up(bin_dir, owner_pid=os.getpid())
            finally:
                state = read_state(root)
                node.down()
        self.assertEqual(error.exception.component, "kubelet")
        self.assertIn("exited with code 3", str(error.exception))
        self.assertIn("this kubelet refuses to start", str(error.exception))
        self.assertEqual(host_leftovers(root, state), [])


class KilledNodeTest(unittest.TestCase):
    """A node whose owner dies: the watchdog tears it down; if the watchdog dies too, the next
    start does."""

    def start_owned_node(self, root: str) -> subprocess.Popen:
        owner = subprocess.Popen(["sleep", "600"])
        up = subprocess.run([sys.executable, CLUSTER_CLI, "up", "--node", f"--root={root}",
                             f"--owner-pid={owner.pid}", f"--image={SAMPLE_APP}"],
                            capture_output=True, text=True, check=False)
        if up.returncode != 0:
            owner.kill()
            owner.wait()
            subprocess.run([sys.executable, CLUSTER_CLI, "down", f"--root={root}"], check=False)
            self.fail(f"cluster.py up --node failed: {up.stderr}")
        node = k8s.open_cluster(root)
        node.kubectl("apply", "-f", "-", stdin=deployment("victim", 1))
        node.kubectl("rollout", "status", "deployment/victim", "--timeout=120s")
        return owner

    def test_watchdog_removes_the_node_when_its_owner_is_killed(self):
        before = host_netns_and_veths()
        root = tempfile.mkdtemp(prefix="ambit-node-")
        os.rmdir(root)
        owner = self.start_owned_node(root)
        state = read_state(root)
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        wait_for(lambda: not os.path.exists(root), "the watchdog to remove the node", 180)
        self.assertEqual(host_leftovers(root, state), [])
        self.assertEqual(host_netns_and_veths() - before, set())

    def test_next_start_removes_a_node_whose_owner_and_watchdog_were_killed(self):
        before = host_netns_and_veths()
        root = tempfile.mkdtemp(prefix="ambit-node-")
        os.rmdir(root)
        owner = self.start_owned_node(root)
        state = read_state(root)
        watchdog = [processes.Daemon.from_json(d) for d in state["daemons"]
                    if d["name"] == k8s.WATCHDOG][0]
        os.kill(watchdog.pid, signal.SIGKILL)
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        wait_for(lambda: not processes.is_running(watchdog), "the watchdog to die")
        self.assertTrue(os.path.exists(cleanup.registry_path(root)))
        self.assertNotEqual(host_leftovers(root, state), [], "the killed node left nothing?")

        # The next start: a new node first removes the stale one.
        second = tempfile.mkdtemp(prefix="ambit-node-")
        os.rmdir(second)
        up = subprocess.run([sys.executable, CLUSTER_CLI, "up", "--node", f"--root={second}",
                             f"--owner-pid={os.getpid()}"], capture_output=True, text=True,
                            check=False)
        try:
            self.assertEqual(up.returncode, 0, up.stderr)
            self.assertEqual(host_leftovers(root, state, shared=False), [])
        finally:
            second_state = read_state(second) if os.path.exists(second) else {}
            down = subprocess.run([sys.executable, CLUSTER_CLI, "down", f"--root={second}"],
                                  capture_output=True, text=True, check=False)
        self.assertEqual(down.returncode, 0, down.stderr)
        self.assertEqual(host_leftovers(second, second_state), [])
        self.assertEqual(host_leftovers(root, state), [])
        self.assertEqual(host_netns_and_veths() - before, set())


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
    for binary in (SAMPLE_APP, CLIENT):
        if not os.access(binary, os.X_OK):
            print(f"SKIPPED LOUDLY: no executable {binary} (build ambit-sample-app; "
                  "apt-get install curl)", file=sys.stderr)
            return 77
    result = unittest.main(module="__main__", exit=False, verbosity=2).result
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
