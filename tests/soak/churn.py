"""Configuration churn for the soak run: the same kinds of edits the e2e tests make, written into
the lab's config directory (temp file + rename, as tests/support/lab.cc does), one step every
churn interval, each checked from the client pod until it takes effect (at most
EFFECT_TIMEOUT_S per change).

The cycle (10 steps; the expected-state keys are those of expectations.py):
  route-v2only    VirtualService my-app 0/100              20 probes in a row answer v2
  route-split     VirtualService 80/20 (the seed)          probes see both v1 and v2
  l4-deny         L4 DENY client -> my-app-v2              direct L4 to v2 fails, to v1 works
  l4-allow        that policy removed                      direct L4 to v2 works
  pod-unenroll    the extra pod (`lab up --extra-pod`)     its node's ztunnel no longer serves
                  gets istio.io/dataplane-mode: none       it, both ztunnels list its workload
                  in the pods file                         as not enrolled (plaintext), and a
                                                           direct L4 request to it works
  l7-deny         L7 DENY path /soak/l7 on Service my-app  that path 403, / 200
  l7-allow        that policy removed                      that path 200
  pod-enroll      the pods file as `lab up` wrote it       its node's ztunnel serves it again,
                                                           both list it enrolled (HBONE), and a
                                                           direct L4 request to it works
  subset-add      DestinationRule gains subset `canary`    the waypoint loads it, then
                  (version v1), VirtualService -> canary   20 probes in a row answer v1
  subset-remove   VirtualService 80/20, then the subset    both versions, then the waypoint
                  removed again                            loads the original rule
A step that changes an expected state opens a churn window (expectations.py) for its changes; the
pod steps change none and open no window, so the loads (client -> my-app, never the extra pod)
must keep their expected outcomes while the extra pod leaves and rejoins the mesh. The pod steps
are left out when the lab has no extra pod. A change that some daemon rejects ("keeping last
good version" in its log) counts as failed.
"""
import dataclasses
import json
import os
import time

import rotation
import traffic

EFFECT_TIMEOUT_S = 5.0
VS_FILE = "60-soak-virtualservice.yaml"
L4_FILE = "90-soak-l4-policy.yaml"
L7_FILE = "91-soak-l7-policy.yaml"
DR_FILE = "30-destination-rules.yaml"  # written by `lab up`; restored after the run
PODS_FILE = "10-pods.yaml"              # likewise
ZTUNNEL_ADMIN_PORT = 15000
REJECTED = "keeping last good version"
WAYPOINT_LOADED = "config version"


def virtual_service(routes):
    """VirtualService my-app with weighted routes [(subset, weight)]."""
    lines = ["apiVersion: networking.istio.io/v1", "kind: VirtualService",
             "metadata: {name: my-app, namespace: default}", "spec:", "  hosts: [my-app]",
             "  http:", "  - route:"]
    for subset, weight in routes:
        lines.append(f"    - {{destination: {{host: my-app, subset: {subset}}}, weight: {weight}}}")
    return "\n".join(lines) + "\n"


def destination_rule(subsets):
    """DestinationRule my-app with subsets [(name, version label)]."""
    lines = ["apiVersion: networking.istio.io/v1", "kind: DestinationRule",
             "metadata: {name: my-app, namespace: default}", "spec:", "  host: my-app",
             "  subsets:"]
    for name, version in subsets:
        lines.append(f"  - {{name: {name}, labels: {{version: {version}}}}}")
    return "\n".join(lines) + "\n"


L4_DENY = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: soak-l4, namespace: default}
spec:
  selector: {matchLabels: {app: my-app, version: v2}}
  action: DENY
  rules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/client"]}}]}]
"""

L7_DENY = f"""apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: soak-l7, namespace: default}}
spec:
  targetRefs: [{{kind: Service, group: "", name: my-app}}]
  action: DENY
  rules: [{{to: [{{operation: {{paths: ["{traffic.L7_PATH}"]}}}}]}}]
"""

SPLIT = [("v1", 80), ("v2", 20)]


def without_mesh(pods_yaml, pod):
    """pods_yaml (as `lab up` writes it) with label istio.io/dataplane-mode: none on pod."""
    at = pods_yaml.find(f"kind: Pod\nmetadata:\n  name: {pod}\n")
    labels = pods_yaml.find("\n  labels:\n", at)
    next_doc = pods_yaml.find("\n---", at)
    if at < 0 or labels < 0 or (0 <= next_doc < labels):
        raise ValueError(f"no pod {pod} with a block labels map in {PODS_FILE}")
    cut = labels + len("\n  labels:\n")
    return pods_yaml[:cut] + '    istio.io/dataplane-mode: "none"\n' + pods_yaml[cut:]


class LogTail:
    """Counts occurrences of a phrase in a growing log file, reading only what is new."""

    def __init__(self, path, phrase):
        self.path, self.phrase, self.count = path, phrase, 0
        self._offset, self._carry = 0, ""

    def update(self):
        try:
            with open(self.path, errors="replace") as f:
                f.seek(self._offset)
                text = f.read()
                self._offset = f.tell()
        except FileNotFoundError:
            return self.count
        text = self._carry + text
        cut = text.rfind("\n") + 1
        self.count += text[:cut].count(self.phrase)
        self._carry = text[cut:]
        return self.count


@dataclasses.dataclass
class Change:
    apply: object   # () -> None: writes or removes config files
    check: object   # () -> bool: one round of probes; True once the effect is seen
    what: str


@dataclasses.dataclass
class StepResult:
    name: str
    start: float
    seconds: list   # time to effect per change
    failure: str    # "" when every change took effect in time and nobody rejected it


@dataclasses.dataclass
class ExtraPod:
    name: str
    ipv4: str
    netns_of_ztunnels: list  # netns of the ztunnels that must see its enrollment: its node's first


class Churn:
    def __init__(self, config_dir, log_dir, pod_ips, vip, expectations, extra=None):
        """extra: the ExtraPod the pod steps move out of the mesh and back, or None."""
        self.config_dir, self.vip, self.expect, self.extra = config_dir, vip, expectations, extra
        self.v1, self.v2 = pod_ips["my-app-v1"], pod_ips["my-app-v2"]
        self.original_dr = self._read(DR_FILE)
        self.original_pods = self._read(PODS_FILE)
        self.pods_without_extra = without_mesh(self.original_pods, extra.name) if extra else ""
        self.waypoint = LogTail(os.path.join(log_dir, "waypoint.log"), WAYPOINT_LOADED)
        self.rejections = [LogTail(os.path.join(log_dir, name), REJECTED)
                           for name in sorted(os.listdir(log_dir)) if name.endswith(".log")]
        self.steps = self._cycle()
        self.next_step = 0

    # --- config files ----------------------------------------------------------------------
    def _read(self, name):
        with open(os.path.join(self.config_dir, name)) as f:
            return f.read()

    def write(self, name, text):
        path = os.path.join(self.config_dir, name)
        tmp = os.path.join(self.config_dir, "." + name + ".tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, path)

    def remove(self, name):
        try:
            os.remove(os.path.join(self.config_dir, name))
        except FileNotFoundError:
            pass

    def restore(self):
        """Leaves the config directory as `lab up` wrote it."""
        for name in (VS_FILE, L4_FILE, L7_FILE):
            self.remove(name)
        self.write(DR_FILE, self.original_dr)
        self.write(PODS_FILE, self.original_pods)

    # --- probes ----------------------------------------------------------------------------
    def _route_only(self, version):
        return all(traffic.http_probe(self.vip, "/") == ("ok", version) for _ in range(20))

    def _route_split(self):
        seen = set()
        for _ in range(50):
            cause, version = traffic.http_probe(self.vip, "/")
            if cause != "ok":
                return False
            seen.add(version)
            if {"v1", "v2"} <= seen:
                return True
        return False

    def _l4_denied(self):
        return (all(traffic.l4_request(self.v2)[0] != "ok" for _ in range(3))
                and traffic.l4_request(self.v1)[0] == "ok")

    def _l4_allowed(self):
        return all(traffic.l4_request(self.v2)[0] == "ok" for _ in range(3))

    def _l7(self, want):
        return (traffic.http_probe(self.vip, traffic.L7_PATH)[0] == want
                and traffic.http_probe(self.vip, "/")[0] == "ok")

    def _extra_enrolled(self, want):
        """The extra pod's ztunnel serves it (or not), every ztunnel concerned lists its workload
        as enrolled (or not), and a direct L4 request to it works either way."""
        name = self.extra.name
        for i, netns in enumerate(self.extra.netns_of_ztunnels):
            text = rotation.netns_get(netns, ZTUNNEL_ADMIN_PORT, "/config_dump")
            if text is None:
                return False
            dump = json.loads(text)
            w = next((w for w in dump.get("workloads") or [] if w.get("name") == name), None)
            if w is None or bool(w.get("enrolled", False)) != want:
                return False
            served = any(p.get("name") == name for p in dump.get("pods") or [])
            if i == 0 and served != want:
                return False
        return traffic.l4_request(self.extra.ipv4)[0] == "ok"

    def _waypoint_reloaded(self, before):
        return lambda: self.waypoint.update() > before[0]

    # --- the cycle -------------------------------------------------------------------------
    def _cycle(self):
        dr_with_canary = destination_rule([("v1", "v1"), ("v2", "v2"), ("canary", "v1")])
        mark = [0]  # waypoint config loads before the DestinationRule edit
        pod_steps = {}
        if self.extra:
            name = self.extra.name
            pod_steps = {
                "pod-unenroll": ("pod-unenroll", {}, [
                    Change(lambda: self.write(PODS_FILE, self.pods_without_extra),
                           lambda: self._extra_enrolled(False), f"{name} out of the mesh")]),
                "pod-enroll": ("pod-enroll", {}, [
                    Change(lambda: self.write(PODS_FILE, self.original_pods),
                           lambda: self._extra_enrolled(True), f"{name} back in the mesh")]),
            }
        steps = [
            ("route-v2only", {"route": "v2only"}, [
                Change(lambda: self.write(VS_FILE, virtual_service([("v1", 0), ("v2", 100)])),
                       lambda: self._route_only("v2"), "VirtualService 0/100")]),
            ("route-split", {"route": "split80"}, [
                Change(lambda: self.write(VS_FILE, virtual_service(SPLIT)),
                       self._route_split, "VirtualService 80/20")]),
            ("l4-deny", {"l4:v2": "deny"}, [
                Change(lambda: self.write(L4_FILE, L4_DENY), self._l4_denied, "L4 DENY")]),
            ("l4-allow", {"l4:v2": "allow"}, [
                Change(lambda: self.remove(L4_FILE), self._l4_allowed, "L4 DENY removed")]),
            pod_steps.get("pod-unenroll"),
            ("l7-deny", {"http:" + traffic.L7_PATH: "deny"}, [
                Change(lambda: self.write(L7_FILE, L7_DENY), lambda: self._l7("http_403"),
                       "L7 DENY")]),
            ("l7-allow", {"http:" + traffic.L7_PATH: "allow"}, [
                Change(lambda: self.remove(L7_FILE), lambda: self._l7("ok"), "L7 DENY removed")]),
            pod_steps.get("pod-enroll"),
            ("subset-add", {"route": "v1only"}, [
                Change(lambda: self._mark_then(mark, lambda: self.write(DR_FILE, dr_with_canary)),
                       lambda: self.waypoint.update() > mark[0], "DestinationRule + canary"),
                Change(lambda: self.write(VS_FILE, virtual_service([("canary", 100)])),
                       lambda: self._route_only("v1"), "VirtualService -> canary")]),
            ("subset-remove", {"route": "split80"}, [
                Change(lambda: self.write(VS_FILE, virtual_service(SPLIT)), self._route_split,
                       "VirtualService 80/20"),
                Change(lambda: self._mark_then(mark, lambda: self.write(DR_FILE, self.original_dr)),
                       lambda: self.waypoint.update() > mark[0], "DestinationRule - canary")]),
        ]
        return [step for step in steps if step]

    def _mark_then(self, mark, write):
        mark[0] = self.waypoint.update()
        write()

    def _rejections(self):
        return sum(t.update() for t in self.rejections)

    def _run_change(self, change):
        """Applies one change and polls its check: (seconds to effect, failure or "")."""
        rejected_before = self._rejections()
        t0 = time.time()
        change.apply()
        while True:
            if change.check():
                break
            if time.time() - t0 > EFFECT_TIMEOUT_S:
                return time.time() - t0, f"{change.what}: no effect within {EFFECT_TIMEOUT_S:.0f} s"
            time.sleep(0.05)
        took = time.time() - t0
        if self._rejections() > rejected_before:
            return took, f"{change.what}: a daemon rejected the configuration ({REJECTED!r})"
        return took, ""

    def setup(self):
        """The seed VirtualService, before any traffic: the waypoint loads it (without a
        VirtualService it already balances over v1 and v2, so the split alone proves nothing)."""
        mark, seed = [0], virtual_service(SPLIT)
        took, failure = self._run_change(
            Change(lambda: self._mark_then(mark, lambda: self.write(VS_FILE, seed)),
                   lambda: self.waypoint.update() > mark[0] and self._route_split(),
                   "seed VirtualService 80/20"))
        return StepResult("setup", time.time() - took, [took], failure)

    def step(self):
        """Runs the next step of the cycle (inside a churn window if it changes a state)."""
        name, states, changes = self.steps[self.next_step % len(self.steps)]
        self.next_step += 1
        start = time.time()
        if states:  # a step that changes no expected state needs no tolerance
            self.expect.open_window(start, states.keys())
        for key, state in states.items():
            self.expect.set_state(key, state, start)
        seconds, failure = [], ""
        for change in changes:
            took, failure = self._run_change(change)
            seconds.append(took)
            if failure:
                break
        if states:
            self.expect.close_window(time.time())
        return StepResult(name, start, seconds, failure)
