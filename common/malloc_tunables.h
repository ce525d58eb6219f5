#pragma once
// glibc malloc's per-thread cache, sized for a request path that frees many blocks of one size.
//
// glibc keeps up to 7 freed blocks of each size class per thread (the tcache) and serves them
// back without a lock. A proxied request frees more than that of some sizes at once (a dozen
// header fields of 80–112 bytes, coroutine frames); the rest go to the arena's bins, and the next
// request takes the slower path for them (17 of the waypoint's 57 mallocs per request did; with
// 32 per size it spends 4 % fewer instructions: BENCHMARKS.md, session 19). The count is a glibc
// tunable, read only from the GLIBC_TUNABLES environment variable at start-up, so a daemon that
// wants another one runs itself again with the variable set (same PID, arguments and environment
// otherwise) before it does anything else. An operator's own setting of the tunable always wins;
// another C library ignores the variable.

#include <optional>
#include <string>
#include <string_view>

namespace ambit {

// The value for GLIBC_TUNABLES: `current` (may be null) with `name`=`value` appended, or nullopt
// when `current` already sets `name`.
std::optional<std::string> withTunable(const char* current, std::string_view name,
                                       std::string_view value);

// Re-executes this program with glibc.malloc.tcache_count=`count` unless GLIBC_TUNABLES sets it
// already; call first thing in main(). Returns without re-executing when the tunable is set, the
// process runs with secure-execution (glibc drops tunables there), or it is this program's
// second start; and, with a warning on stderr, when the program's file cannot be named for the
// exec (no /proc, replaced on disk, started through the dynamic loader `ld.so PROGRAM`, whose
// options a plain exec would lose) or the exec fails. It then goes on with glibc's default.
void ensureMallocTcacheCount(char** argv, unsigned count);

}  // namespace ambit
