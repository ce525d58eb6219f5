"""The cluster services a real node's pods expect: Service ClusterIPs (kube-proxy) and cluster
DNS (CoreDNS), as every Kubernetes distribution provides them. node.py starts both as node
daemons, like the control plane, with their own credentials:

  kube-proxy   nftables mode: programs the tables `ip kube-proxy` / `ip6 kube-proxy` and nothing
               else of the host's (no conntrack sysctls: conntrack.* set to 0 = leave alone).
               Teardown deletes exactly those two tables after the daemon stopped.
  CoreDNS      bound to the node IP on port 53, serving cluster.local from the API (the kubernetes
               plugin) and forwarding the rest to the host's resolvers; the kubelet's clusterDNS
               points pods there (hostNetwork pods too, with dnsPolicy ClusterFirstWithHostNet).

The API server listens on every address and advertises the node IP, so the `kubernetes`
Service's endpoint is the node IP and in-cluster clients reach it through kube-proxy at
10.96.0.1:443 (its certificate names that address), as on any kubeadm-made node.
"""

import json
import os
import subprocess
import urllib.error
import urllib.request

import cluster as base

# Read/watch rights CoreDNS's kubernetes plugin needs (the ClusterRole system:coredns of
# CoreDNS's own deployment manifests), bound to the client certificate's user.
COREDNS_RBAC = [
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
     "metadata": {"name": "system:coredns"},
     "rules": [{"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"],
                "verbs": ["list", "watch"]},
               {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                "verbs": ["list", "watch"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
     "metadata": {"name": "system:coredns"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                 "name": "system:coredns"},
     "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                   "name": "system:coredns"}]},
]
NFT_TABLES = (("ip", "kube-proxy"), ("ip6", "kube-proxy"))
NFT = "/usr/sbin/nft"


def apiserver_args(node_ip: str) -> list[str]:
    """Overrides of cluster.py's loopback-only API server for a node whose pods reach it."""
    return ["--bind-address=0.0.0.0", f"--advertise-address={node_ip}",
            "--endpoint-reconciler-type=lease"]


def corefile(node_ip: str, kubeconfig: str, health_port: int, ready_port: int) -> str:
    return f""".:53 {{
    bind {node_ip}
    errors
    health 127.0.0.1:{health_port}
    ready 127.0.0.1:{ready_port}
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} coredns
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    forward . /etc/resolv.conf
    cache 5
}}
"""


def kube_proxy_config(kubeconfig: str, node_name: str, cluster_cidr: str, healthz_port: int,
                      metrics_port: int) -> dict:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
        "mode": "nftables",
        "clientConnection": {"kubeconfig": kubeconfig, "qps": 20, "burst": 40},
        "hostnameOverride": node_name,
        "clusterCIDR": cluster_cidr, "detectLocalMode": "ClusterCIDR",
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        # 0 = leave the host's conntrack tunables as they are (a shared machine).
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s",
                      "tcpCloseWaitTimeout": "0s"},
    }


def nft_tables() -> list[str]:
    """'family name' of every nftables table on the host; [] without nft."""
    if not os.access(NFT, os.X_OK):
        return []
    out = subprocess.run([NFT, "-j", "list", "tables"], capture_output=True, text=True,
                         check=False).stdout
    try:
        items = json.loads(out or "{}").get("nftables", [])
    except ValueError:
        return []
    return [f"{i['table']['family']} {i['table']['name']}" for i in items if "table" in i]


def kube_proxy_tables() -> list[str]:
    present = set(nft_tables())
    return [f"{family} {name}" for family, name in NFT_TABLES if f"{family} {name}" in present]


def remove_kube_proxy_tables() -> str | None:
    """Deletes kube-proxy's nftables tables (the whole of what it programs); an error text if
    one stays."""
    for table in kube_proxy_tables():
        subprocess.run([NFT, "delete", "table", *table.split()], capture_output=True,
                       check=False)
    left = kube_proxy_tables()
    return f"nftables tables not removable: {left}" if left else None


class NodeServices:
    """Mixin of node.NodeCluster: starts CoreDNS and kube-proxy."""

    def _start_coredns(self, timeout: float) -> None:
        kubeconfig = self._component_kubeconfig("coredns", "system:coredns")
        self.kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                                           "items": COREDNS_RBAC}))
        health, ready = base.free_port(), base.free_port()
        path = self.path("coredns", "Corefile")
        os.makedirs(os.path.dirname(path))
        with open(path, "w", encoding="utf-8") as f:
            f.write(corefile(self.node["ip"], kubeconfig, health, ready))
        daemon = self._launch_node_daemon("coredns", [self.binary("coredns"), "-conf", path])
        self._wait(daemon, lambda: http_ok(f"http://127.0.0.1:{ready}/ready"), timeout)

    def _start_kube_proxy(self, timeout: float) -> None:
        kubeconfig = self._component_kubeconfig("kube-proxy", "system:kube-proxy")
        healthz, metrics = base.free_port(), base.free_port()
        path = self.path("kube-proxy", "config.json")
        os.makedirs(os.path.dirname(path))
        with open(path, "w", encoding="utf-8") as f:
            json.dump(kube_proxy_config(kubeconfig, self.node["name"], self.node["pod_cidr"],
                                        healthz, metrics), f, indent=2)
        # Replies of a pod behind a Service to a client pod on the same bridge are bridged, not
        # routed: they must still pass netfilter to be un-NATed (kubeadm checks the same).
        with open("/proc/sys/net/bridge/bridge-nf-call-iptables", "w", encoding="ascii") as f:
            f.write("1")
        daemon = self._launch_node_daemon(
            "kube-proxy", [self.binary("kube-proxy"), f"--config={path}", "--v=1"],
            {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})  # nft
        self._wait(daemon, lambda: http_ok(f"http://127.0.0.1:{healthz}/healthz"), timeout)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except urllib.error.HTTPError:
        return False
