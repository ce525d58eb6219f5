#!/usr/bin/env python3
"""A real kube-apiserver + etcd on loopback for ambit's Kubernetes-mode tests (DESIGN.md §9).

    cluster.py up --root DIR [--bin-dir D] [--owner-pid PID]
                  [--etcd-arg=--x=y ...] [--apiserver-arg=--x=y ...]
                  [--node [--image BINARY ...]]     (a real node too: node.py)
    cluster.py down --root DIR
    cluster.py status --root DIR
    cluster.py token --root DIR -n NAMESPACE SERVICE_ACCOUNT [--audience A ...] [--duration 10m]
    cluster.py restart-apiserver --root DIR
    cluster.py compact-etcd --root DIR

`up` starts etcd and kube-apiserver on random free loopback ports with their own PKI,
ServiceAccount token signing (TokenRequest/TokenReview work) and RBAC, waits for /readyz and
writes DIR/kubeconfig (cluster-admin) and DIR/cluster.json (endpoints, files, PIDs). The
daemons outlive `up`; `down` stops exactly the recorded PIDs and removes DIR, also when the
starter was killed. With --owner-pid a watchdog does the `down` itself once that process is
gone (a test killed by a timeout leaves nothing behind). Binaries come from
scripts/setup-k8s.sh. Importable: `Cluster` is the API.
"""

import argparse
import base64
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pki as pki_lib  # noqa: E402
import processes  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
STATE_FILE = "cluster.json"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
ETCD_QUOTA_BYTES = 256 * 1024 * 1024
# Go runtime bounds for the daemons: the machine runs them beside the C++ tests.
DAEMON_ENV = {
    "etcd": {"GOMAXPROCS": "2", "GOMEMLIMIT": "256MiB"},
    "kube-apiserver": {"GOMAXPROCS": "2", "GOMEMLIMIT": "1GiB"},
}
PORT_ATTEMPTS = 3
WATCHDOG = "watchdog"


class ClusterError(RuntimeError):
    """A failure naming the component and, when it has one, the tail of its log."""

    def __init__(self, component: str, what: str, log: str | None = None):
        message = f"{component}: {what}"
        if log:
            message += f"\n--- last lines of {log} ---\n{processes.log_tail(log)}"
        super().__init__(message)
        self.component = component


def default_bin_dir() -> str:
    if os.environ.get("AMBIT_K8S_BIN"):
        return os.environ["AMBIT_K8S_BIN"]
    script = os.path.join(REPO, "scripts", "setup-k8s.sh")
    return subprocess.run([script, "--print-bin-dir"], capture_output=True, text=True,
                          check=True).stdout.strip()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """One cluster rooted at a directory; every method works from DIR/cluster.json alone."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        self.state_path = os.path.join(self.root, STATE_FILE)
        self.kubeconfig = os.path.join(self.root, "kubeconfig")
        self.logs = os.path.join(self.root, "logs")
        self.pki = pki_lib.Pki(os.path.join(self.root, "pki"))
        self.state: dict = {}
        if os.path.exists(self.state_path):
            with open(self.state_path, encoding="utf-8") as f:
                self.state = json.load(f)

    # ----- state ----------------------------------------------------------------------------

    def _save(self) -> None:
        tmp = self.state_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.state, f, indent=2)
        os.replace(tmp, self.state_path)

    def daemons(self) -> list[processes.Daemon]:
        return [processes.Daemon.from_json(d) for d in self.state.get("daemons", [])]

    def _record(self, daemon: processes.Daemon) -> None:
        others = [d for d in self.state.get("daemons", []) if d["name"] != daemon.name]
        self.state["daemons"] = others + [daemon.to_json()]
        self._save()

    def _daemon(self, name: str) -> processes.Daemon:
        for daemon in self.daemons():
            if daemon.name == name:
                return daemon
        raise ClusterError(name, f"not recorded in {self.state_path}")

    def require_state(self) -> None:
        if not self.state:
            raise ClusterError("cluster", f"no cluster at {self.root} (no {STATE_FILE})")

    @property
    def server(self) -> str:
        return self.state["server"]

    @property
    def etcd_url(self) -> str:
        return self.state["etcd_url"]

    def binary(self, name: str) -> str:
        return os.path.join(self.state["bin_dir"], name)

    # ----- up / down ------------------------------------------------------------------------

    def up(self, bin_dir: str, etcd_args: Sequence[str] = (),
           apiserver_args: Sequence[str] = (), timeout: float = 180.0,
           owner_pid: int | None = None) -> None:
        if os.path.isdir(self.root) and os.listdir(self.root):
            raise ClusterError("cluster", f"{self.root} exists and is not empty; "
                               "`down` it first or choose another --root")
        for name in ("etcd", "kube-apiserver", "kubectl"):
            if not os.access(os.path.join(bin_dir, name), os.X_OK):
                raise ClusterError(name, f"no executable {bin_dir}/{name}; "
                                   "run scripts/setup-k8s.sh")
        os.makedirs(self.logs)
        # Written first: from here on `down` recognises the directory as a cluster root.
        self.state = {"root": self.root, "bin_dir": os.path.abspath(bin_dir), "daemons": [],
                      "kubeconfig": self.kubeconfig, "ca": self.pki.ca_cert,
                      "service_account_issuer": SERVICE_ACCOUNT_ISSUER}
        self._save()
        if owner_pid is not None:
            self._start_watchdog(owner_pid)
        pki_lib.create(self.pki.directory, ["127.0.0.1", KUBERNETES_SERVICE_IP])
        try:
            self._start_with_free_ports(lambda: self._start_etcd(list(etcd_args)), timeout)
            self._start_with_free_ports(lambda: self._start_apiserver(list(apiserver_args)),
                                        timeout)
        except BaseException:
            # The logs stay for the caller; `down` (or the watchdog) removes them.
            self.stop_daemons(keep=WATCHDOG)
            raise
        self._write_kubeconfig()

    def _start_watchdog(self, owner_pid: int) -> None:
        owner = processes.start_time_of(owner_pid)
        if owner is None:
            raise ClusterError("watchdog", f"owner pid {owner_pid} is not running")
        self._launch(WATCHDOG, [sys.executable, os.path.abspath(__file__), "watch",
                                f"--root={self.root}", f"--owner-pid={owner_pid}",
                                f"--owner-start-time={owner}"])

    def watch(self, owner: processes.Daemon) -> None:
        """The watchdog's loop: `down` once the owner is gone; ends when the root is gone."""
        while os.path.exists(self.state_path):
            if not processes.is_running(owner):
                open_cluster(self.root).teardown(keep=WATCHDOG)
                return
            time.sleep(1.0)

    def _start_with_free_ports(self, start, timeout: float) -> None:
        """Runs `start` until ready; a port taken between picking and binding: new ports."""
        for attempt in range(1, PORT_ATTEMPTS + 1):
            daemon = start()
            try:
                self._wait_ready(daemon, timeout)
                return
            except ClusterError:
                if attempt < PORT_ATTEMPTS and "address already in use" in processes.log_tail(
                        daemon.log, 200) and not processes.is_running(daemon):
                    continue
                raise

    def _start_etcd(self, extra: list[str]) -> processes.Daemon:
        client, peer = free_port(), free_port()
        data_dir = os.path.join(self.root, "etcd")
        shutil.rmtree(data_dir, ignore_errors=True)  # a failed attempt's member of other ports
        self.state["etcd_url"] = f"http://127.0.0.1:{client}"
        argv = [self.binary("etcd"), "--name=ambit-test",
                f"--data-dir={data_dir}",
                f"--listen-client-urls=http://127.0.0.1:{client}",
                f"--advertise-client-urls=http://127.0.0.1:{client}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=ambit-test=http://127.0.0.1:{peer}",
                f"--quota-backend-bytes={ETCD_QUOTA_BYTES}",
                "--unsafe-no-fsync",  # throwaway data; fsync only slows the shared machine
                "--log-level=warn", *extra]
        return self._launch("etcd", argv)

    def _start_apiserver(self, extra: list[str]) -> processes.Daemon:
        port = free_port()
        self.state["server"] = f"https://127.0.0.1:{port}"
        p = self.pki
        argv = [self.binary("kube-apiserver"),
                f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
                # The endpoint reconciler refuses a loopback address for the kubernetes
                # Service's endpoints; a run with a real node passes its own address.
                "--endpoint-reconciler-type=none",
                f"--secure-port={port}", f"--cert-dir={p.directory}",
                f"--tls-cert-file={p.serving_cert}", f"--tls-private-key-file={p.serving_key}",
                f"--client-ca-file={p.ca_cert}",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={p.sa_public_key}",
                f"--service-account-signing-key-file={p.sa_signing_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC",
                "--allow-privileged=true",  # the ambit-node DaemonSet is privileged
                "--max-requests-inflight=100", "--max-mutating-requests-inflight=50",
                "--profiling=false", "--v=1", *extra]
        return self._launch("kube-apiserver", argv)

    def _launch(self, name: str, argv: list[str]) -> processes.Daemon:
        daemon = processes.start(name, argv, os.path.join(self.logs, f"{name}.log"),
                                 DAEMON_ENV.get(name, {}))
        self._record(daemon)
        return daemon

    def _wait_ready(self, daemon: processes.Daemon, timeout: float) -> None:
        self._wait(daemon, lambda: self._is_ready(daemon.name), timeout)

    def _wait(self, daemon: processes.Daemon, ready, timeout: float,
              what: str = "ready") -> None:
        """Polls ready() until it holds; ClusterError naming the daemon if it exits or times out."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while True:
            if not processes.is_running(daemon):
                code = processes.exit_code(daemon)
                status = f"exited with code {code}" if code is not None else "exited"
                raise ClusterError(daemon.name, f"{status} before it was {what}", daemon.log)
            try:
                if ready():
                    return
                last = f"not {what}"
            except (OSError, ValueError, subprocess.SubprocessError) as e:
                last = str(e)
            if time.monotonic() > deadline:
                raise ClusterError(daemon.name, f"not {what} after {timeout:.0f} s ({last})",
                                   daemon.log)
            time.sleep(0.25)

    def _is_ready(self, name: str) -> bool:
        if name == "etcd":
            with urllib.request.urlopen(self.etcd_url + "/health", timeout=2) as r:
                return json.load(r).get("health") == "true"
        status, _ = self.request("GET", "/readyz")
        return status == 200

    def stop_daemons(self, keep: str | None = None) -> None:
        """Stops the recorded daemons (but `keep`): watchdog, apiserver, then etcd."""
        order = {WATCHDOG: 0, "kube-apiserver": 1}
        errors = []
        for daemon in sorted(self.daemons(), key=lambda d: order.get(d.name, 2)):
            if daemon.name == keep:
                continue
            try:
                processes.stop(daemon)
            except (OSError, RuntimeError) as e:
                errors.append(str(e))
        if errors:
            raise ClusterError("cluster", "; ".join(errors))

    def teardown(self, keep: str | None = None) -> None:
        """The watchdog's `down`: stops the daemons but `keep` (itself) and removes the root."""
        self.stop_daemons(keep=keep)
        shutil.rmtree(self.root, ignore_errors=True)

    def down(self) -> None:
        if not os.path.exists(self.root):
            return
        if not os.path.exists(self.state_path):
            raise ClusterError("cluster", f"{self.root} has no {STATE_FILE}: not a cluster "
                               "root made by `up`, refusing to remove it")
        self.stop_daemons()
        shutil.rmtree(self.root)

    # ----- clients --------------------------------------------------------------------------

    def _write_kubeconfig(self) -> None:
        def b64(path: str) -> str:
            with open(path, "rb") as f:
                return base64.b64encode(f.read()).decode()

        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "ambit-test",
            "clusters": [{"name": "ambit-test", "cluster": {
                "server": self.server, "certificate-authority-data": b64(self.pki.ca_cert)}}],
            "users": [{"name": "ambit-test-admin", "user": {
                "client-certificate-data": b64(self.pki.admin_cert),
                "client-key-data": b64(self.pki.admin_key)}}],
            "contexts": [{"name": "ambit-test", "context": {
                "cluster": "ambit-test", "user": "ambit-test-admin"}}],
        }
        with open(self.kubeconfig, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)  # JSON is YAML; every client reads it
        os.chmod(self.kubeconfig, 0o600)

    def request(self, method: str, path: str, body: dict | None = None,
                token: str | None = None) -> tuple[int, dict | str]:
        """One API call as cluster-admin (client certificate) or as the bearer of `token`."""
        context = ssl.create_default_context(cafile=self.pki.ca_cert)
        headers = {"Accept": "application/json"}
        if token is None:
            context.load_cert_chain(self.pki.admin_cert, self.pki.admin_key)
        else:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.server + path, data=data, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, context=context, timeout=10) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode("utf-8", errors="replace")

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run([self.binary("kubectl"), f"--kubeconfig={self.kubeconfig}",
                                 *args], input=stdin, capture_output=True, text=True,
                                check=False)
        if result.returncode != 0:
            raise ClusterError("kubectl", f"`kubectl {' '.join(args)}` failed "
                               f"({result.returncode}): {result.stderr.strip()}")
        return result.stdout

    def token(self, namespace: str, service_account: str, audiences: Sequence[str] = (),
              duration: str = "10m") -> str:
        """A TokenRequest token (`kubectl create token`); no audience: the apiserver's own."""
        args = ["create", "token", service_account, f"--namespace={namespace}",
                f"--duration={duration}"]
        args += [f"--audience={a}" for a in audiences]
        return self.kubectl(*args).strip()

    # ----- disruption, for tests of watch and reconnect handling ----------------------------

    def restart_apiserver(self, timeout: float = 180.0) -> None:
        """Stops kube-apiserver and starts it again with the same flags and port."""
        old = self._daemon("kube-apiserver")
        processes.stop(old)
        daemon = self._launch("kube-apiserver", old.argv)
        self._wait_ready(daemon, timeout)

    def compact_etcd(self) -> int:
        """Compacts etcd up to its current revision (watches from before it then expire)."""
        def call(path: str, body: dict) -> dict:
            req = urllib.request.Request(self.etcd_url + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.load(r)

        revision = int(call("/v3/maintenance/status", {})["header"]["revision"])
        call("/v3/kv/compaction", {"revision": revision, "physical": True})
        return revision



def open_cluster(root: str) -> Cluster:
    """The Cluster at root, a node.NodeCluster when it runs a real node (its state says so)."""
    cluster = Cluster(root)
    if cluster.state.get("node") is not None:
        import node  # noqa: PLC0415 (node imports this module)
        return node.NodeCluster(root)
    return cluster


def run_unittests(setup_script: str) -> int:
    """The main of a Python k8s test: exit 77 (skipped, loudly) when the Kubernetes components
    are not built, else run the module's unittest cases and return 0 or 1."""
    import unittest
    check = subprocess.run([setup_script, "--check"], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        print(f"SKIPPED LOUDLY: the Kubernetes test components are not built.\n"
              f"{check.stderr.strip()}", file=sys.stderr)
        return 77
    result = unittest.main(module="__main__", exit=False, verbosity=2).result
    return 0 if result.wasSuccessful() else 1

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    commands = {name: sub.add_parser(name) for name in (
        "up", "down", "status", "token", "restart-apiserver", "compact-etcd", "watch")}
    for p in commands.values():
        p.add_argument("--root", required=True, help="the cluster's directory")
    up = commands["up"]
    up.add_argument("--bin-dir", help="binaries (default: scripts/setup-k8s.sh --print-bin-dir)")
    up.add_argument("--etcd-arg", action="append", default=[], help="extra etcd flag")
    up.add_argument("--apiserver-arg", action="append", default=[], help="extra apiserver flag")
    up.add_argument("--timeout", type=float, default=180.0, help="readiness wait per component")
    up.add_argument("--owner-pid", type=int, help="`down` by itself once this process is gone")
    up.add_argument("--node", action="store_true",
                    help="also a real node: controller-manager, scheduler, containerd, kubelet")
    up.add_argument("--image", action="append", default=[],
                    help="with --node: a binary to build an image of and import (repeatable)")
    watch = commands["watch"]  # the watchdog's own entry point
    watch.add_argument("--owner-pid", type=int, required=True)
    watch.add_argument("--owner-start-time", type=int, required=True)
    token = commands["token"]
    token.add_argument("-n", "--namespace", required=True)
    token.add_argument("service_account")
    token.add_argument("--audience", action="append", default=[])
    token.add_argument("--duration", default="10m")
    args = parser.parse_args()

    cluster = open_cluster(args.root)
    if args.command == "up" and args.node:
        import node  # noqa: PLC0415
        cluster = node.NodeCluster(args.root)
    try:
        if args.command not in ("up", "down"):
            cluster.require_state()
        if args.command == "up":
            extra = {"images": args.image} if args.node else {}
            cluster.up(args.bin_dir or default_bin_dir(), args.etcd_arg, args.apiserver_arg,
                       args.timeout, args.owner_pid, **extra)
            print(f"cluster up: {cluster.server} (etcd {cluster.etcd_url})\n"
                  f"export KUBECONFIG={cluster.kubeconfig}")
        elif args.command == "down":
            cluster.down()
        elif args.command == "status":
            for d in cluster.daemons():
                state = "running" if processes.is_running(d) else "stopped"
                print(f"{d.name:15} pid {d.pid:<8} {state:8} log {d.log}")
        elif args.command == "token":
            print(cluster.token(args.namespace, args.service_account, args.audience,
                                args.duration))
        elif args.command == "restart-apiserver":
            cluster.restart_apiserver()
        elif args.command == "watch":
            owner = processes.Daemon("owner", args.owner_pid, args.owner_start_time, [], "")
            cluster.watch(owner)
        elif args.command == "compact-etcd":
            print(f"etcd compacted at revision {cluster.compact_etcd()}")
    except (ClusterError, pki_lib.PkiError, RuntimeError) as e:
        print(f"cluster.py {args.command}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
