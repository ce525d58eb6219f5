// SPDX-License-Identifier: GPL-2.0-only
/*
 * sk_lookup (one link per pod netns): steer plaintext TCP arriving from the network for a pod
 * IP to the ztunnel's 15006 listener for that pod. Loopback traffic, HBONE (15008), the pod's
 * bypass ports, the node's probe sources and the ztunnel's own source-preserving connects to
 * the app (AMBIT_MAP_IN_PENDING) are left to the normal socket lookup.
 *
 * Local traffic: ingress_ifindex is 1 only for loopback addresses. A pod connecting to its own
 * pod IP also travels over lo, but the kernel reports the device owning the address (the route
 * lookup's orig_oif), so such connections are recognised by their source: a loopback address
 * or an IP of the same pod (same pod_tag).
 */
#include "lib/addr.h"
#include "lib/maps.h"

/* ctx fields are read with CTX_READ: see lib/common.h. */
static __always_inline void sk_lookup_ips(const struct bpf_sk_lookup *ctx,
					  struct ambit_ip *local, struct ambit_ip *remote)
{
	__u32 family = CTX_READ(ctx->family);
	__u32 local4 = CTX_READ(ctx->local_ip4);
	__u32 remote4 = CTX_READ(ctx->remote_ip4);
	__u32 l6[4], r6[4];

	l6[0] = CTX_READ(ctx->local_ip6[0]);
	l6[1] = CTX_READ(ctx->local_ip6[1]);
	l6[2] = CTX_READ(ctx->local_ip6[2]);
	l6[3] = CTX_READ(ctx->local_ip6[3]);
	r6[0] = CTX_READ(ctx->remote_ip6[0]);
	r6[1] = CTX_READ(ctx->remote_ip6[1]);
	r6[2] = CTX_READ(ctx->remote_ip6[2]);
	r6[3] = CTX_READ(ctx->remote_ip6[3]);
	if (family == AF_INET) {
		ip_from_v4(local, local4);
		ip_from_v4(remote, remote4);
	} else {
		ip_from_v6(local, l6);
		ip_from_v6(remote, r6);
	}
}

static __always_inline bool sk_lookup_from_pod_itself(const struct ambit_pod_config *cfg,
						      const struct ambit_ip *remote)
{
	struct ambit_pod_config *src;

	if (ip_is_local_only(remote))
		return true;
	src = bpf_map_lookup_elem(&ambit_pods, remote);
	return src && src->pod_tag == cfg->pod_tag;
}

/* The ztunnel's own source-preserving connect to the app (AMBIT_MAP_IN_PENDING). */
static __always_inline bool sk_lookup_from_ztunnel(const struct ambit_ip *local,
						   const struct ambit_ip *remote, __u16 local_port,
						   __u16 remote_port)
{
	struct ambit_flow_key key = {};

	key.remote = *remote;
	key.local = *local;
	key.remote_port = remote_port;
	key.local_port = local_port;
	return bpf_map_lookup_elem(&ambit_in_pend, &key) != NULL;
}

static __always_inline bool sk_lookup_bypassed(const struct ambit_pod_config *cfg,
					       const struct ambit_ip *remote, __u16 port)
{
	if (port == AMBIT_PORT_HBONE)
		return true;
	if (sk_lookup_from_pod_itself(cfg, remote))
		return true;
	if (port_in_list(cfg->bypass_ports, cfg->n_bypass_ports, port))
		return true;
	for (__u32 i = 0; i < AMBIT_MAX_PROBE_SOURCES; i++) {
		if (i >= cfg->n_probe_sources)
			break;
		if (ip_equal(&cfg->probe_sources[i], remote))
			return true;
	}
	return false;
}

SEC("sk_lookup")
int ambit_sk_lookup(struct bpf_sk_lookup *ctx)
{
	struct ambit_ip local = {}, remote = {};
	struct ambit_pod_config *cfg;
	struct bpf_sock *sk;
	long err;

	if (ctx->protocol != IPPROTO_TCP || ctx->ingress_ifindex == AMBIT_LOOPBACK_IFINDEX)
		return SK_PASS;
	sk_lookup_ips(ctx, &local, &remote);
	cfg = bpf_map_lookup_elem(&ambit_pods, &local);
	if (!cfg)
		return SK_PASS;

	if (sk_lookup_bypassed(cfg, &remote, (__u16)ctx->local_port) ||
	    sk_lookup_from_ztunnel(&local, &remote, (__u16)ctx->local_port,
				   bpf_ntohs((__u16)ctx->remote_port))) {
		stat_inc(AMBIT_STAT_IN_PASSED);
		return SK_PASS;
	}
	sk = bpf_map_lookup_elem(&ambit_in_lsn, &local);
	if (!sk) {
		stat_inc(AMBIT_STAT_ERRORS);
		return SK_PASS;
	}
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	stat_inc(err ? AMBIT_STAT_ERRORS : AMBIT_STAT_IN_STEERED);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
