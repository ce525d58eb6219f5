"""Prometheus on the test host, outside the cluster, for the k8s-node tests: the one
`scripts/setup-k8s.sh --observability` builds from its Go module with Kubernetes service
discovery (Debian's package has none).

Its configuration is the one docs/kubernetes.md ("Metrics") gives users to copy: the blocks
between `<!-- prometheus-rbac:begin -->` / `end` (a ServiceAccount, its read-only ClusterRole
and a token Secret) and `<!-- prometheus-scrape:begin -->` / `end` (the `kubernetes-pods` and
`kubernetes-service-endpoints` jobs, which honor the prometheus.io/* annotations). The test does
what the documentation tells an out-of-cluster user to do: apply the RBAC block, write the token
and CA from the Secret to files, and put the API server's URL and those two files in place of the
documented example ones.
"""

import base64
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DOC = os.path.join(REPO, "docs", "kubernetes.md")
# The example values of the documented scrape block, replaced by the test cluster's.
DOC_API_SERVER = "https://kube-apiserver.example:6443"
DOC_TOKEN_FILE = "/etc/prometheus/kubernetes/token"
DOC_CA_FILE = "/etc/prometheus/kubernetes/ca.crt"
TOKEN_SECRET = ("monitoring", "prometheus-token")
SCRAPE_INTERVAL = "1s"


def documented_block(name: str, doc: str = DOC) -> str:
    """The fenced code between `<!-- name:begin -->` and `<!-- name:end -->` in `doc`."""
    with open(doc, encoding="utf-8") as f:
        text = f.read()
    found = re.search(rf"<!-- {name}:begin -->\s*```\w*\n(.*?)```\s*<!-- {name}:end -->",
                      text, re.DOTALL)
    if found is None:
        raise AssertionError(f"{doc} has no fenced block between <!-- {name}:begin --> and "
                             f"<!-- {name}:end -->")
    return found.group(1)


def out_of_cluster_scrape_config(api_server: str, token_file: str, ca_file: str) -> str:
    """The documented scrape block with this cluster's API server, token and CA, at 1 s."""
    block = documented_block("prometheus-scrape")
    for example, value in ((DOC_API_SERVER, api_server), (DOC_TOKEN_FILE, token_file),
                           (DOC_CA_FILE, ca_file)):
        if example not in block:
            raise AssertionError(f"the prometheus-scrape block of {DOC} no longer names "
                                 f"{example}; update {__file__}")
        block = block.replace(example, value)
    return (f"global: {{scrape_interval: {SCRAPE_INTERVAL}, scrape_timeout: {SCRAPE_INTERVAL}, "
            f"evaluation_interval: {SCRAPE_INTERVAL}}}\n{block}")


def service_account_credentials(kubectl: Callable[..., str], directory: str,
                                timeout: float = 30.0) -> tuple[str, str]:
    """Applies the documented RBAC block; (token file, CA file) written from its token Secret
    once the controller-manager has filled it in."""
    kubectl("apply", "-f", "-", stdin=documented_block("prometheus-rbac"))
    namespace, name = TOKEN_SECRET
    deadline = time.monotonic() + timeout
    while True:
        data = json.loads(kubectl("-n", namespace, "get", "secret", name, "-o", "json")).get(
            "data") or {}
        if data.get("token") and data.get("ca.crt"):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"Secret {namespace}/{name} has no token and ca.crt after "
                                 f"{timeout:.0f} s (keys: {sorted(data)}): the "
                                 "controller-manager's token controller did not fill it")
        time.sleep(0.2)
    files = []
    for key, file_name in (("token", "token"), ("ca.crt", "ca.crt")):
        path = os.path.join(directory, file_name)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data[key]))
        os.chmod(path, 0o600)
        files.append(path)
    return files[0], files[1]


def die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM when the test process dies (a ctest timeout kills
    it with SIGKILL, and nothing else would stop this Prometheus)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HostPrometheus:
    """One Prometheus process with its own directory (config, TSDB, log); `stop` ends it by its
    PID and removes the directory. Use as a context manager."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.directory = tempfile.mkdtemp(prefix="ambit-prometheus-")
        self.log = os.path.join(self.directory, "prometheus.log")
        self.url = ""
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "HostPrometheus":
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()

    def start(self, config: str, timeout: float = 20.0) -> None:
        config_file = os.path.join(self.directory, "prometheus.yml")
        with open(config_file, "w", encoding="utf-8") as f:
            f.write(config)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [self.binary, f"--config.file={config_file}",
                 f"--storage.tsdb.path={os.path.join(self.directory, 'data')}",
                 f"--web.listen-address=127.0.0.1:{port}",
                 # New targets scraped within a second of their discovery, not five.
                 "--scrape.discovery-reload-interval=1s"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent)
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self.process.poll() is not None:
                raise AssertionError(f"prometheus exited with code {self.process.returncode} "
                                     f"before it was ready\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"prometheus not ready after {timeout:.0f} s\n"
                                     f"{self.log_tail()}")
            time.sleep(0.2)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return "--- prometheus log ---\n" + "".join(f.readlines()[-lines:])
        except OSError as e:
            return f"(no prometheus log: {e})"

    def api(self, path: str, **params: str) -> dict | list:
        """The `data` of one HTTP API call (/api/v1/...); AssertionError with Prometheus's own
        error text when it refuses."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:
            body = json.loads(e.read() or b"{}")
        if body.get("status") != "success":
            raise AssertionError(f"prometheus {path} {params}: {body.get('error', body)}")
        return body["data"]

    def query(self, promql: str) -> list[dict]:
        return self.api("query", query=promql)["result"]

    def active_targets(self) -> list[dict]:
        return self.api("targets", state="active")["activeTargets"]
