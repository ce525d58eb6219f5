/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Address helpers over struct ambit_ip (IPv4 in its v4-mapped form, network byte order). */
#ifndef AMBIT_BPF_ADDR_H
#define AMBIT_BPF_ADDR_H

#include "lib/common.h"

static __always_inline void ip_from_v4(struct ambit_ip *ip, __u32 v4)
{
	ip->addr[0] = 0;
	ip->addr[1] = 0;
	ip->addr[2] = bpf_htonl(0x0000ffff);
	ip->addr[3] = v4;
}

static __always_inline void ip_from_v6(struct ambit_ip *ip, const __u32 *v6)
{
	ip->addr[0] = v6[0];
	ip->addr[1] = v6[1];
	ip->addr[2] = v6[2];
	ip->addr[3] = v6[3];
}

static __always_inline bool ip_is_v4mapped(const struct ambit_ip *ip)
{
	return ip->addr[0] == 0 && ip->addr[1] == 0 && ip->addr[2] == bpf_htonl(0x0000ffff);
}

static __always_inline bool ip_equal(const struct ambit_ip *a, const struct ambit_ip *b)
{
	return a->addr[0] == b->addr[0] && a->addr[1] == b->addr[1] &&
	       a->addr[2] == b->addr[2] && a->addr[3] == b->addr[3];
}

/* 127.0.0.0/8, 0.0.0.0, ::1, :: and their v4-mapped forms: always local, never captured. */
static __always_inline bool ip_is_local_only(const struct ambit_ip *ip)
{
	if (ip_is_v4mapped(ip)) {
		__u32 v4 = bpf_ntohl(ip->addr[3]);

		return (v4 >> 24) == 127 || v4 == 0;
	}
	return ip->addr[0] == 0 && ip->addr[1] == 0 && ip->addr[2] == 0 &&
	       (ip->addr[3] == 0 || ip->addr[3] == bpf_htonl(1));
}

static __always_inline bool cidr_contains(const struct ambit_cidr *c, const struct ambit_ip *ip)
{
	return ((ip->addr[0] ^ c->net.addr[0]) & c->mask.addr[0]) == 0 &&
	       ((ip->addr[1] ^ c->net.addr[1]) & c->mask.addr[1]) == 0 &&
	       ((ip->addr[2] ^ c->net.addr[2]) & c->mask.addr[2]) == 0 &&
	       ((ip->addr[3] ^ c->net.addr[3]) & c->mask.addr[3]) == 0;
}

static __always_inline bool port_in_list(const __u16 *ports, __u32 n, __u16 port)
{
	for (__u32 i = 0; i < AMBIT_MAX_BYPASS_PORTS; i++) {
		if (i >= n)
			break;
		if (ports[i] == port)
			return true;
	}
	return false;
}

#endif /* AMBIT_BPF_ADDR_H */
