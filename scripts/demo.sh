#!/usr/bin/env bash
# The ambit demo: builds ambit, brings up the single-machine lab (2 nodes, 3 pods as network
# namespaces, an agent + ztunnel per node) and shows the mesh at work: transparent eBPF
# capture, mTLS between ztunnels across nodes (identities and TLS on the wire), a canary split
# and L7 policy in the waypoint, a DENY policy applied live, and Istio-standard metrics.
# Needs root.
#   scripts/demo.sh            leave the lab up at the end (tear down with: ambitctl lab down)
#   scripts/demo.sh --down     tear the lab down at the end
#   scripts/demo.sh --no-build skip setup.sh and build.sh (use an existing build)
#   scripts/demo.sh --no-waypoint  skip the waypoint (L7) part; by default the lab also runs a
#                              waypoint for my-app: the seed VirtualService 80/20 split, a
#                              blue-green flip by editing YAML, a header route, a denied path
set -euo pipefail
cd "$(dirname "$0")/.."

down=0
build=1
waypoint=1
for arg in "$@"; do
  case "$arg" in
    --down) down=1 ;;
    --no-build) build=0 ;;
    --waypoint) waypoint=1 ;;
    --no-waypoint) waypoint=0 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done
if [[ $EUID -ne 0 ]]; then
  echo "demo.sh: must run as root (the lab creates network namespaces and cgroups)" >&2
  exit 1
fi

BUILD_DIR=${AMBIT_BUILD_DIR:-build}
CTL="$BUILD_DIR/bin/ambitctl"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

if ((build)); then
  step "Installing dependencies (scripts/setup.sh)"
  scripts/setup.sh
  step "Building (scripts/build.sh)"
  scripts/build.sh
fi

up_args=()
((waypoint)) && up_args+=(--waypoint)
step "Bringing up the lab: ambitctl lab up ${up_args[*]}"
"$CTL" lab up "${up_args[@]}"
step "Lab status: ambitctl lab status"
"$CTL" lab status

status_json() { "$CTL" lab status -o json; }
pod_ip() {  # pod_ip <pod> <ipv4|ipv6>
  status_json | python3 -c \
    "import json,sys; print(next(p['$2'] for p in json.load(sys.stdin)['pods'] if p['name']=='$1'))"
}
call() {  # call <from-pod> <url>
  printf '\n$ ambitctl lab exec %s -- curl -sS %s\n' "$1" "$2"
  "$CTL" lab exec "$1" -- curl -sS -m 5 "$2" | python3 -m json.tool
}

LAB=$(status_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["lab"])')
CONFIG_DIR=$(status_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["config_dir"])')
in_node() { local node=$1; shift; ip netns exec "$LAB-$node" "$@"; }
wait_ready() {
  for node in node1 node2; do
    for _ in $(seq 100); do
      in_node "$node" curl -sf -m 1 http://127.0.0.1:15021/healthz/ready >/dev/null && break
      sleep 0.1
    done
  done
}
wait_ready

step "The app is unchanged: client calls the my-app Service VIP 10.96.0.10:80"
echo "   No kube-proxy and no iptables here: the eBPF connect hook sends the connection to the"
echo "   node's ztunnel, which picks an endpoint and tunnels it over mTLS (HBONE) to the"
echo "   destination pod's ztunnel, which connects to the app from the caller's own IP: the app"
echo "   sees the real peer (here the waypoint, when the Service is bound to it; else the client)."
for _ in 1 2 3 4; do
  "$CTL" lab exec client -- curl -sS -m 5 http://10.96.0.10/hello | python3 -c \
    'import json,sys; d=json.load(sys.stdin); print("   -> pod=%-10s version=%s peer=%s" % (d["pod"], d["version"], d["peer"]))'
done
call client "http://[fd00:10:96::10]/ipv6"
echo "   straight to my-app-v2's pod IP on node2 (no waypoint): the app sees the client's IP"
"$CTL" lab exec client -- curl -sS -m 5 "http://$(pod_ip my-app-v2 ipv4):8080/pod-ip" | python3 -c \
  'import json,sys; d=json.load(sys.stdin); print("   -> pod=%-10s peer=%s" % (d["pod"], d["peer"]))'

step "Workload identities: certificates the ztunnel on node1 holds (admin :15000/config_dump)"
in_node node1 curl -sS http://127.0.0.1:15000/config_dump | python3 -c '
import json, sys
for c in json.load(sys.stdin)["certificates"]:
    print("   %s  state=%s  expires=%s" % (c["identity"], c["state"], c.get("expiration_time", "-")))'

step "On the wire between the nodes it is TLS 1.3 on port 15008 (captured on node2's uplink)"
cap=$(mktemp)
in_node node2 timeout 5 tcpdump -i eth0 -c 6 -nn -X 'tcp port 15008 and greater 100' >"$cap" 2>/dev/null &
tcpdump_pid=$!
sleep 0.5
"$CTL" lab exec client -- curl -sS -m 5 -o /dev/null "http://$(pod_ip my-app-v2 ipv4):8080/secret-path"
wait "$tcpdump_pid" || true
awk '/^[0-9:.]+ IP /{n++} n==1' "$cap" | head -7 | sed 's/^/   /'
echo "   (the TCP payload starts with a TLS record header: 16 03 01 handshake, 17 03 03 application data)"
if grep -q 'secret-path' "$cap"; then echo "   !! plaintext seen on the wire"; else
  echo "   the request path 'secret-path' does not appear in the captured bytes: they are encrypted"; fi
rm -f "$cap"

waypoint_demo() {
  local split="$PWD/tests/e2e/waypoint/http_split.py"
  shares() {  # shares <label> [header:value]: 2,000 requests on one keep-alive connection
    local label=$1; shift
    "$CTL" lab exec client -- /usr/bin/python3 "$split" 10.96.0.10 80 / 2000 "$@" | python3 -c '
import json, sys
d = json.load(sys.stdin)
v = d["versions"]
print("   %-28s v1=%4d (%4.1f%%)  v2=%4d (%4.1f%%)  errors=%d" % (sys.argv[1], v.get("v1", 0),
      v.get("v1", 0) / 20.0, v.get("v2", 0), v.get("v2", 0) / 20.0, d["errors"]))' "$label"
  }
  vs() {  # vs <v1 weight> <v2 weight>: the seed VirtualService with these weights
    cat >"$CONFIG_DIR/60-my-app-vs.yaml" <<YAML
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: my-app
spec:
  hosts:
  - my-app.default.svc.cluster.local
  http:
  - match:
    - headers:
        x-canary:
          exact: "yes"
    route:
    - destination:
        host: my-app
        subset: v2
  - route:
    - destination:
        host: my-app
        subset: v1
      weight: $1
    - destination:
        host: my-app
        subset: v2
      weight: $2
YAML
    sleep 1
  }
  step "L7 through the waypoint: Service my-app carries istio.io/use-waypoint=waypoint"
  echo "   The client's ztunnel tunnels to the waypoint pod (10.244.1.12:15008); the waypoint"
  echo "   parses HTTP, routes each request and opens HBONE to the chosen endpoint."
  vs 80 20
  shares "seed VirtualService 80/20:"
  vs 0 100
  shares "blue-green flip 0/100:"
  vs 80 20
  shares "header x-canary: yes:" "x-canary:yes"
  cat >"$CONFIG_DIR/61-deny-admin.yaml" <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-admin
  namespace: default
spec:
  targetRefs:
  - kind: Service
    group: ""
    name: my-app
  action: DENY
  rules:
  - to:
    - operation:
        paths: ["/admin", "/admin/*"]
YAML
  sleep 1
  for path in /admin /public/../admin /%61dmin /public; do
    printf '   $ curl --path-as-is http://10.96.0.10%-18s ->  ' "$path"
    "$CTL" lab exec client -- curl -sS -m 5 --path-as-is -o /dev/null -w '%{http_code}\n' \
      "http://10.96.0.10$path"
  done
  rm -f "$CONFIG_DIR/60-my-app-vs.yaml" "$CONFIG_DIR/61-deny-admin.yaml"
  echo "   waypoint metrics (:15020/metrics in the waypoint pod):"
  "$CTL" lab exec waypoint -- curl -sS http://127.0.0.1:15020/metrics |
    grep '^istio_requests_total' | sed -E 's/\{.*destination_version="([^"]*)".*response_code="([0-9]+)".*\} / {version=\1,code=\2} /' |
    sed 's/^/     /'
}
((waypoint)) && waypoint_demo

# With a waypoint the destination ztunnel sees the waypoint's identity, not the client's, so
# this L4 policy on the client principal is shown only without one.
l4_deny_demo() {
step "A DENY policy, applied live by editing YAML (no restart): client may not call my-app"
cat >"$CONFIG_DIR/50-deny-client.yaml" <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-client
  namespace: default
spec:
  selector:
    matchLabels:
      app: my-app
  action: DENY
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/client"]
YAML
sleep 1
printf '   $ curl http://10.96.0.10/  ->  '
"$CTL" lab exec client -- curl -sS -m 5 -o /dev/null -w '%{http_code}\n' http://10.96.0.10/ 2>&1 | tail -1 || true
in_node node2 grep -h 'DENY' "$(status_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["run_dir"])')/logs/node2-ztunnel.log" | tail -1 | sed 's/^/   ztunnel node2: /' || true
rm -f "$CONFIG_DIR/50-deny-client.yaml"
sleep 1
printf '   policy removed: $ curl http://10.96.0.10/  ->  '
"$CTL" lab exec client -- curl -sS -m 5 -o /dev/null -w '%{http_code}\n' http://10.96.0.10/
}
((waypoint)) || l4_deny_demo

step "Istio-standard metrics (node2 ztunnel :15020/metrics, what Prometheus/Kiali scrape)"
in_node node2 curl -sS http://127.0.0.1:15020/metrics | python3 -c '
import re, sys
for line in sys.stdin:
    m = re.match(r"(istio_tcp_\w+)\{(.*)\} (\S+)$", line.strip())
    if not m:
        continue
    labels = dict(re.findall(r"(\w+)=\"([^\"]*)\"", m.group(2)))
    if labels["reporter"] != "destination" or labels["response_flags"] != "-":
        continue
    print("   %-40s %s -> %s (%s) = %s" % (m.group(1), labels["source_workload"],
          labels["destination_workload"], labels["connection_security_policy"], m.group(3)))'
echo "   (full label set: reporter, source_/destination_ workload, principal, app, version,"
echo "    canonical_service, destination_service, request_protocol, response_flags, ...)"

if ((down)); then
  step "Tearing the lab down: ambitctl lab down"
  "$CTL" lab down
  echo "lab removed"
else
  step "The lab is still up"
  config_dir=$(status_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["config_dir"])')
  echo "  mesh config (Kubernetes-shaped YAML): $config_dir"
  echo "  run a command in a pod:  $CTL lab exec client -- curl -s http://$(pod_ip my-app-v2 ipv4):8080/"
  echo "  tear it down:            $CTL lab down"
fi
