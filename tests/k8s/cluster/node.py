"""A real single-node Kubernetes cluster: cluster.py's etcd + kube-apiserver, plus
kube-controller-manager, kube-scheduler, containerd (runc, CNI bridge) and the kubelet.

    cluster.py up --node --root DIR [--image BINARY ...]   (see cluster.py; same down/status)

Everything the node needs lives under DIR: containerd's root, state and sockets (its shims'
too), the kubelet's root and pod logs, the CNI configuration and IPAM state, the images and
the certificates. Outside DIR the node creates only what a node must: its cgroups (below the
kubelet's cgroupRoot, /ambit-k8s-node, in every cgroup hierarchy), its bridge (named after
DIR) and its pods' veths, /var/log/containers links, the kubelet's kernel tunables and
ip_forward (recorded first and restored), and a registry entry in /run/ambit-k8s-node naming DIR
so that the next start removes a node whose test and watchdog were both killed. Teardown:
node_cleanup.py. One node at a time (the pod CIDR is fixed); run under flock
/tmp/ambit-e2e.lock as every test that touches the host.
"""

import hashlib
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

import cluster as base
import node_cleanup as cleanup
import node_services as services
import pki as pki_lib
import processes

NODE_NAME = "ambit-node"
POD_CIDR = "10.244.0.0/24"
CGROUP_ROOT = "/ambit-k8s-node"
# All pods together: the kubelet limits its kubepods cgroup to the node's allocatable memory,
# here what systemReserved leaves of the host's (the machine is shared).
POD_MEMORY_BUDGET_KIB = 2 * 1024 * 1024
REPO = base.REPO
# The kubelet sets these (setupKernelTunables) and the bridge plugin ip_forward: restored on down.
# kube-proxy's Services between pods of the one bridge need bridged traffic to pass netfilter.
SYSCTLS = ("vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
           "kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes", "net.ipv4.ip_forward",
           "net.bridge.bridge-nf-call-iptables")
NODE_DAEMON_ENV = {
    "kube-controller-manager": {"GOMAXPROCS": "2", "GOMEMLIMIT": "512MiB"},
    "kube-scheduler": {"GOMAXPROCS": "1", "GOMEMLIMIT": "256MiB"},
    "containerd": {"GOMAXPROCS": "2", "GOMEMLIMIT": "512MiB"},
    "kubelet": {"GOMAXPROCS": "2", "GOMEMLIMIT": "512MiB"},
    "kube-proxy": {"GOMAXPROCS": "1", "GOMEMLIMIT": "128MiB"},
    "coredns": {"GOMAXPROCS": "1", "GOMEMLIMIT": "128MiB"},
}
# Stopped in this order, before the apiserver and etcd: nothing may recreate what is removed.
NODE_DAEMONS = ("kubelet", "kube-scheduler", "kube-controller-manager", "kube-proxy", "coredns",
                "containerd")
# Where ambit's agent pins its BPF objects for this node (/sys/fs/bpf/ambit/<node>): a chart
# install whose uninstall did not remove them leaves programs attached through these pins.
BPF_PIN_DIR = "/sys/fs/bpf/ambit/" + NODE_NAME


def node_ip() -> str:
    """The host's source address towards its default gateway: the node's InternalIP (the
    kubelet refuses loopback)."""
    def ip_json(*args: str) -> list[dict]:
        return json.loads(subprocess.run(["ip", "-4", "-j", *args], capture_output=True,
                                         text=True, check=True).stdout or "[]")

    gateways = [r["gateway"] for r in ip_json("route", "show", "default") if "gateway" in r]
    routes = ip_json("route", "get", gateways[0]) if gateways else []
    if not routes or "prefsrc" not in routes[0]:
        raise base.ClusterError("node", "no IPv4 default route with a source address: the "
                                "node needs a non-loopback address for its InternalIP")
    return routes[0]["prefsrc"]


def bridge_name(root: str) -> str:
    """A bridge name no other node root (or anything else) uses: ak8s + a hash of the root."""
    return "ak8s" + hashlib.sha256(root.encode()).hexdigest()[:8]


class NodeCluster(services.NodeServices, base.Cluster):
    """A Cluster whose state also records the node; `down` removes the node's host state."""

    @property
    def node(self) -> dict:
        return self.state.get("node", {})

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    # ----- up -------------------------------------------------------------------------------

    def up(self, bin_dir: str, etcd_args: Sequence[str] = (),
           apiserver_args: Sequence[str] = (), timeout: float = 180.0,
           owner_pid: int | None = None, images: Sequence[str] = ()) -> None:
        missing = [c for c in ("kube-controller-manager", "kube-scheduler", "kubelet",
                               "kube-proxy", "coredns",
                               "containerd", "containerd-shim-runc-v2", "ctr", "runc", "crictl",
                               "cni/bridge", "cni/host-local", "cni/loopback")
                   if not os.access(os.path.join(bin_dir, c), os.X_OK)]
        if missing:
            raise base.ClusterError(missing[0], f"no executable {bin_dir}/{missing[0]}; run "
                                    "scripts/setup-k8s.sh --node")
        clean_stale_nodes()
        p = self.pki
        ip = node_ip()
        # The apiserver reaches the kubelet (logs, exec) as cluster-admin, at its InternalIP
        # (the node's name resolves nowhere); pods reach it at the node IP through kube-proxy.
        super().up(bin_dir, etcd_args, [f"--kubelet-client-certificate={p.admin_cert}",
                                        f"--kubelet-client-key={p.admin_key}",
                                        "--kubelet-preferred-address-types=InternalIP",
                                        *services.apiserver_args(ip), *apiserver_args],
                   timeout, owner_pid)
        self.state["node"] = {
            "name": NODE_NAME, "ip": ip, "pod_cidr": POD_CIDR,
            "bridge": bridge_name(self.root), "cgroup_root": CGROUP_ROOT,
            "containerd_socket": self.path("containerd", "containerd.sock"),
            "containerd_state": self.path("containerd", "state"),
            "sysctls": {name: cleanup.read_sysctl(name) for name in SYSCTLS},
            "images": {},
        }
        if owner_pid is not None:
            self.state["node"]["owner"] = {"pid": owner_pid,
                                           "start_time": processes.start_time_of(owner_pid)}
        self._save()
        cleanup.register(self.root)  # from here on the host holds node state
        try:
            self._start_control_plane_daemons(timeout)
            self._start_containerd(timeout)
            self._import_images(["pause", *images])
            self._start_coredns(timeout)
            self._start_kubelet(timeout)
            self._start_kube_proxy(timeout)
        except BaseException:
            # The logs stay for the caller; `down` (or the watchdog) removes the root.
            try:
                self.teardown_node()
            except base.ClusterError as e:  # the start's error is the one to report
                print(f"node cleanup after a failed start: {e}", file=sys.stderr)
            self.stop_daemons(keep=base.WATCHDOG)
            raise

    def _component_kubeconfig(self, name: str, common_name: str, organization: str = "") -> str:
        pki_lib.client_cert(self.pki.directory, name, common_name, organization)
        path = self.path(f"{name}.kubeconfig")
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": name,
            "clusters": [{"name": "ambit-test", "cluster": {
                "server": self.server, "certificate-authority": self.pki.ca_cert}}],
            "users": [{"name": name, "user": {
                "client-certificate": self.pki.path(f"{name}.crt"),
                "client-key": self.pki.path(f"{name}.key")}}],
            "contexts": [{"name": name, "context": {"cluster": "ambit-test", "user": name}}],
        }
        with open(path, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)
        return path

    def _launch_node_daemon(self, name: str, argv: list[str],
                            env: dict[str, str] | None = None) -> processes.Daemon:
        daemon = processes.start(name, argv, os.path.join(self.logs, f"{name}.log"),
                                 {**NODE_DAEMON_ENV.get(name, {}), **(env or {})})
        self._record(daemon)
        return daemon

    def _start_control_plane_daemons(self, timeout: float) -> None:
        p = self.pki
        kcm_port, scheduler_port = base.free_port(), base.free_port()
        kcm_kubeconfig = self._component_kubeconfig("controller-manager",
                                                     "system:kube-controller-manager")
        kcm = self._launch_node_daemon("kube-controller-manager", [
            self.binary("kube-controller-manager"), f"--kubeconfig={kcm_kubeconfig}",
            "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={kcm_port}",
            f"--cert-dir={self.path('controller-manager-certs')}",
            f"--service-account-private-key-file={p.sa_signing_key}",
            f"--root-ca-file={p.ca_cert}", "--use-service-account-credentials=true",
            f"--service-cluster-ip-range={base.SERVICE_CIDR}",
            "--kube-api-qps=50", "--kube-api-burst=100", "--profiling=false", "--v=1"])
        scheduler = self._launch_node_daemon("kube-scheduler", [
            self.binary("kube-scheduler"),
            f"--kubeconfig={self._component_kubeconfig('scheduler', 'system:kube-scheduler')}",
            "--leader-elect=false", "--bind-address=127.0.0.1",
            f"--secure-port={scheduler_port}",
            f"--cert-dir={self.path('scheduler-certs')}", "--profiling=false", "--v=1"])
        for daemon, port in ((kcm, kcm_port), (scheduler, scheduler_port)):
            self._wait(daemon, lambda port=port: https_healthz(port), timeout)

    def _containerd_config(self) -> str:
        c = self.path("containerd")
        node = self.node
        return f"""version = 4
root = '{c}/root'
state = '{node["containerd_state"]}'
temp = '{c}/tmp'
imports = []
# NRI would listen on /var/run/nri; nothing here uses it.
disabled_plugins = ['io.containerd.nri.v1.nri']

[plugins.'io.containerd.server.v1.grpc']
  address = '{node["containerd_socket"]}'
[plugins.'io.containerd.server.v1.ttrpc']
  address = '{node["containerd_socket"]}.ttrpc'
[plugins.'io.containerd.shim.v1.manager']
  socket_dir = '{self.path("s")}'
[plugins.'io.containerd.internal.v1.opt']
  path = '{c}/opt'
[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = '{self.node["images"]["ambit-pause"]}'
[plugins.'io.containerd.cri.v1.runtime']
  netns_mounts_under_state_dir = true
  # A process without CAP_SYS_RESOURCE (this sandboxed host) cannot lower oom_score_adj below
  # its own; the pods then get containerd's instead of -998 and runc init does not fail.
  restrict_oom_score_adj = {str(restrict_oom_score_adj()).lower()}
  cdi_spec_dirs = []
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = 'io.containerd.runc.v2'
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  BinaryName = '{self.binary("runc")}'
  Root = '{c}/runc'
  SystemdCgroup = false
[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = ['{self.binary("cni")}']
  conf_dir = '{self.path("cni", "net.d")}'
[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'
"""

    def _start_containerd(self, timeout: float) -> None:
        tag = image_tag()
        self.state["node"]["images"]["ambit-pause"] = f"localhost/ambit-pause:{tag}"
        self._save()
        os.makedirs(self.path("containerd"))
        os.makedirs(self.path("s"))
        self._write_cni_config()
        config = self.path("containerd", "config.toml")
        with open(config, "w", encoding="utf-8") as f:
            f.write(self._containerd_config())
        # The shim and runc are found on PATH (the shim re-executes itself from there).
        path = f"{self.state['bin_dir']}:{os.environ.get('PATH', '/usr/sbin:/usr/bin')}"
        daemon = self._launch_node_daemon("containerd", [
            self.binary("containerd"), f"--config={config}", "--log-level=info"], {"PATH": path})
        self._wait(daemon, lambda: self.crictl_ok("info"), timeout)

    def crictl(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        sock = "unix://" + self.node["containerd_socket"]
        return subprocess.run([self.binary("crictl"), f"--runtime-endpoint={sock}",
                               f"--image-endpoint={sock}", "--timeout=30s", *args],
                              capture_output=True, text=True, check=False, timeout=timeout)

    def crictl_ok(self, *args: str) -> bool:
        return self.crictl(*args).returncode == 0

    def _import_images(self, binaries: list[str]) -> None:
        out = self.path("images")
        result = subprocess.run(
            [os.path.join(REPO, "scripts", "build-images.sh"), "--out", out, "--tag", image_tag(),
             "--import", self.node["containerd_socket"], "--ctr", self.binary("ctr"), *binaries],
            capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise base.ClusterError("images", f"build-images.sh failed: {result.stderr.strip()}")
        for binary in binaries:  # the names build-images.sh gives them
            name = "ambit-pause" if binary == "pause" else os.path.basename(binary)
            self.state["node"]["images"][name] = f"localhost/{name}:{image_tag()}"
        self._save()

    def _write_cni_config(self) -> None:
        node = self.node
        conf_dir = self.path("cni", "net.d")
        os.makedirs(conf_dir)
        conflist = {
            "cniVersion": "1.0.0", "name": "ambit-node",
            "plugins": [{
                "type": "bridge", "bridge": node["bridge"], "isGateway": True,
                # No masquerading and no portmap: the plugins then add no iptables/nft rules.
                "ipMasq": False, "hairpinMode": True,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": node["pod_cidr"]}]],
                         "routes": [{"dst": "0.0.0.0/0"}],
                         "dataDir": self.path("cni", "ipam")},
            }],
        }
        with open(os.path.join(conf_dir, "10-ambit-node.conflist"), "w", encoding="utf-8") as f:
            json.dump(conflist, f, indent=2)

    def _prepare_cgroup_root(self) -> None:
        """The kubelet refuses a cgroupRoot that does not exist: created in every hierarchy
        (cpuset's needs its cpus and mems set before anything can join below it)."""
        relative = self.node["cgroup_root"].strip("/")
        for mount in cleanup.cgroup_mounts():
            directory = os.path.join(mount, relative)
            os.makedirs(directory, exist_ok=True)
            for name in ("cpuset.cpus", "cpuset.mems"):
                if os.path.exists(os.path.join(directory, name)):
                    with open(os.path.join(mount, name), encoding="ascii") as f:
                        value = f.read().strip()
                    with open(os.path.join(directory, name), "w", encoding="ascii") as f:
                        f.write(value)

    def _kubelet_config(self, port: int, healthz_port: int) -> dict:
        node = self.node
        return {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            # This host is cgroup v1 (hybrid); Kubernetes 1.35+ refuses v1 unless told.
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs", "cgroupRoot": node["cgroup_root"],
            "cgroupsPerQOS": True,
            "containerRuntimeEndpoint": "unix://" + node["containerd_socket"],
            "imageServiceEndpoint": "unix://" + node["containerd_socket"],
            "address": node["ip"], "port": port, "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1", "healthzPort": healthz_port,
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                               "x509": {"clientCAFile": self.pki.ca_cert}},
            "authorization": {"mode": "Webhook"},
            "clusterDomain": "cluster.local", "clusterDNS": [node["ip"]],  # CoreDNS
            "failSwapOn": False, "maxPods": 30,
            "podLogsDir": self.path("kubelet", "pod-logs"),
            "volumePluginDir": self.path("kubelet", "volume-plugins"),
            "registerNode": True,
            # The shared machine's disk may be fuller than a dedicated node's: no evictions
            # and no image garbage collection of the imported images.
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%",
                             "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "serializeImagePulls": False, "syncFrequency": "10s",
            "nodeStatusUpdateFrequency": "5s", "fileCheckFrequency": "20s",
            "kubeAPIQPS": 50, "kubeAPIBurst": 100,
            "systemReserved": {"memory": f"{reserved_memory_kib()}Ki", "cpu": "500m"},
            "enforceNodeAllocatable": ["pods"],
        }

    def _start_kubelet(self, timeout: float) -> None:
        self._prepare_cgroup_root()
        kubeconfig = self._component_kubeconfig("kubelet", f"system:node:{NODE_NAME}",
                                                 "system:nodes")
        port, healthz_port = base.free_port(), base.free_port()
        config = self.path("kubelet", "config.json")
        os.makedirs(self.path("kubelet"), exist_ok=True)
        with open(config, "w", encoding="utf-8") as f:
            json.dump(self._kubelet_config(port, healthz_port), f, indent=2)
        # No sbin on the kubelet's PATH: where iptables is installed, the kubelet would add its
        # KUBE-FIREWALL/KUBE-IPTABLES-HINT chains to the host's tables (kubelet_network_linux.go);
        # without the binary it logs "No iptables support" and adds nothing. What it runs
        # (mount, umount) is in /usr/bin.
        daemon = self._launch_node_daemon("kubelet", [
            self.binary("kubelet"), f"--config={config}", f"--kubeconfig={kubeconfig}",
            f"--root-dir={self.path('kubelet', 'root')}",
            f"--hostname-override={NODE_NAME}", f"--node-ip={self.node['ip']}", "--v=1"],
            {"PATH": "/usr/local/bin:/usr/bin:/bin"})
        self._wait(daemon, lambda: http_ok(f"http://127.0.0.1:{healthz_port}/healthz"), timeout)
        self._wait(daemon, self.node_ready, timeout, "the node Ready")

    def node_ready(self) -> bool:
        status, body = self.request("GET", f"/api/v1/nodes/{NODE_NAME}")
        if status != 200 or not isinstance(body, dict):
            return False
        conditions = body.get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    # ----- down -----------------------------------------------------------------------------

    def teardown_node(self) -> None:
        """Removes the node's host state (see node_cleanup.py); raises naming what stayed."""
        node = self.node
        if not node:
            return
        errors = []
        daemons = {d.name: d for d in self.daemons()}
        def stop(name: str) -> None:
            try:
                if name in daemons:
                    processes.stop(daemons[name])
            except (OSError, RuntimeError) as e:
                errors.append(str(e))

        for name in NODE_DAEMONS[:5]:
            stop(name)
        containerd = daemons.get("containerd")
        if containerd and processes.is_running(containerd):
            try:  # the orderly way first: CNI DEL, runc delete, unmounts
                rmp = self.crictl("rmp", "--all", "--force", timeout=90)
                if rmp.returncode != 0:  # what it could not remove, the steps below do
                    print(f"node cleanup: crictl rmp: {rmp.stderr.strip()}", file=sys.stderr)
            except subprocess.SubprocessError as e:
                print(f"node cleanup: crictl rmp: {e}", file=sys.stderr)
        stop("containerd")
        for problem in (
                cleanup.kill_all(lambda: cleanup.pids_in_cgroups(node["cgroup_root"]),
                                 "processes in the node's cgroups"),
                cleanup.kill_all(lambda: cleanup.shim_pids(node["containerd_socket"]),
                                 "containerd shims")):
            if problem:
                errors.append(problem)
        left = cleanup.unmount_all_under(self.root)
        if left:
            errors.append(f"mounts that would not go: {left}")
        for problem in (cleanup.remove_cgroups(node["cgroup_root"]),
                        cleanup.remove_bpf_pins(BPF_PIN_DIR),
                        services.remove_kube_proxy_tables(),
                        cleanup.remove_bridge(node["bridge"]),
                        cleanup.restore_sysctls(node["sysctls"])):
            if problem:
                errors.append(problem)
        cleanup.remove_container_log_links(self.root)
        if errors:
            raise base.ClusterError("node cleanup", "; ".join(errors))

    def teardown(self, keep: str | None = None) -> None:
        self.teardown_node()
        cleanup.unregister(self.root)  # the host is clean; what is left is the root itself
        super().teardown(keep)

    def down(self) -> None:
        if not os.path.exists(self.root):
            cleanup.unregister(self.root)
            return
        self.teardown_node()
        super().down()
        cleanup.unregister(self.root)


def reserved_memory_kib() -> int:
    """What systemReserved keeps from the pods so that they share POD_MEMORY_BUDGET_KIB."""
    with open("/proc/meminfo", encoding="ascii") as f:
        total = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
    return max(0, total - POD_MEMORY_BUDGET_KIB)


def restrict_oom_score_adj() -> bool:
    """Whether this process lacks CAP_SYS_RESOURCE (bit 24), needed to lower oom_score_adj."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return not int(line.split()[1], 16) & (1 << 24)
    return True


def image_tag() -> str:
    with open(os.path.join(REPO, "deploy", "helm", "ambit", "Chart.yaml"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("appVersion:"):
                return line.split(":", 1)[1].strip().strip('"')
    raise base.ClusterError("images", "no appVersion in deploy/helm/ambit/Chart.yaml")


def https_healthz(port: int) -> bool:
    """/healthz of a component serving its own self-signed certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=context,
                                    timeout=2) as r:
            return r.status == 200
    except urllib.error.HTTPError:
        return False


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except urllib.error.HTTPError:
        return False


def _owner_alive(node: dict) -> bool:
    owner = node.get("owner")
    if not owner:
        return False
    return processes.is_running(processes.Daemon("owner", owner["pid"], owner["start_time"],
                                                 [], ""))


def clean_stale_nodes() -> None:
    """Tears down every registered node whose owner and watchdog are gone (both killed); a node
    whose owner still runs is another test's: refused, as the pod CIDR cannot be shared."""
    for root in cleanup.registry_entries():
        if not os.path.exists(os.path.join(root, base.STATE_FILE)):
            cleanup.unregister(root)
            continue
        stale = NodeCluster(root)
        if _owner_alive(stale.node):
            raise base.ClusterError("node", f"another node is up at {root} (its owner pid "
                                    f"{stale.node['owner']['pid']} runs); one node at a time")
        # An owner gone with its watchdog still running: the watchdog is tearing it down.
        watchdogs = [d for d in stale.daemons() if d.name == base.WATCHDOG]
        deadline = time.monotonic() + 120
        while any(processes.is_running(d) for d in watchdogs) and time.monotonic() < deadline:
            time.sleep(0.5)
        if any(processes.is_running(d) for d in watchdogs):
            raise base.ClusterError("node", f"the watchdog of {root} has not finished its "
                                    "teardown after 120 s")
        stale.down()
