// SPDX-License-Identifier: GPL-2.0-only
/*
 * cgroup/connect6: capture outbound TCP of enrolled pods to [::1]:15001. A v4-mapped
 * destination on a dual-stack socket goes to ::ffff:127.0.0.1:15001 instead (it travels as
 * IPv4, and ::1 would not be reachable from a v4-mapped flow). Refused from mesh pods not
 * enrolled yet (fail closed, see AMBIT_MAP_POD_CGROUPS).
 */
#include "lib/capture.h"

SEC("cgroup/connect6")
int ambit_connect6(struct bpf_sock_addr *ctx)
{
	struct ambit_netns_config *cfg;
	struct ambit_orig_dst dst = {};
	__u32 v6[4];
	bool mapped;

	if (!capture_candidate(ctx))
		return AMBIT_CG_ALLOW;

	v6[0] = ctx->user_ip6[0];
	v6[1] = ctx->user_ip6[1];
	v6[2] = ctx->user_ip6[2];
	v6[3] = ctx->user_ip6[3];
	ip_from_v6(&dst.ip, v6);
	dst.port = bpf_ntohs((__u16)ctx->user_port);
	mapped = ip_is_v4mapped(&dst.ip);
	dst.family = mapped ? AF_INET : AF_INET6;

	cfg = capture_config(ctx);
	if (!cfg)
		return capture_refused(&dst) ? AMBIT_CG_REFUSE : AMBIT_CG_ALLOW;

	if (capture_bypassed(cfg, &dst)) {
		stat_inc(AMBIT_STAT_OUT_PASSED);
		return AMBIT_CG_ALLOW;
	}
	if (!capture_remember(ctx, &dst))
		return AMBIT_CG_ALLOW;

	ctx->user_ip6[0] = 0;
	ctx->user_ip6[1] = 0;
	if (mapped) {
		ctx->user_ip6[2] = bpf_htonl(0x0000ffff);
		ctx->user_ip6[3] = bpf_htonl(0x7f000001);
	} else {
		ctx->user_ip6[2] = 0;
		ctx->user_ip6[3] = bpf_htonl(1);
	}
	ctx->user_port = bpf_htons(AMBIT_PORT_OUTBOUND);
	stat_inc(AMBIT_STAT_OUT_REDIRECTED);
	return AMBIT_CG_ALLOW;
}

char LICENSE[] SEC("license") = "GPL";
