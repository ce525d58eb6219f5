// SPDX-License-Identifier: GPL-2.0-only
/* cgroup/getpeername6: a captured socket reports the peer the app asked for (v4-mapped kept). */
#include "lib/capture.h"

SEC("cgroup/getpeername6")
int ambit_getpeername6(struct bpf_sock_addr *ctx)
{
	struct ambit_orig_dst *dst = captured_dst(ctx);

	if (!dst)
		return AMBIT_CG_ALLOW;
	ctx->user_ip6[0] = dst->ip.addr[0];
	ctx->user_ip6[1] = dst->ip.addr[1];
	ctx->user_ip6[2] = dst->ip.addr[2];
	ctx->user_ip6[3] = dst->ip.addr[3];
	ctx->user_port = bpf_htons(dst->port);
	return AMBIT_CG_ALLOW;
}

char LICENSE[] SEC("license") = "GPL";
