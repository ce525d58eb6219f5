/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every map of the capture data path, in one place. Each program object includes this file;
 * LIBBPF_PIN_BY_NAME makes all skeletons opened with the same pin_root_path share one
 * instance of each map (<pin dir>/maps/<name>). Key/value types come from ambit/abi.h.
 */
#ifndef AMBIT_BPF_MAPS_H
#define AMBIT_BPF_MAPS_H

#include "lib/common.h"

/* netns cookie -> config: which pod netns are enrolled (written by the agent). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMBIT_MAX_NETNS);
	__type(key, __u64);
	__type(value, struct ambit_netns_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ambit_netns SEC(".maps");

/* socket local storage: original destination of a captured socket (connect -> sockops,
 * getpeername). Freed by the kernel together with the socket. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ambit_orig_dst);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ambit_sock_dst SEC(".maps");

/* {netns cookie, client ip, client port} -> original destination (read by the ztunnel). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, AMBIT_MAX_ORIG_DST);
	__type(key, struct ambit_conn_key);
	__type(value, struct ambit_orig_dst);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ambit_orig_dst SEC(".maps");

/* pod IP -> inbound config (sk_lookup cannot read the netns cookie, so key by IP). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMBIT_MAX_POD_IPS);
	__type(key, struct ambit_ip);
	__type(value, struct ambit_pod_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ambit_pods SEC(".maps");

/* pod IP -> the ztunnel's 15006 listener inside that pod's netns. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, AMBIT_MAX_POD_IPS);
	__type(key, struct ambit_ip);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ambit_in_lsn SEC(".maps");

/* Connections the ztunnel is opening to an app from the client's IP: sk_lookup passes them. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, AMBIT_MAX_IN_PENDING);
	__type(key, struct ambit_flow_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ambit_in_pend SEC(".maps");

/* cgroup id -> refusal count: mesh pods whose netns is not enrolled yet (fail closed). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMBIT_MAX_POD_CGROUPS);
	__type(key, __u64);
	__type(value, struct ambit_pod_cgroup);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ambit_pod_cg SEC(".maps");

/* enum ambit_stat -> counter. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, AMBIT_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ambit_stats SEC(".maps");

static __always_inline void stat_inc(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&ambit_stats, &stat);

	if (v)
		*v += 1;
}

#endif /* AMBIT_BPF_MAPS_H */
