/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Shared decide/act steps of the outbound capture programs (connect4/6, getpeername4/6). */
#ifndef AMBIT_BPF_CAPTURE_H
#define AMBIT_BPF_CAPTURE_H

#include "lib/addr.h"
#include "lib/maps.h"

/* A TCP socket that is not the ztunnel's: one the capture may act on. */
static __always_inline bool capture_candidate(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;

	if (ctx->type != SOCK_STREAM || ctx->protocol != IPPROTO_TCP)
		return false;
	return sk && sk->mark != AMBIT_SOCKET_MARK && sk->mark != AMBIT_INBOUND_MARK;
}

/* The enrolled-netns config of the socket's netns, or NULL. */
static __always_inline struct ambit_netns_config *capture_config(struct bpf_sock_addr *ctx)
{
	__u64 cookie = bpf_get_netns_cookie(ctx);

	return bpf_map_lookup_elem(&ambit_netns, &cookie);
}

/* The marked pod cgroup the current task runs in (or below), or NULL. */
static __always_inline struct ambit_pod_cgroup *pending_pod_cgroup(void)
{
	struct ambit_pod_cgroup *pod;
	__u64 id;

	for (int level = 1; level <= AMBIT_POD_CGROUP_MAX_LEVEL; level++) {
		id = bpf_get_current_ancestor_cgroup_id(level);
		if (!id)
			break; /* deeper than the task's own cgroup */
		pod = bpf_map_lookup_elem(&ambit_pod_cg, &id);
		if (pod)
			return pod;
	}
	return NULL;
}

/*
 * Fail closed: a connect from a mesh pod whose netns is not enrolled yet is refused, except to
 * loopback. Counted per pod cgroup.
 */
static __always_inline bool capture_refused(const struct ambit_orig_dst *dst)
{
	struct ambit_pod_cgroup *pod;

	if (ip_is_local_only(&dst->ip))
		return false;
	pod = pending_pod_cgroup();
	if (!pod)
		return false;
	__sync_fetch_and_add(&pod->refused, 1);
	return true;
}

static __always_inline bool capture_bypassed(const struct ambit_netns_config *cfg,
					     const struct ambit_orig_dst *dst)
{
	if (ip_is_local_only(&dst->ip))
		return true;
	if (port_in_list(cfg->bypass_ports, cfg->n_bypass_ports, dst->port))
		return true;
	for (__u32 i = 0; i < AMBIT_MAX_BYPASS_CIDRS; i++) {
		if (i >= cfg->n_bypass_cidrs)
			break;
		if (cidr_contains(&cfg->bypass_cidrs[i], &dst->ip))
			return true;
	}
	return false;
}

/* Remembers dst in the socket's storage; false when storage cannot be created. */
static __always_inline bool capture_remember(struct bpf_sock_addr *ctx,
					     const struct ambit_orig_dst *dst)
{
	struct ambit_orig_dst *slot;

	slot = bpf_sk_storage_get(&ambit_sock_dst, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!slot) {
		stat_inc(AMBIT_STAT_ERRORS);
		return false;
	}
	*slot = *dst;
	return true;
}

static __always_inline struct ambit_orig_dst *captured_dst(struct bpf_sock_addr *ctx)
{
	if (!ctx->sk)
		return NULL;
	return bpf_sk_storage_get(&ambit_sock_dst, ctx->sk, 0, 0);
}

#endif /* AMBIT_BPF_CAPTURE_H */
