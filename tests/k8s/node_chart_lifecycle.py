"""k8s_node_chart's steps that take the node's daemons away under traffic: kill -9 of the agent
and the ztunnel (the kubelet restarts them), `helm upgrade` to a new image tag (the ambit-node
DaemonSet rolls with maxSurge 1 while new connections run) and `kubectl delete pod` of the node
pod (the DaemonSet controller replaces it). A mixin of ChartOnRealNodeTest (node_chart_test.py),
which provides kubectl, get, helm, diagnose, node, results and timings.
"""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "cluster"))
import cluster as k8s  # noqa: E402
import node as k8s_node  # noqa: E402
import node_cleanup as cleanup  # noqa: E402
from node_cluster_test import wait_for  # noqa: E402

CHART = os.path.join(HERE, "..", "..", "deploy", "helm", "ambit")
LOAD_CLIENT = os.path.join(HERE, "node_chart", "load_client.py")
NODE_PODS = "app.kubernetes.io/component=node"
IMAGES = ("ambit-agent", "ambit-ztunnel", "ambit-control", "ambit-waypoint")
NEW_CONNECTIONS = 2000
LONG_LIVED = 20


def cgroup2_mount() -> str:
    mounts = [m for m, fstype in cleanup.mountinfo() if fstype == "cgroup2"]
    if not mounts:
        raise AssertionError("no cgroup2 mount on this host")
    return mounts[0]


def cgroup_of(pid: int) -> str:
    """The cgroup v2 path of a process (the "0::" line of /proc/<pid>/cgroup)."""
    with open(f"/proc/{pid}/cgroup", encoding="utf-8") as f:
        for line in f:
            if line.startswith("0::"):
                return line[3:].strip()
    raise AssertionError(f"pid {pid} has no cgroup v2 path")


def join_cgroup(procs: str) -> None:
    """In a child before exec: move it into the cgroup whose cgroup.procs is `procs`."""
    with open(procs, "w", encoding="utf-8") as f:
        f.write(str(os.getpid()))


class NodeLifecycleSteps:

    def container(self, namespace: str, pod_prefix: str, name: str) -> tuple[str, int]:
        """Container id and host pid of container `name` in the running pod `pod_prefix`*."""
        ps = json.loads(self.node.crictl(
            "ps", "--state", "running", "--name", f"^{name}$", "--label",
            f"io.kubernetes.pod.namespace={namespace}", "-o", "json").stdout)
        for c in ps.get("containers", []):
            if c["labels"].get("io.kubernetes.pod.name", "").startswith(pod_prefix):
                info = json.loads(self.node.crictl("inspect", c["id"]).stdout)
                return c["id"], int(info["info"]["pid"])
        raise AssertionError(f"no running container {name} in {namespace}/{pod_prefix}*")

    def requests_from_pod(self, pid: int, seconds: float, until=None) -> list[tuple[float, bool]]:
        """New connections to my-app, one every 50 ms for `seconds` (or until `until(results)`),
        made from the pod of process `pid`: curl runs in its network namespace AND its cgroup
        (capture hooks are per cgroup), as the pod's own process would. (time, answered) each."""
        procs = f"{cgroup2_mount()}{cgroup_of(pid)}/cgroup.procs"
        results: list[tuple[float, bool]] = []
        end = time.monotonic() + seconds
        while time.monotonic() < end and not (until and until(results)):
            at = time.monotonic()
            r = subprocess.run(
                ["nsenter", f"--net=/proc/{pid}/ns/net", "curl", "-sS", "--max-time", "1",
                 "-o", "/dev/null", "-w", "%{http_code}", f"http://{self.my_app_ip}/"],
                preexec_fn=lambda: join_cgroup(procs), capture_output=True, text=True,
                check=False, timeout=10)
            results.append((at, r.stdout.strip() == "200"))
            time.sleep(max(0.0, at + 0.05 - time.monotonic()))
        return results

    def daemons_killed_and_restarted_by_the_kubelet(self):
        """kill -9 of the agent: the kubelet restarts it, no request fails (it is not in the data
        path). kill -9 of the ztunnel: requests fail while it is down; the time from the kill to
        the first answered request again is the recovery time. The requests go from my-app-v1 to
        the my-app Service, through the waypoint (the L4 policy lets the waypoint in)."""
        self.my_app_ip = self.get("-n", "demo", "service", "my-app")["spec"]["clusterIP"]
        _, source = self.container("demo", "my-app-v1", "app")
        baseline = self.requests_from_pod(source, 1.0)
        self.assertTrue(all(ok for _, ok in baseline), f"before any kill: {baseline}")

        def restarts(name: str) -> int:
            pods = self.get("-n", "ambit-system", "pods", "-l", "app.kubernetes.io/component=node")
            return sum(c.get("restartCount", 0) for p in pods["items"]
                       for c in p["status"].get("containerStatuses", []) if c["name"] == name)

        for name in ("agent", "ztunnel"):
            before = restarts(name)
            _, pid = self.container("ambit-system", "ambit-node", name)
            killed_at = time.monotonic()
            os.kill(pid, 9)  # a process of the test's own node, found by its container
            if name == "agent":
                results = self.requests_from_pod(source, 8.0)
                failed = sum(1 for _, ok in results if not ok)
                self.results["requests failed while the agent was killed and restarted"] = failed
                self.assertEqual(failed, 0, f"{failed} of {len(results)} failed")
            else:
                def recovered(rs):
                    return any(not ok for _, ok in rs) and rs[-1][1]
                results = self.requests_from_pod(source, 60.0, until=recovered)
                self.assertTrue(recovered(results), "no answer within 60 s of killing the "
                                f"ztunnel\n{self.diagnose()}")
                self.results["ztunnel killed -> first answered request, ms"] = (
                    1000 * (results[-1][0] - killed_at))
                self.results["requests failed while the ztunnel was down (one per 50 ms)"] = (
                    sum(1 for _, ok in results if not ok))
            wait_for(lambda: restarts(name) > before, f"the kubelet to restart the {name}", 60)
            try:
                self.kubectl("-n", "ambit-system", "rollout", "status", "daemonset/ambit-node",
                             "--timeout=60s")
            except k8s.ClusterError as e:
                self.fail(f"{e}\n{self.diagnose()}")

    # ----- helm upgrade and pod deletion under load -------------------------------------------

    def node_pods(self) -> list[dict]:
        return self.get("-n", "ambit-system", "pods", "-l", NODE_PODS)["items"]

    def follow_logs(self) -> list[tuple[str, subprocess.Popen, str]]:
        """`kubectl logs -f` of the node pods' containers and the waypoint into files: an old
        node pod's logs go with it, and they tell what a failed connection met."""
        followed = []
        targets = [("ambit-system", p["metadata"]["name"], c) for p in self.node_pods()
                   for c in ("agent", "ztunnel")]
        targets.append(("demo", "deployment/waypoint", ""))
        for namespace, pod, container in targets:
            path = os.path.join(self.node.root, f"follow-{pod.replace('/', '-')}-{container}.log")
            with open(path, "w", encoding="utf-8") as out:
                proc = subprocess.Popen(
                    [self.node.binary("kubectl"), f"--kubeconfig={self.node.kubeconfig}", "-n",
                     namespace, "logs", "-f", "--tail=0", pod,
                     *(["-c", container] if container else [])],
                    stdout=out, stderr=subprocess.STDOUT)
            followed.append((f"{pod} {container}", proc, path))
        return followed

    def followed_logs(self, followed: list[tuple[str, subprocess.Popen, str]]) -> str:
        """What the followed logs, and those of the node pods now running, say beyond the usual
        (access records of answered or allowed connections are left out)."""
        def unusual(lines):
            return [line.rstrip() for line in lines if " access " not in line or (
                "response_code=200 " not in line and "authz=allow" not in line)]

        out = []
        for what, proc, path in followed:
            proc.terminate()
            proc.wait(timeout=10)
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = unusual(f)
            out.append(f"--- {what} (followed): {len(lines)} lines\n" + "\n".join(lines[-60:]))
        for pod in self.node_pods():
            for container in ("agent", "ztunnel"):
                name = pod["metadata"]["name"]
                try:
                    lines = unusual(self.kubectl("-n", "ambit-system", "logs", name, "-c",
                                                 container, "--tail=-1").splitlines())
                except k8s.ClusterError as e:
                    lines = [str(e)]
                out.append(f"--- {name} {container} (now): {len(lines)} lines\n" +
                           "\n".join(lines[-60:]))
        return "\n".join(out)

    def start_load(self) -> subprocess.Popen:
        """load_client.py in my-app-v1's network namespace and cgroup (a mesh pod's own
        connections) against the my-app Service; returns once its long-lived connections are
        open."""
        self.my_app_ip = self.get("-n", "demo", "service", "my-app")["spec"]["clusterIP"]
        _, pid = self.container("demo", "my-app-v1", "app")
        procs = f"{cgroup2_mount()}{cgroup_of(pid)}/cgroup.procs"
        load = subprocess.Popen(
            ["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, LOAD_CLIENT,
             "--target", f"{self.my_app_ip}:80", "--count", str(NEW_CONNECTIONS),
             "--interval-ms", "10", "--long", str(LONG_LIVED)],
            preexec_fn=lambda: join_cgroup(procs), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = load.stderr.readline()
        if line.strip() != "ready":
            load.kill()
            self.fail(f"the load client did not start: {line}{load.stderr.read()}")
        return load

    def finish_load(self, load: subprocess.Popen) -> dict:
        out, err = load.communicate("stop\n", timeout=300)
        if load.returncode != 0:
            self.fail(f"the load client failed ({load.returncode}): {err[-3000:]}")
        return json.loads(out)

    def report_load(self, what: str, r: dict) -> None:
        print(f"{what}: {json.dumps(r)}", file=sys.stderr)
        self.results[f"{what}: new connections made"] = r["attempts"]
        self.results[f"{what}: new connections failed"] = r["failed"]
        for kind, n in sorted(r["kinds"].items()):
            self.results[f"{what}: new connections failed ({kind})"] = n
        self.results[f"{what}: long-lived connections broken (of {r['long_opened']})"] = (
            r["long_broken"])

    def retag_images(self, tag: str) -> None:
        """The images of the install under a second tag (the same binaries: what changes for
        the cluster is the image reference in the pod templates, as in a real release)."""
        ctr = [self.node.binary("ctr"), "--address", self.node.node["containerd_socket"],
               "-n", "k8s.io", "images", "tag", "--force"]
        for name in IMAGES:
            subprocess.run([*ctr, f"localhost/{name}:{k8s_node.image_tag()}",
                            f"localhost/{name}:{tag}"], check=True, capture_output=True)

    def upgrade_and_replace_the_node_pods_under_load(self):
        """The three changes below, each under its own load; the assertions come last, so that
        one run measures all three."""
        upgraded = self.helm_upgrade_rolls_the_node_pods_under_load()
        deleted = self.node_pod_deleted_under_load()
        rolled = self.waypoint_rolled_under_load()
        self.assertEqual(upgraded["failed"], 0,
                         f"new connections failed during the upgrade: {upgraded}")
        self.assertEqual(deleted["failed"], 0,
                         f"new connections failed while the node pod was replaced: {deleted}")
        self.assertEqual(rolled["failed"], 0,
                         f"new connections failed while the waypoint rolled: {rolled}")

    def under_load(self, what: str, change) -> dict:
        """Runs `change()` (which returns once the change is complete) while the load runs;
        the load's result, reported, with the logs of what the connections met."""
        followed = self.follow_logs()
        load = self.start_load()
        time.sleep(2)
        started = time.monotonic()
        try:
            change(started)
        except (k8s.ClusterError, AssertionError) as e:
            load.kill()
            self.fail(f"{e}\n{self.diagnose()}")
        time.sleep(2)  # some connections after the change too
        r = self.finish_load(load)
        self.report_load(what, r)
        self.assertGreaterEqual(r["attempts"], NEW_CONNECTIONS, r)
        if r["failed"]:
            print(f"{what}: what the failed connections met:\n"
                  f"{self.followed_logs(followed)[-30000:]}", file=sys.stderr)
        else:
            self.followed_logs(followed)
        return r

    def helm_upgrade_rolls_the_node_pods_under_load(self) -> dict:
        """`helm upgrade --set image.tag=<new>` while a mesh pod makes 2,000 new connections to
        the my-app Service and holds 20 keep-alive ones: the ambit-node DaemonSet rolls with
        maxSurge 1 (the new pod starts beside the old one, takes over the ztunnel's listeners,
        then the old one drains), ambit-control rolls too. The waypoint keeps its image here
        (waypoint.image): its own roll is measured apart (waypoint_rolled_under_load)."""
        tag = f"{k8s_node.image_tag()}-upgrade"
        self.retag_images(tag)
        old = {p["metadata"]["name"] for p in self.node_pods()}

        def upgrade(started: float) -> None:
            self.helm("upgrade", "ambit", CHART, "--namespace", "ambit-system",
                      "--reuse-values", "--set", f"image.tag={tag}", "--set",
                      f"waypoint.image=localhost/ambit-waypoint:{k8s_node.image_tag()}")
            self.kubectl("-n", "ambit-system", "rollout", "status", "daemonset/ambit-node",
                         "--timeout=180s")
            self.timings["helm upgrade -> ambit-node rolled out"] = time.monotonic() - started
            wait_for(lambda: not old & {p["metadata"]["name"] for p in self.node_pods()},
                     "the old node pod to go", 60)
            self.timings["helm upgrade -> old node pod gone"] = time.monotonic() - started
            self.kubectl("-n", "ambit-system", "rollout", "status", "deployment/ambit-control",
                         "--timeout=120s")

        r = self.under_load("helm upgrade", upgrade)
        pods = self.node_pods()
        self.assertEqual(len(pods), 1, [p["metadata"]["name"] for p in pods])
        images = sorted(c["image"] for c in pods[0]["spec"]["containers"])
        self.assertEqual(images, [f"localhost/ambit-agent:{tag}",
                                  f"localhost/ambit-ztunnel:{tag}"])
        return r

    def node_pod_deleted_under_load(self) -> dict:
        """`kubectl delete pod` of the node pod under the same load: the kubelet stops it
        (SIGTERM to both containers) while the DaemonSet controller creates its replacement."""
        old = self.node_pods()[0]["metadata"]["name"]

        def delete(started: float) -> None:
            self.kubectl("-n", "ambit-system", "delete", "pod", old, "--wait=false")

            def replaced():
                pods = self.node_pods()
                ready = [p for p in pods if p["metadata"]["name"] != old and any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in p["status"].get("conditions", []))]
                return ready and all(p["metadata"]["name"] != old for p in pods)

            wait_for(replaced, "a Ready replacement of the deleted node pod, the old one gone",
                     120)
            self.timings["node pod deleted -> replacement Ready, old pod gone"] = (
                time.monotonic() - started)

        return self.under_load("node pod deleted", delete)

    def waypoint_rolled_under_load(self) -> dict:
        """The waypoint image follows the new tag (`helm upgrade --set waypoint.image=`):
        ambit-control rolls the waypoint Deployment (maxSurge 1). The old waypoint pod turns
        terminating, so the ztunnels stop choosing it, and it keeps serving for its shutdown
        delay before it drains: no new connection may fail."""
        def roll(started: float) -> None:
            self.helm("upgrade", "ambit", CHART, "--namespace", "ambit-system",
                      "--reuse-values", "--set", "waypoint.image=")
            image = f"localhost/ambit-waypoint:{k8s_node.image_tag()}-upgrade"
            wait_for(lambda: self.get("-n", "demo", "deployment", "waypoint")["spec"][
                "template"]["spec"]["containers"][0]["image"] == image,
                "ambit-control to give the waypoint Deployment the new image", 60)
            self.kubectl("-n", "demo", "rollout", "status", "deployment/waypoint",
                         "--timeout=120s")
            self.timings["waypoint image changed -> waypoint rolled out"] = (
                time.monotonic() - started)

        return self.under_load("waypoint rolled", roll)
