// SPDX-License-Identifier: GPL-2.0-only
/* cgroup/getpeername4: a captured socket reports the peer the app asked for. */
#include "lib/capture.h"

SEC("cgroup/getpeername4")
int ambit_getpeername4(struct bpf_sock_addr *ctx)
{
	struct ambit_orig_dst *dst = captured_dst(ctx);

	if (!dst || dst->family != AF_INET)
		return AMBIT_CG_ALLOW;
	ctx->user_ip4 = dst->ip.addr[3];
	ctx->user_port = bpf_htons(dst->port);
	return AMBIT_CG_ALLOW;
}

char LICENSE[] SEC("license") = "GPL";
