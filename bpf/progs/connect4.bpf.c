// SPDX-License-Identifier: GPL-2.0-only
/* cgroup/connect4: capture outbound TCP of enrolled pods to 127.0.0.1:15001; refuse it from
 * mesh pods not enrolled yet (fail closed, see AMBIT_MAP_POD_CGROUPS). */
#include "lib/capture.h"

SEC("cgroup/connect4")
int ambit_connect4(struct bpf_sock_addr *ctx)
{
	struct ambit_netns_config *cfg;
	struct ambit_orig_dst dst = {};

	if (!capture_candidate(ctx))
		return AMBIT_CG_ALLOW;

	ip_from_v4(&dst.ip, ctx->user_ip4);
	dst.port = bpf_ntohs((__u16)ctx->user_port);
	dst.family = AF_INET;

	cfg = capture_config(ctx);
	if (!cfg)
		return capture_refused(&dst) ? AMBIT_CG_REFUSE : AMBIT_CG_ALLOW;

	if (capture_bypassed(cfg, &dst)) {
		stat_inc(AMBIT_STAT_OUT_PASSED);
		return AMBIT_CG_ALLOW;
	}
	if (!capture_remember(ctx, &dst))
		return AMBIT_CG_ALLOW;

	ctx->user_ip4 = bpf_htonl(0x7f000001);
	ctx->user_port = bpf_htons(AMBIT_PORT_OUTBOUND);
	stat_inc(AMBIT_STAT_OUT_REDIRECTED);
	return AMBIT_CG_ALLOW;
}

char LICENSE[] SEC("license") = "GPL";
