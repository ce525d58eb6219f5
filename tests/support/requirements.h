#pragma once
// What a test needs from the machine, and a loud skip when it is missing (STYLE.md: a skipped
// test nobody sees is a defect). Each missing*() returns why the test cannot run here (what is
// missing and how to get it), or nullopt when the requirement holds:
//
//   void SetUp() override { AMBIT_REQUIRE(test::missingRoot("creates network namespaces")); }
//
// AMBIT_REQUIRE prints a banner naming the test and the reason on stderr (in the test's output:
// `ctest -V`, Testing/Temporary/LastTest.log) and GTEST_SKIP()s with the same reason, which
// gtest lists again in its summary.

#include <gtest/gtest.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace ambit::test {

bool runningAsRoot();

// Root, for `why` (e.g. "SO_MARK needs CAP_NET_ADMIN").
std::optional<std::string> missingRoot(std::string_view why);
// A mounted cgroup v2 hierarchy.
std::optional<std::string> missingCgroup2();
// Root and a kernel that loads the program types ambit attaches (cgroup/connect4, sk_lookup).
std::optional<std::string> missingBpf();
// An executable `program` (a path, or a name looked up in PATH); `package` is the Debian package
// that provides it, named in the message.
std::optional<std::string> missingProgram(std::string_view program, std::string_view package);
// `module` importable by Debian's /usr/bin/python3 (the python3 first on PATH may be another).
std::optional<std::string> missingPythonModule(std::string_view module, std::string_view package);
// The first of several that is missing.
std::optional<std::string> firstMissing(std::initializer_list<std::optional<std::string>> checks);

// Prints "*** <suite>.<test> SKIPPED: <reason> ***" on stderr; returns "SKIPPED LOUDLY: <reason>"
// for the skip message.
std::string announceSkip(const std::string& reason);

}  // namespace ambit::test

// Skips the current test loudly when `missing` (a std::optional<std::string>) holds a reason.
// Use in a test body or SetUp(); more context can be streamed: AMBIT_REQUIRE(x) << "...";
#define AMBIT_REQUIRE(missing)                                                        \
  if (const std::optional<std::string> ambit_missing_ = (missing); !ambit_missing_) { \
  } else                                                                              \
    GTEST_SKIP() << ::ambit::test::announceSkip(*ambit_missing_)
