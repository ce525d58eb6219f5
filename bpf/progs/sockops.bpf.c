// SPDX-License-Identifier: GPL-2.0-only
/*
 * sockops: when a captured socket connects (source port bound), publish its original
 * destination keyed by {netns cookie, client ip, client port} for the ztunnel. A direct,
 * uncaptured connect to 15001 removes any stale entry for the same key.
 */
#include "lib/addr.h"
#include "lib/maps.h"

/* ctx fields are read with CTX_READ: see lib/common.h. */
static __always_inline void conn_key_fill(struct ambit_conn_key *key, struct bpf_sock_ops *skops)
{
	struct ambit_ip remote, local6;
	__u32 family = CTX_READ(skops->family);
	__u32 local4 = CTX_READ(skops->local_ip4);
	__u32 v6[4];

	v6[0] = CTX_READ(skops->remote_ip6[0]);
	v6[1] = CTX_READ(skops->remote_ip6[1]);
	v6[2] = CTX_READ(skops->remote_ip6[2]);
	v6[3] = CTX_READ(skops->remote_ip6[3]);
	ip_from_v6(&remote, v6);
	v6[0] = CTX_READ(skops->local_ip6[0]);
	v6[1] = CTX_READ(skops->local_ip6[1]);
	v6[2] = CTX_READ(skops->local_ip6[2]);
	v6[3] = CTX_READ(skops->local_ip6[3]);
	ip_from_v6(&local6, v6);

	key->netns_cookie = bpf_get_netns_cookie(skops);
	key->client_port = (__u16)skops->local_port;
	/* For v4-mapped sockets the v6 source is only filled in after the v4 connect. */
	if (family == AF_INET || ip_is_v4mapped(&remote))
		ip_from_v4(&key->client_ip, local4);
	else
		key->client_ip = local6;
}

SEC("sockops")
int ambit_sockops(struct bpf_sock_ops *skops)
{
	struct ambit_conn_key key = {};
	struct ambit_orig_dst *dst;
	struct bpf_sock *sk;

	if (skops->op != BPF_SOCK_OPS_TCP_CONNECT_CB)
		return AMBIT_SOCKOPS_OK;
	sk = skops->sk;
	if (!sk)
		return AMBIT_SOCKOPS_OK;

	dst = bpf_sk_storage_get(&ambit_sock_dst, sk, 0, 0);
	if (!dst && bpf_ntohl(skops->remote_port) != AMBIT_PORT_OUTBOUND)
		return AMBIT_SOCKOPS_OK;

	conn_key_fill(&key, skops);
	if (!dst) {
		bpf_map_delete_elem(&ambit_orig_dst, &key);
		return AMBIT_SOCKOPS_OK;
	}
	if (bpf_map_update_elem(&ambit_orig_dst, &key, dst, BPF_ANY) != 0) {
		stat_inc(AMBIT_STAT_ERRORS);
		return AMBIT_SOCKOPS_OK;
	}
	stat_inc(AMBIT_STAT_ORIG_DST_RECORDED);
	return AMBIT_SOCKOPS_OK;
}

char LICENSE[] SEC("license") = "GPL";
