#!/usr/bin/env python3
"""ctest k8s_cluster: the Kubernetes test cluster is real and leaves nothing behind.

A real kube-apiserver + etcd (tests/k8s/cluster) enforce RBAC on ServiceAccount tokens, issue
audience-bound tokens through TokenRequest and check them with TokenReview; kubectl and helm
built by scripts/setup-k8s.sh report the pinned versions; `down` removes every process and
file, also after the starter was killed with SIGKILL or, through the watchdog, when the owner
of the cluster died. Exits 77 (ctest: skipped) with a loud message when the binaries are not
built.
"""

import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
SETUP = os.path.join(REPO, "scripts", "setup-k8s.sh")
CLUSTER_CLI = os.path.join(HERE, "cluster", "cluster.py")
sys.path.insert(0, os.path.join(HERE, "cluster"))
import cluster as k8s  # noqa: E402
import processes  # noqa: E402

NAMESPACE = "ambit-test"
AUDIENCE = "ambit-ca"

RBAC_OBJECTS = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NAMESPACE}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: reader, namespace: {NAMESPACE}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: nobody, namespace: {NAMESPACE}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: pod-reader, namespace: {NAMESPACE}}}
rules:
- {{apiGroups: [""], resources: [pods], verbs: [get, list, watch]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: reader-reads-pods, namespace: {NAMESPACE}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}}
subjects:
- {{kind: ServiceAccount, name: reader, namespace: {NAMESPACE}}}
"""


def pinned(module: str) -> str:
    with open(os.path.join(HERE, "tools", "go.mod"), encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 2 and fields[0] == module and fields[1].startswith("v"):
                return fields[1]
    raise AssertionError(f"{module} not pinned in tests/k8s/tools/go.mod")


def jwt_claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def tampered(token: str) -> str:
    """The token with one character in the middle of its signature changed."""
    header, payload, signature = token.split(".")
    i = len(signature) // 2
    changed = "A" if signature[i] != "A" else "B"
    return ".".join([header, payload, signature[:i] + changed + signature[i + 1:]])


def wait_for(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def assert_gone(root: str, daemons: list[processes.Daemon]) -> None:
    """What a cluster root held is gone: no recorded process runs, the directory is removed."""
    if not daemons:
        raise AssertionError(f"{root} recorded no daemons")
    running = [f"{d.name} (pid {d.pid})" for d in daemons if processes.is_running(d)]
    if running:
        raise AssertionError(f"still running after down: {', '.join(running)}")
    if os.path.exists(root):
        raise AssertionError(f"{root} still exists after down")


class ClusterTest(unittest.TestCase):
    cluster: k8s.Cluster

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="ambit-k8s-")
        cls.cluster = k8s.Cluster(cls.root)
        try:
            cls.cluster.up(k8s.default_bin_dir(), owner_pid=os.getpid())
            cls.cluster.kubectl("apply", "-f", "-", stdin=RBAC_OBJECTS)
        except BaseException:
            cls.cluster.down()
            raise

    @classmethod
    def tearDownClass(cls):
        daemons = cls.cluster.daemons()
        cls.cluster.down()
        assert_gone(cls.root, daemons)

    def pods_as(self, token: str, namespace: str = NAMESPACE) -> int:
        status, _ = self.cluster.request("GET", f"/api/v1/namespaces/{namespace}/pods",
                                         token=token)
        return status

    def review(self, token: str, audiences: list[str]) -> dict:
        status, body = self.cluster.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                                            {"apiVersion": "authentication.k8s.io/v1",
                                             "kind": "TokenReview",
                                             "spec": {"token": token, "audiences": audiences}})
        self.assertEqual(status, 201, body)
        return body["status"]

    def test_rbac_allows_only_what_is_bound(self):
        nobody = self.cluster.token(NAMESPACE, "nobody")
        reader = self.cluster.token(NAMESPACE, "reader")
        self.assertEqual(self.pods_as(nobody), 403, "a ServiceAccount without a binding")
        self.assertEqual(self.pods_as(reader), 200, "a ServiceAccount bound to pod-reader")
        self.assertEqual(self.pods_as(reader, "kube-system"), 403, "outside the bound namespace")
        self.assertEqual(self.pods_as(tampered(reader)), 401, "a token with a bad signature")
        status, _ = self.cluster.request(
            "POST", f"/api/v1/namespaces/{NAMESPACE}/configmaps",
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}, token=reader)
        self.assertEqual(status, 403, "a verb the Role does not grant")

    def test_token_request_and_review_respect_the_audience(self):
        token = self.cluster.token(NAMESPACE, "reader", [AUDIENCE])
        claims = jwt_claims(token)
        self.assertEqual(claims["aud"], [AUDIENCE])
        self.assertEqual(claims["iss"], k8s.SERVICE_ACCOUNT_ISSUER)

        accepted = self.review(token, [AUDIENCE])
        self.assertTrue(accepted.get("authenticated"), accepted)
        self.assertEqual(accepted["user"]["username"], f"system:serviceaccount:{NAMESPACE}:reader")
        self.assertEqual(accepted["audiences"], [AUDIENCE])

        refused = self.review(token, ["some-other-audience"])
        self.assertFalse(refused.get("authenticated"), refused)
        self.assertIn("audience", refused.get("error", ""))
        # Bound to ambit-ca, the token is no credential for the apiserver itself.
        self.assertEqual(self.pods_as(token), 401)

    def test_kubectl_and_helm_report_the_pinned_versions(self):
        versions = json.loads(self.cluster.kubectl("version", "--output=json"))
        kubernetes = pinned("k8s.io/kubernetes")
        self.assertEqual(versions["clientVersion"]["gitVersion"], kubernetes)
        self.assertEqual(versions["serverVersion"]["gitVersion"], kubernetes)

        helm_home = os.path.join(self.root, "helm")
        env = {**os.environ, "KUBECONFIG": self.cluster.kubeconfig,
               "XDG_CACHE_HOME": os.path.join(helm_home, "cache"),
               "XDG_CONFIG_HOME": os.path.join(helm_home, "config"),
               "XDG_DATA_HOME": os.path.join(helm_home, "data")}

        def helm(*args: str) -> str:
            result = subprocess.run([self.cluster.binary("helm"), *args], env=env,
                                    capture_output=True, text=True, check=False)
            self.assertEqual(result.returncode, 0, f"helm {' '.join(args)}: {result.stderr}")
            return result.stdout

        self.assertIn(f'Version:"{pinned("helm.sh/helm/v4")}"', helm("version"))
        helm("list", "--all-namespaces")  # helm reaches the apiserver with the kubeconfig

    def test_apiserver_restart_keeps_address_and_data(self):
        self.cluster.kubectl("create", "configmap", "survivor", f"--namespace={NAMESPACE}")
        before = self.cluster.daemons()
        server = self.cluster.server
        self.cluster.restart_apiserver()
        old = next(d for d in before if d.name == "kube-apiserver")
        self.assertFalse(processes.is_running(old), "the old kube-apiserver still runs")
        self.assertEqual(self.cluster.server, server)
        self.cluster.kubectl("get", "configmap", "survivor", f"--namespace={NAMESPACE}")

    def test_etcd_compaction_drops_old_revisions(self):
        created = json.loads(self.cluster.kubectl(
            "create", "configmap", "old", f"--namespace={NAMESPACE}", "--output=json"))
        old_revision = int(created["metadata"]["resourceVersion"])
        self.cluster.kubectl("create", "configmap", "new", f"--namespace={NAMESPACE}")
        compacted = self.cluster.compact_etcd()
        self.assertGreater(compacted, old_revision)
        request = urllib.request.Request(
            self.cluster.etcd_url + "/v3/kv/range",
            data=json.dumps({"key": base64.b64encode(b"/").decode(),
                             "revision": old_revision}).encode())
        with self.assertRaises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(request, timeout=10)
        self.assertIn("compacted", error.exception.read().decode())


class DownTest(unittest.TestCase):
    def up_command(self, root: str, *extra: str) -> list[str]:
        return [sys.executable, CLUSTER_CLI, "up", f"--root={root}", *extra]

    def test_down_after_the_starter_was_killed(self):
        root = os.path.join(tempfile.mkdtemp(prefix="ambit-k8s-"), "cluster")
        # The watchdog's owner is this test, alive throughout: only `down` cleans up here.
        starter = subprocess.Popen(self.up_command(root, f"--owner-pid={os.getpid()}"),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        daemons: list[processes.Daemon] = []
        try:
            def apiserver_started() -> bool:
                return "kube-apiserver" in {d.name for d in k8s.Cluster(root).daemons()}

            wait_for(apiserver_started, "cluster.py up to start kube-apiserver", 120)
            starter.send_signal(signal.SIGKILL)
            starter.wait()
            daemons = k8s.Cluster(root).daemons()
            self.assertTrue(all(processes.is_running(d) for d in daemons), "daemons outlive up")
        finally:
            down = subprocess.run([sys.executable, CLUSTER_CLI, "down", f"--root={root}"],
                                  capture_output=True, text=True, check=False)
            os.rmdir(os.path.dirname(root))
        self.assertEqual(down.returncode, 0, down.stderr)
        assert_gone(root, daemons)

    def test_watchdog_downs_the_cluster_when_its_owner_dies(self):
        root = os.path.join(tempfile.mkdtemp(prefix="ambit-k8s-"), "cluster")
        owner = subprocess.Popen(["sleep", "600"])
        try:
            up = subprocess.run(self.up_command(root, f"--owner-pid={owner.pid}"),
                                capture_output=True, text=True, check=False)
            self.assertEqual(up.returncode, 0, up.stderr)
            daemons = k8s.Cluster(root).daemons()
            self.assertEqual({d.name for d in daemons}, {"watchdog", "etcd", "kube-apiserver"})
        finally:
            owner.kill()
            owner.wait()
        wait_for(lambda: not os.path.exists(root), "the watchdog to remove the cluster root")
        wait_for(lambda: not any(processes.is_running(d) for d in daemons), "daemons to stop")
        os.rmdir(os.path.dirname(root))
        assert_gone(root, daemons)


if __name__ == "__main__":
    sys.exit(k8s.run_unittests(SETUP))
