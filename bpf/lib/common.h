/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Includes every BPF program needs, plus the few UAPI macros vmlinux.h cannot carry. */
#ifndef AMBIT_BPF_COMMON_H
#define AMBIT_BPF_COMMON_H

#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "ambit/abi.h"

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1

/*
 * A context field read that stays a fixed-offset load. When a branch picks between two ctx
 * fields (ip4 vs ip6) clang otherwise computes a ctx pointer, which the verifier rejects
 * ("dereference of modified ctx ptr").
 */
#define CTX_READ(field) (*(volatile typeof(field) *)&(field))

/* cgroup sock_addr programs: 1 = allow the syscall (possibly rewritten). */
#define AMBIT_CG_ALLOW 1
/* cgroup sock_addr programs: 0 = refuse the syscall (connect() fails with EPERM). */
#define AMBIT_CG_REFUSE 0
/* sockops: the return value is ignored by the kernel for the callbacks ambit uses. */
#define AMBIT_SOCKOPS_OK 1

#endif /* AMBIT_BPF_COMMON_H */
