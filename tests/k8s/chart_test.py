#!/usr/bin/env python3
"""ctest k8s_chart: the Helm chart deploy/helm/ambit against a real kube-apiserver.

What this proves (API-server side; no kubelet runs, so no pod starts): the chart lints clean,
renders, passes the API server's validation (server-side dry run) and installs; the objects
carry the fields the design needs (DaemonSet strategy, priority, capabilities per container,
volumes, tokens, probes); the RBAC the API server enforces for each ServiceAccount is exactly
the contract in docs/kubernetes.md, nothing more; the CRDs are
established and their schemas type what ambit reads without pruning what it does not; the plain
manifests are up to date; `helm uninstall` removes everything but the CRDs it is told to keep.
Exits 77 (ctest: skipped) with a loud message when the Kubernetes binaries are not built.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
SETUP = os.path.join(REPO, "scripts", "setup-k8s.sh")
RENDER = os.path.join(REPO, "scripts", "render-manifests.sh")
CHART = os.path.join(REPO, "deploy", "helm", "ambit")
MANIFESTS = os.path.join(REPO, "deploy", "manifests")
sys.path.insert(0, os.path.join(HERE, "cluster"))
import cluster as k8s  # noqa: E402

RELEASE = "ambit"
NAMESPACE = "ambit-system"
CONTROL_SA = f"system:serviceaccount:{NAMESPACE}:ambit-control"
AGENT_SA = f"system:serviceaccount:{NAMESPACE}:ambit-agent"
# A waypoint's ServiceAccount (ambit-control names it after the Gateway): no API access at all.
WAYPOINT_SA = "system:serviceaccount:default:my-waypoint"
NOBODY_SA = "system:serviceaccount:default:nobody"

CRDS = {
    "authorizationpolicies.security.istio.io": ["v1", "v1beta1"],
    "peerauthentications.security.istio.io": ["v1", "v1beta1"],
    "requestauthentications.security.istio.io": ["v1", "v1beta1"],
    "virtualservices.networking.istio.io": ["v1", "v1beta1", "v1alpha3"],
    "destinationrules.networking.istio.io": ["v1", "v1beta1", "v1alpha3"],
    "gateways.gateway.networking.k8s.io": ["v1", "v1beta1"],
    "gatewayclasses.gateway.networking.k8s.io": ["v1", "v1beta1"],
    "httproutes.gateway.networking.k8s.io": ["v1", "v1beta1"],
}
WITH_STATUS_SUBRESOURCE = {"gateways.gateway.networking.k8s.io",
                           "gatewayclasses.gateway.networking.k8s.io",
                           "httproutes.gateway.networking.k8s.io"}

# the contract in docs/kubernetes.md, as `kubectl auth can-i --list` names
# them: (resource[.group][/subresource], resource name or "", verbs).
READ = ("get", "list", "watch")
CONTROL_CLUSTER_RULES = [
    *[(r, "", READ) for r in (
        "namespaces", "pods", "services", "endpointslices.discovery.k8s.io",
        "authorizationpolicies.security.istio.io", "peerauthentications.security.istio.io",
        "requestauthentications.security.istio.io", "virtualservices.networking.istio.io",
        "destinationrules.networking.istio.io", "gateways.gateway.networking.k8s.io",
        "httproutes.gateway.networking.k8s.io")],
    ("tokenreviews.authentication.k8s.io", "", ("create",)),
    ("events.events.k8s.io", "", ("create",)),
    ("configmaps", "", (*READ, "create", "update")),
    *[(r, "", ("get", "create", "update", "delete"))
      for r in ("deployments.apps", "services", "serviceaccounts")],
    ("gateways.gateway.networking.k8s.io/status", "", ("patch",)),
]
# Only in the release namespace: the CA Secret (generated, or the user's `cacerts`).
CONTROL_NAMESPACE_RULES = [
    ("secrets", "ambit-ca", ("get",)),
    ("secrets", "cacerts", ("get",)),
    ("secrets", "", ("create",)),
]
AGENT_RULES = [
    ("pods", "", READ),
    ("pods/status", "", ("patch",)),
]
# Only in the release namespace: its own DaemonSet (gone at SIGTERM = uninstall).
AGENT_NAMESPACE_RULES = [
    ("daemonsets.apps", "ambit-node", ("get",)),
]

CAN_I_ROW = re.compile(r"^(\S+)\s+\[(.*?)\]\s+\[(.*?)\]\s+\[(.*?)\]\s*$")


def expand(rules) -> set[tuple[str, str, str]]:
    return {(resource, name, verb) for resource, name, verbs in rules for verb in verbs}


class Env:
    """The cluster and the helm/kubectl invocations every test class shares."""
    cluster: k8s.Cluster
    root: str
    helm_env: dict

    @classmethod
    def run(cls, argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False,
                              env=cls.helm_env)

    @classmethod
    def helm(cls, *args: str) -> str:
        result = cls.run([cls.cluster.binary("helm"), *args])
        if result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}{result.stderr}")
        return result.stdout

    @classmethod
    def kubectl(cls, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return cls.run([cls.cluster.binary("kubectl"),
                        f"--kubeconfig={cls.cluster.kubeconfig}", *args], stdin)

    @classmethod
    def get_json(cls, *args: str) -> dict:
        return json.loads(cls.cluster.kubectl("get", *args, "--output=json"))

    @classmethod
    def install(cls, *flags: str) -> None:
        # CRDs a previous test deleted may still be terminating (the API server's finalizer
        # retries with backoff while a new CRD's storage initialises): a create would conflict.
        terminating = [c["metadata"]["name"] for c in cls.get_json(
            "customresourcedefinitions", "--selector=app.kubernetes.io/part-of=ambit")["items"]
            if c["metadata"].get("deletionTimestamp")]
        if terminating:
            cls.cluster.kubectl("wait", "--for=delete", "--timeout=600s",
                                *[f"customresourcedefinition/{name}" for name in terminating])
        cls.helm("install", RELEASE, CHART, f"--namespace={NAMESPACE}", *flags)

    @classmethod
    def uninstall(cls) -> None:
        """Removes the release if there is one (the kept CRDs stay: deleting them is slow)."""
        if cls.run([cls.cluster.binary("helm"), "status", RELEASE,
                    f"--namespace={NAMESPACE}"]).returncode == 0:
            cls.helm("uninstall", RELEASE, f"--namespace={NAMESPACE}")

    @classmethod
    def can_i(cls, user: str, namespace: str, *what: str) -> bool:
        result = cls.kubectl("auth", "can-i", *what, f"--as={user}", f"--namespace={namespace}")
        if result.stdout.strip() not in ("yes", "no"):
            raise AssertionError(f"kubectl auth can-i {' '.join(what)}: {result.stderr}")
        return result.stdout.strip() == "yes"

    @classmethod
    def permissions(cls, user: str, namespace: str) -> set[tuple[str, str, str]]:
        """Every (resource, name, verb) the API server's authorizer grants `user`."""
        out = cls.cluster.kubectl("auth", "can-i", "--list", f"--as={user}",
                                  f"--namespace={namespace}")
        granted = set()
        for line in out.splitlines()[1:]:
            row = CAN_I_ROW.match(line)  # non-resource URL rows start with blanks: skipped
            if row:
                resource, _, names, verbs = row.groups()
                for name in names.split() or [""]:
                    granted |= {(resource, name, verb) for verb in verbs.split()}
        return granted


def setUpModule():
    Env.root = tempfile.mkdtemp(prefix="ambit-k8s-chart-")
    Env.cluster = k8s.Cluster(os.path.join(Env.root, "cluster"))
    # Inside the cluster root: whoever removes the cluster (down, watchdog) removes it too.
    helm_home = os.path.join(Env.cluster.root, "helm")
    Env.helm_env = {**os.environ, "KUBECONFIG": Env.cluster.kubeconfig,
                    "HELM_CONFIG_HOME": os.path.join(helm_home, "config"),
                    "HELM_CACHE_HOME": os.path.join(helm_home, "cache"),
                    "HELM_DATA_HOME": os.path.join(helm_home, "data")}
    try:
        # The watchdog downs the cluster if this process dies before tearDownModule.
        Env.cluster.up(k8s.default_bin_dir(), owner_pid=os.getpid())
        Env.cluster.kubectl("create", "namespace", NAMESPACE)
        Env.helm_env["HELM"] = Env.cluster.binary("helm")  # for render-manifests.sh
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    try:
        Env.cluster.down()
    finally:
        shutil.rmtree(Env.root, ignore_errors=True)


class ChartSourceTest(unittest.TestCase):
    """The chart as files: lint, rendering switches, generated manifests."""

    def test_lint_is_clean_also_strict(self):
        for strict in ([], ["--strict"]):
            out = Env.helm("lint", CHART, *strict)
            self.assertIn("0 chart(s) failed", out)
            self.assertNotIn("[WARNING]", out, out)
            self.assertNotIn("[ERROR]", out, out)

    def kinds(self, *flags: str) -> list[tuple[str, str]]:
        out = Env.helm("template", RELEASE, CHART, f"--namespace={NAMESPACE}", *flags)
        return re.findall(r"^kind: (\S+)\n(?:.*\n)*?  name: (\S+)", out, re.MULTILINE)

    def test_crds_render_only_when_asked(self):
        default = self.kinds()
        self.assertEqual(sorted(n for k, n in default if k == "CustomResourceDefinition"),
                         sorted(CRDS))
        without = self.kinds("--set", "crds.install=false")
        self.assertEqual([n for k, n in without if k == "CustomResourceDefinition"], [])
        self.assertEqual(sorted(without),
                         sorted(x for x in default if x[0] != "CustomResourceDefinition"))

    def test_plain_manifests_are_up_to_date(self):
        result = Env.run([RENDER, "--check"])
        self.assertEqual(result.returncode, 0, result.stderr)


class ServerDryRunTest(unittest.TestCase):
    """The API server validates every rendered object (schemas, RBAC rules, CRDs)."""

    def dry_run(self, manifest: str, *flags: str) -> None:
        # strict: a field the API server does not know (a typo, a wrong level) is an error.
        result = Env.kubectl("apply", "--dry-run=server", "--validate=strict", *flags, "-f", "-",
                             stdin=manifest)
        self.assertEqual(result.returncode, 0, result.stderr)
        # Objects another test installed with helm lack kubectl's own bookkeeping annotation;
        # any other warning (deprecated API, ...) is a defect.
        warnings = [line for line in result.stderr.splitlines()
                    if line.startswith("Warning") and "last-applied-configuration" not in line]
        self.assertEqual(warnings, [])

    def test_helm_template_passes_server_side_dry_run(self):
        self.dry_run(Env.helm("template", RELEASE, CHART, f"--namespace={NAMESPACE}"))

    def test_other_values_render_valid_objects(self):
        for values in (
                # Everything optional off.
                "metrics.podAnnotations=false,metrics.agentService=false,"
                "control.podDisruptionBudget.enabled=false,crds.install=false,crds.keep=false",
                # Every list and map value filled in.
                "image.registry=registry.example/mesh/,image.tag=dev,image.pullSecrets={regcred},"
                "waypoint.image=registry.example/wp:1,control.priorityClassName=high,"
                "control.nodeSelector.pool=infra,control.tolerations[0].operator=Exists,"
                "control.podAnnotations.team=mesh,node.podAnnotations.team=mesh,"
                "node.nodeSelector.pool=mesh,node.updateStrategy.maxSurge=0,"
                "node.updateStrategy.maxUnavailable=1,control.replicas=3,"
                "node.agent.memlockCapability=true,node.kubeletCgroupRoot=/custom,"
                "node.cgroupHostPath=/sys/fs/cgroup/unified"):
            with self.subTest(values=values):
                self.dry_run(Env.helm("template", RELEASE, CHART, f"--namespace={NAMESPACE}",
                                      "--set", values))

    def test_plain_manifests_pass_server_side_dry_run(self):
        for name in ("crds.yaml", "ambit.yaml"):
            with open(os.path.join(MANIFESTS, name), encoding="utf-8") as f:
                # As docs/kubernetes.md says to apply them (ambit-system exists already here).
                self.dry_run(f.read(), "--server-side")


class InstalledChartTest(unittest.TestCase):
    """`helm install` with the default values; the objects and what the API server enforces."""

    @classmethod
    def setUpClass(cls):
        Env.install()

    @classmethod
    def tearDownClass(cls):
        Env.uninstall()

    def daemonset(self) -> dict:
        return Env.get_json("daemonset", "ambit-node", f"--namespace={NAMESPACE}")

    def containers(self, pod_spec: dict) -> dict[str, dict]:
        return {c["name"]: c for c in pod_spec["containers"]}

    def test_node_daemonset_schedules_everywhere_and_updates_without_a_gap(self):
        spec = self.daemonset()["spec"]
        self.assertEqual(spec["updateStrategy"], {
            "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
        pod = spec["template"]["spec"]
        self.assertEqual(pod["priorityClassName"], "system-node-critical")
        self.assertEqual(pod["tolerations"], [{"operator": "Exists"}])
        self.assertTrue(pod["hostNetwork"])
        self.assertTrue(pod["hostPID"])
        self.assertEqual(pod["dnsPolicy"], "ClusterFirstWithHostNet")
        self.assertEqual(list(self.containers(pod)), ["agent", "ztunnel"])
        for name, container in self.containers(pod).items():
            # A containerPort would become a hostPort and block the surge pod's scheduling.
            self.assertNotIn("ports", container, name)
            env = {e["name"]: e for e in container.get("env", [])}
            self.assertEqual(env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"],
                             "spec.nodeName", name)

    def test_node_containers_get_only_their_capabilities(self):
        containers = self.containers(self.daemonset()["spec"]["template"]["spec"])
        # SYS_RESOURCE only with node.agent.memlockCapability (kernels before 5.11).
        expected = {"agent": {"BPF", "NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE"},
                    "ztunnel": {"NET_ADMIN", "SYS_ADMIN"}}
        for name, caps in expected.items():
            context = containers[name]["securityContext"]
            self.assertEqual(context["capabilities"]["drop"], ["ALL"], name)
            self.assertEqual(set(context["capabilities"]["add"]), caps, name)
            self.assertFalse(context["privileged"], name)
            self.assertFalse(context["allowPrivilegeEscalation"], name)
            self.assertTrue(context["readOnlyRootFilesystem"], name)
            self.assertEqual(context["seLinuxOptions"], {"type": "spc_t"}, name)
        # Only the agent leaves the runtime's AppArmor profile (pinning under /sys/fs/bpf).
        self.assertEqual(containers["agent"]["securityContext"]["appArmorProfile"],
                         {"type": "Unconfined"})
        self.assertNotIn("appArmorProfile", containers["ztunnel"]["securityContext"])

    def test_node_volumes_tokens_and_probes(self):
        pod = self.daemonset()["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        self.assertEqual({v["hostPath"]["path"] for v in volumes.values() if "hostPath" in v},
                         {"/sys/fs/bpf", "/sys/fs/cgroup", "/proc", "/var/lib/ambit"})
        self.assertEqual(volumes["ambit-token"]["projected"]["sources"], [{
            "serviceAccountToken": {"audience": "ambit", "expirationSeconds": 3600,
                                    "path": "ambit-token"}}])
        self.assertEqual(volumes["control-ca"]["configMap"]["name"], "ambit-ca-root-cert")
        # No automounted API token: only the agent container gets one, the ztunnel none.
        self.assertFalse(pod["automountServiceAccountToken"])
        self.assertEqual(pod["serviceAccountName"], "ambit-agent")
        containers = self.containers(pod)
        mounts = {name: {m["name"]: m for m in c["volumeMounts"]}
                  for name, c in containers.items()}
        self.assertEqual(set(mounts["ztunnel"]), {"bpffs", "run"})
        self.assertEqual(set(mounts["agent"]), {"bpffs", "cgroup", "host-proc", "run", "state",
                                                "ambit-token", "control-ca", "kube-api-access"})
        self.assertEqual(mounts["agent"]["ambit-token"]["mountPath"],
                         "/var/run/secrets/ambit/tokens")
        self.assertTrue(mounts["agent"]["cgroup"]["readOnly"])
        # Writable: pods' net.* sysctls are written through it (the container's is read-only).
        self.assertFalse(mounts["agent"]["host-proc"].get("readOnly", False))
        agent_args = containers["agent"]["args"]
        for flag in ("--kubernetes", "--node=$(NODE_NAME)",
                     f"--discovery-address=ambit-control.{NAMESPACE}.svc:15012",
                     "--control-ca=/var/run/ambit/ca/root-cert.pem",
                     "--token-file=/var/run/secrets/ambit/tokens/ambit-token",
                     "--state-dir=/var/lib/ambit", "--kubelet-cgroup-root=/",
                     f"--daemonset={NAMESPACE}/ambit-node"):
            self.assertIn(flag, agent_args)
        self.assertIn("--discovery-address=unix:/run/ambit/$(NODE_NAME)/discovery.sock",
                      containers["ztunnel"]["args"])
        probe = containers["ztunnel"]["readinessProbe"]["httpGet"]
        self.assertEqual((probe["path"], probe["port"]), ("/healthz/ready", 15021))
        annotations = self.daemonset()["spec"]["template"]["metadata"]["annotations"]
        self.assertEqual(annotations["prometheus.io/port"], "15020")

    def test_control_deployment(self):
        deployment = Env.get_json("deployment", "ambit-control", f"--namespace={NAMESPACE}")
        spec = deployment["spec"]
        self.assertEqual(spec["replicas"], 2)
        pod = spec["template"]["spec"]
        self.assertIn("preferredDuringSchedulingIgnoredDuringExecution",
                      pod["affinity"]["podAntiAffinity"])
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        (control,) = pod["containers"]
        self.assertEqual(control["image"], "localhost/ambit-control:0.1.0")
        self.assertEqual(control["imagePullPolicy"], "IfNotPresent")
        self.assertEqual(control["securityContext"]["capabilities"], {"drop": ["ALL"]})
        self.assertTrue(control["securityContext"]["readOnlyRootFilesystem"])
        self.assertEqual(control["readinessProbe"]["httpGet"]["path"], "/ready")
        self.assertEqual(control["livenessProbe"]["httpGet"]["path"], "/healthz")
        self.assertTrue(control["resources"]["requests"] and control["resources"]["limits"])
        for flag in (f"--namespace={NAMESPACE}", "--listen=0.0.0.0:15012",
                     "--monitoring-port=15014", "--ca-secret=ambit-ca", "--token-audience=ambit",
                     "--waypoint-image=localhost/ambit-waypoint:0.1.0",
                     "--waypoint-image-pull-policy=IfNotPresent",
                     "--waypoint-shutdown-delay-seconds=5", "--waypoint-drain-seconds=5"):
            self.assertIn(flag, control["args"])
        annotations = spec["template"]["metadata"]["annotations"]
        self.assertEqual((annotations["prometheus.io/scrape"], annotations["prometheus.io/port"],
                          annotations["prometheus.io/path"]), ("true", "15014", "/metrics"))

        service = Env.get_json("service", "ambit-control", f"--namespace={NAMESPACE}")
        self.assertEqual({p["name"]: p["port"] for p in service["spec"]["ports"]},
                         {"grpc-tls": 15012, "http-monitoring": 15014})
        pdb = Env.get_json("poddisruptionbudget", "ambit-control", f"--namespace={NAMESPACE}")
        self.assertEqual(pdb["spec"]["minAvailable"], 1)
        labels = spec["template"]["metadata"]["labels"]
        self.assertTrue(pdb["spec"]["selector"]["matchLabels"].items() <= labels.items())

    def test_rbac_grants_exactly_the_contract(self):
        baseline = Env.permissions(NOBODY_SA, NAMESPACE)  # what every authenticated user has
        self.assertEqual(Env.permissions(CONTROL_SA, "default") - baseline,
                         expand(CONTROL_CLUSTER_RULES))
        self.assertEqual(Env.permissions(CONTROL_SA, NAMESPACE) - baseline,
                         expand(CONTROL_CLUSTER_RULES + CONTROL_NAMESPACE_RULES))
        self.assertEqual(Env.permissions(AGENT_SA, "default") - baseline, expand(AGENT_RULES))
        self.assertEqual(Env.permissions(AGENT_SA, NAMESPACE) - baseline,
                         expand(AGENT_RULES + AGENT_NAMESPACE_RULES))
        self.assertEqual(Env.permissions(WAYPOINT_SA, "default") - baseline, set())

    def test_rbac_spot_checks(self):
        yes, no = True, False
        cases = [
            (AGENT_SA, "default", ("list", "pods"), yes),
            (AGENT_SA, "default", ("patch", "pods", "--subresource=status"), yes),
            (AGENT_SA, "default", ("get", "nodes"), no),
            (AGENT_SA, "default", ("list", "nodes"), no),
            (AGENT_SA, NAMESPACE, ("get", "secrets"), no),
            (AGENT_SA, "default", ("get", "secrets"), no),
            (AGENT_SA, "default", ("update", "pods"), no),
            (AGENT_SA, "default", ("patch", "pods"), no),
            (AGENT_SA, "default", ("create", "tokenreviews.authentication.k8s.io"), no),
            (CONTROL_SA, NAMESPACE, ("get", "secrets/ambit-ca"), yes),
            (CONTROL_SA, NAMESPACE, ("get", "secrets/cacerts"), yes),
            (CONTROL_SA, NAMESPACE, ("create", "secrets"), yes),
            (CONTROL_SA, NAMESPACE, ("get", "secrets/someone-elses"), no),
            (CONTROL_SA, NAMESPACE, ("list", "secrets"), no),
            (CONTROL_SA, NAMESPACE, ("delete", "secrets/ambit-ca"), no),
            (CONTROL_SA, "default", ("get", "secrets/ambit-ca"), no),
            (CONTROL_SA, "default", ("create", "tokenreviews.authentication.k8s.io"), yes),
            (CONTROL_SA, "default", ("create", "deployments.apps"), yes),
            (CONTROL_SA, "default", ("delete", "deployments.apps"), yes),  # waypoint removal
            (CONTROL_SA, "default", ("delete", "pods"), no),
            (CONTROL_SA, "default", ("update", "gateways.gateway.networking.k8s.io"), no),
            (CONTROL_SA, "default", ("patch", "gateways.gateway.networking.k8s.io",
                                     "--subresource=status"), yes),
            (CONTROL_SA, "default", ("create", "events.events.k8s.io"), yes),
            (CONTROL_SA, "default", ("create", "events"), no),
            (CONTROL_SA, NAMESPACE, ("create", "leases.coordination.k8s.io"), no),
            (WAYPOINT_SA, "default", ("get", "pods"), no),
            (WAYPOINT_SA, "default", ("get", "secrets"), no),
            (WAYPOINT_SA, "default", ("list", "services"), no),
            (WAYPOINT_SA, "default", ("create", "tokenreviews.authentication.k8s.io"), no),
        ]
        for user, namespace, what, allowed in cases:
            with self.subTest(user=user, namespace=namespace, what=what):
                self.assertEqual(Env.can_i(user, namespace, *what), allowed)

    def test_agent_token_reads_pods_not_secrets_and_ambit_token_is_no_api_credential(self):
        token = Env.cluster.token(NAMESPACE, "ambit-agent")
        pods, _ = Env.cluster.request("GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dn1",
                                      token=token)
        self.assertEqual(pods, 200)
        secrets, _ = Env.cluster.request("GET", f"/api/v1/namespaces/{NAMESPACE}/secrets",
                                         token=token)
        self.assertEqual(secrets, 403)
        ambit_token = Env.cluster.token(NAMESPACE, "ambit-agent", ["ambit"])
        status, _ = Env.cluster.request("GET", "/api/v1/pods", token=ambit_token)
        self.assertEqual(status, 401, "the ambit-audience token must not open the API")

    def test_crds_are_established_with_one_storage_version(self):
        for name, versions in CRDS.items():
            crd = Env.get_json("customresourcedefinition", name)
            conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
            self.assertEqual(conditions.get("Established"), "True", name)
            self.assertEqual([v["name"] for v in crd["spec"]["versions"]], versions, name)
            self.assertEqual([v["name"] for v in crd["spec"]["versions"] if v["storage"]],
                             ["v1"], name)
            has_status = all("status" in v.get("subresources", {})
                             for v in crd["spec"]["versions"])
            self.assertEqual(has_status, name in WITH_STATUS_SUBRESOURCE, name)
            self.assertEqual(crd["metadata"]["annotations"].get("helm.sh/resource-policy"),
                             "keep", name)

    def apply(self, manifest: str) -> subprocess.CompletedProcess:
        return Env.kubectl("apply", "--namespace=default", "-f", "-", stdin=manifest)

    def test_virtual_service_schema_types_fields_but_leaves_semantics_to_ambit(self):
        def virtual_service(name: str, version: str, weights: tuple[str, str]) -> str:
            return f"""
apiVersion: networking.istio.io/{version}
kind: VirtualService
metadata: {{name: {name}}}
spec:
  hosts: [my-app]
  http:
  - mirrorPercentage: {{value: 5}}
    route:
    - destination: {{host: my-app, subset: v1}}
      weight: {weights[0]}
    - destination: {{host: my-app, subset: v2}}
      weight: {weights[1]}
"""
        bad = self.apply(virtual_service("bad-type", "v1", ("eighty", "20")))
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("spec.http[0].route[0].weight", bad.stderr)
        self.assertIn("integer", bad.stderr)
        # 80 + 30 is well typed: the API server takes it, ambit's validation rejects it later.
        for version in ("v1", "v1beta1", "v1alpha3"):
            result = self.apply(virtual_service(f"over-{version}", version, ("80", "30")))
            self.assertEqual(result.returncode, 0, result.stderr)
        stored = Env.get_json("virtualservice", "over-v1alpha3", "--namespace=default")
        route = stored["spec"]["http"][0]
        self.assertEqual([r["weight"] for r in route["route"]], [80, 30])
        # A field the schema does not type is kept, not pruned.
        self.assertEqual(route["mirrorPercentage"], {"value": 5})

    def test_gateway_status_is_a_subresource(self):
        gateway = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: my-waypoint}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
"""
        result = self.apply(gateway)
        self.assertEqual(result.returncode, 0, result.stderr)
        patch = json.dumps({"status": {"addresses": [{"type": "IPAddress",
                                                      "value": "10.244.1.7"}]}})
        Env.cluster.kubectl("patch", "gateway", "my-waypoint", "--namespace=default",
                            "--subresource=status", "--type=merge", f"--patch={patch}")
        stored = Env.get_json("gateway", "my-waypoint", "--namespace=default")
        self.assertEqual(stored["status"]["addresses"][0]["value"], "10.244.1.7")
        no_listeners = self.apply(gateway.replace(
            "  listeners: [{name: mesh, port: 15008, protocol: HBONE}]\n", ""))
        self.assertNotEqual(no_listeners.returncode, 0)
        self.assertIn("spec.listeners", no_listeners.stderr)


class UninstallTest(unittest.TestCase):
    """`helm uninstall` leaves nothing of the release behind but the CRDs it keeps."""

    def tearDown(self):
        Env.uninstall()

    def released_objects(self) -> list[tuple[str, str, str | None]]:
        """(kind, name, namespace) of every object in the release's manifest."""
        manifest = Env.helm("get", "manifest", RELEASE, f"--namespace={NAMESPACE}")
        listing = Env.kubectl("get", "--filename=-", "--output=json", stdin=manifest)
        self.assertEqual(listing.returncode, 0, listing.stderr)
        return [(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace"))
                for o in json.loads(listing.stdout)["items"]]

    def exists(self, kind: str, name: str, namespace: str | None) -> bool:
        scope = [f"--namespace={namespace}"] if namespace else []
        result = Env.kubectl("get", kind, name, "--ignore-not-found", "--output=name", *scope)
        self.assertEqual(result.returncode, 0, result.stderr)
        return bool(result.stdout.strip())

    def test_uninstall_keeps_crds_and_a_reinstall_uses_existing_ones(self):
        Env.install()
        objects = self.released_objects()
        self.assertEqual(len([o for o in objects if o[0] == "CustomResourceDefinition"]),
                         len(CRDS))
        Env.helm("uninstall", RELEASE, f"--namespace={NAMESPACE}")
        for kind, name, namespace in objects:
            kept = kind == "CustomResourceDefinition"
            self.assertEqual(self.exists(kind, name, namespace), kept, f"{kind} {name}")

        # A cluster that already has the CRDs (here: the kept ones) installs without them.
        Env.install("--set", "crds.install=false")
        again = self.released_objects()
        self.assertEqual([o for o in again if o[0] == "CustomResourceDefinition"], [])
        self.assertEqual(sorted(again),
                         sorted(o for o in objects if o[0] != "CustomResourceDefinition"))
        Env.helm("uninstall", RELEASE, f"--namespace={NAMESPACE}")
        for kind, name, namespace in again:
            self.assertFalse(self.exists(kind, name, namespace), f"{kind} {name}")

    def test_uninstall_without_keep_deletes_the_crds_too(self):
        Env.install("--set", "crds.keep=false")
        objects = self.released_objects()
        Env.helm("uninstall", RELEASE, f"--namespace={NAMESPACE}")
        for kind, name, namespace in objects:
            if kind == "CustomResourceDefinition":
                # Deleted: gone, or terminating until the API server has removed its objects.
                crd = Env.kubectl("get", "customresourcedefinition", name, "--ignore-not-found",
                                  "--output=json")
                self.assertEqual(crd.returncode, 0, crd.stderr)
                if crd.stdout.strip():
                    self.assertIn("deletionTimestamp", json.loads(crd.stdout)["metadata"], name)
            else:
                self.assertFalse(self.exists(kind, name, namespace), f"{kind} {name}")
        left = Env.cluster.kubectl("get", "clusterroles,clusterrolebindings", "--output=name",
                                   "--selector=app.kubernetes.io/part-of=ambit")
        self.assertEqual(left.strip(), "")


if __name__ == "__main__":
    sys.exit(k8s.run_unittests(SETUP))
