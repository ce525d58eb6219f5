/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ambit capture ABI: the one definition of everything the eBPF programs and the C++ loader
 * (common/bpf/) share. Plain C types only; included by BPF C (after vmlinux.h) and by C++
 * (tests/unit/bpf/abi_test static_asserts the layout). Never mirror these by hand.
 *
 * Addresses: every IP in a map key or value is 16 bytes in network byte order; IPv4 is stored
 * in its IPv4-mapped IPv6 form (::ffff:a.b.c.d), so one key type serves both families.
 * Ports in keys and values are host byte order.
 *
 * Original-destination mechanism (DESIGN.md §3):
 *   1. cgroup/connect4|6 decides to capture a TCP socket, stores the original destination in
 *      the socket's local storage (AMBIT_MAP_SOCK_DST, BPF_MAP_TYPE_SK_STORAGE: freed with
 *      the socket, no stale entries) and rewrites the destination to loopback:15001.
 *   2. sockops, at BPF_SOCK_OPS_TCP_CONNECT_CB (source port already bound), copies it to
 *      AMBIT_MAP_ORIG_DST (LRU hash) keyed by {netns cookie, client ip, client port}. The
 *      netns cookie makes the key collision-free across pods reusing the same loopback ports;
 *      a new connection from the same {netns, ip, port} overwrites the entry, and a connect to
 *      loopback:15001 that was not captured deletes it, so the ztunnel never reads a stale
 *      entry for a port reused by a direct connection.
 *   3. The ztunnel, given an accepted socket on 15001, builds the key from
 *      getsockopt(SO_NETNS_COOKIE) and getpeername() and looks it up (read-only map fd).
 *   4. cgroup/getpeername4|6 answers the app with the original peer from the socket storage.
 */
#ifndef AMBIT_ABI_H
#define AMBIT_ABI_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* Well-known ports (Istio's). */
#define AMBIT_PORT_OUTBOUND 15001 /* captured outbound connections land here */
#define AMBIT_PORT_INBOUND 15006  /* plaintext inbound steered by sk_lookup */
#define AMBIT_PORT_HBONE 15008    /* mTLS tunnel, never steered */

/* SO_MARK carried by every ztunnel socket: capture programs leave these alone. */
#define AMBIT_SOCKET_MARK 0x539

/*
 * Source-preserving inbound: the ztunnel connects to the app from the original client's IP
 * (IP_TRANSPARENT) with SO_MARK AMBIT_INBOUND_MARK, after listing the connection's 4-tuple in
 * AMBIT_MAP_IN_PENDING so sk_lookup does not steer that SYN back to 15006. Inside an enrolled
 * pod netns the agent installs
 *     ip rule  fwmark AMBIT_INBOUND_MARK lookup AMBIT_INBOUND_ROUTE_TABLE   (IPv4 and IPv6)
 *     ip route local default dev lo table AMBIT_INBOUND_ROUTE_TABLE         (IPv4 and IPv6)
 *     net.ipv4.tcp_fwmark_accept = 1
 * so the app's accepted socket inherits the mark from the SYN and its replies to the client
 * IP are delivered locally, to the ztunnel. Capture programs leave marked sockets alone.
 */
#define AMBIT_INBOUND_MARK 0x53a
#define AMBIT_INBOUND_ROUTE_TABLE 133
#define AMBIT_INBOUND_RULE_PRIORITY 32000 /* before main (32766) */

/* Loopback is ifindex 1 in every network namespace (the first device registered). */
#define AMBIT_LOOPBACK_IFINDEX 1

/* Capacity of the per-netns and per-pod configuration arrays. */
#define AMBIT_MAX_BYPASS_CIDRS 8
#define AMBIT_MAX_BYPASS_PORTS 8
#define AMBIT_MAX_PROBE_SOURCES 4

/* Map sizes. */
#define AMBIT_MAX_NETNS 4096
#define AMBIT_MAX_POD_IPS 8192
#define AMBIT_MAX_ORIG_DST 65536
#define AMBIT_MAX_IN_PENDING 16384
#define AMBIT_MAX_POD_CGROUPS 4096

/* Map names: the pin file names under <pin dir>/maps/ (LIBBPF_PIN_BY_NAME). */
#define AMBIT_MAP_NETNS "ambit_netns"
#define AMBIT_MAP_SOCK_DST "ambit_sock_dst"
#define AMBIT_MAP_ORIG_DST "ambit_orig_dst"
#define AMBIT_MAP_PODS "ambit_pods"
#define AMBIT_MAP_IN_LISTENERS "ambit_in_lsn"
#define AMBIT_MAP_STATS "ambit_stats"
#define AMBIT_MAP_IN_PENDING "ambit_in_pend"
#define AMBIT_MAP_POD_CGROUPS "ambit_pod_cg"

/*
 * Fail closed before the first connect (Kubernetes mode, DESIGN.md §9): the agent marks a mesh
 * pod's cgroup (AMBIT_MAP_POD_CGROUPS, key = cgroup id, the cgroup2 directory's inode number)
 * as soon as the kubelet has created it, before the pod's netns is enrolled. cgroup/connect4|6
 * refuse (EPERM) a TCP connect from a task in a marked cgroup, or below it down to
 * AMBIT_POD_CGROUP_MAX_LEVEL levels from the cgroup root, while the task's netns is not
 * enrolled, unless the destination is loopback (which capture would leave alone too). Never a
 * bypass: a pod in the mesh either talks through the ztunnel or not at all. The agent unmarks
 * the cgroup before it de-enrolls the pod's netns.
 */
#define AMBIT_POD_CGROUP_MAX_LEVEL 16

/*
 * Pin layout, relative to a node's pin dir (default AMBIT_PIN_ROOT/<node>):
 *   maps/<map name>             every map above
 *   links/<program name>        cgroup links: connect4, connect6, sockops, getpeername4|6
 *   pods/<pod id>/sk_lookup     the sk_lookup link of one pod's netns
 */
#define AMBIT_BPFFS_MOUNT "/sys/fs/bpf"
#define AMBIT_PIN_ROOT "/sys/fs/bpf/ambit"
#define AMBIT_PIN_MAPS_DIR "maps"
#define AMBIT_PIN_LINKS_DIR "links"
#define AMBIT_PIN_PODS_DIR "pods"
#define AMBIT_PIN_POD_SK_LOOKUP "sk_lookup"

/* Link pin names (one per cgroup attach point). */
#define AMBIT_LINK_CONNECT4 "connect4"
#define AMBIT_LINK_CONNECT6 "connect6"
#define AMBIT_LINK_SOCKOPS "sockops"
#define AMBIT_LINK_GETPEERNAME4 "getpeername4"
#define AMBIT_LINK_GETPEERNAME6 "getpeername6"

/* An IPv6 address or an IPv4-mapped IPv4 address, network byte order. */
struct ambit_ip {
	__u32 addr[4];
};

/* addr & mask == net & mask (both network byte order, IPv4 as mapped /96 + prefix). */
struct ambit_cidr {
	struct ambit_ip net;
	struct ambit_ip mask;
};

/* Value of AMBIT_MAP_NETNS, keyed by netns cookie (__u64): an enrolled pod netns. */
struct ambit_netns_config {
	__u32 flags; /* reserved, 0 */
	__u32 n_bypass_cidrs;
	__u32 n_bypass_ports;
	__u16 bypass_ports[AMBIT_MAX_BYPASS_PORTS]; /* outbound destination ports left alone */
	__u32 _pad;
	struct ambit_cidr bypass_cidrs[AMBIT_MAX_BYPASS_CIDRS]; /* destinations left alone */
};

/* The destination a captured socket asked for. */
struct ambit_orig_dst {
	struct ambit_ip ip;
	__u16 port;   /* host byte order */
	__u8 family;  /* AF_INET (also for v4-mapped on AF_INET6 sockets) or AF_INET6 */
	__u8 _pad;
};

/* Key of AMBIT_MAP_ORIG_DST: the client side of a captured connection. */
struct ambit_conn_key {
	__u64 netns_cookie;
	struct ambit_ip client_ip;
	__u16 client_port; /* host byte order */
	__u16 _pad0;
	__u32 _pad1;
};

/* Key of AMBIT_MAP_IN_PENDING: a connection the ztunnel is opening to an app, as the pod's
 * sk_lookup sees it (remote = the client IP the ztunnel bound to, local = the pod IP).
 * Value: __u32, unused (1). Entries live from just before connect() until it completes. */
struct ambit_flow_key {
	struct ambit_ip remote;
	struct ambit_ip local;
	__u16 remote_port; /* host byte order */
	__u16 local_port;  /* host byte order */
	__u32 _pad;
};

/* Value of AMBIT_MAP_PODS, keyed by struct ambit_ip (a pod IP): inbound steering config. */
struct ambit_pod_config {
	__u64 pod_tag;      /* FNV-1a 64 of the owning pod id: which entries detach removes */
	__u32 flags;        /* reserved, 0 */
	__u32 n_bypass_ports;
	__u16 bypass_ports[AMBIT_MAX_BYPASS_PORTS]; /* inbound ports served without the mesh */
	__u32 n_probe_sources;
	__u32 _pad;
	struct ambit_ip probe_sources[AMBIT_MAX_PROBE_SOURCES]; /* kubelet/node probe sources */
};

/* Value of AMBIT_MAP_POD_CGROUPS, keyed by cgroup id (__u64): a mesh pod not enrolled yet. */
struct ambit_pod_cgroup {
	__u64 refused; /* connects refused so far (atomically incremented by the programs) */
};

/* Index into AMBIT_MAP_STATS (per-CPU array of __u64 counters). */
enum ambit_stat {
	AMBIT_STAT_OUT_REDIRECTED = 0, /* connect rewritten to 15001 */
	AMBIT_STAT_OUT_PASSED,         /* connect in an enrolled netns left alone (bypass) */
	AMBIT_STAT_ORIG_DST_RECORDED,  /* sockops wrote an orig-dst entry */
	AMBIT_STAT_IN_STEERED,         /* sk_lookup assigned the 15006 listener */
	AMBIT_STAT_IN_PASSED,          /* sk_lookup for a pod IP left alone (bypass/probe) */
	AMBIT_STAT_ERRORS,             /* storage/map/assign failures (traffic passed) */
	AMBIT_STAT_MAX,
};

#endif /* AMBIT_ABI_H */
