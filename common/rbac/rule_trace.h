#pragma once
// How one AuthorizationPolicy rule fared in CompiledPolicySet::explain() (rbac.h).

#include <cstdint>

namespace ambit::rbac {

// explain(): how one rule of an applicable policy fared.
struct RuleTrace {
  enum class Outcome : uint8_t {
    kMatched,
    kNoMatch,
    kSkippedAtL4,  // an ALLOW/AUDIT rule using L7-only fields, which never matches at L4
  };
  enum class Clause : uint8_t { kNone, kFrom, kTo, kWhen };
  Outcome outcome = Outcome::kNoMatch;
  Clause failed = Clause::kNone;  // kNoMatch: the first clause that did not match
  uint32_t when_index = 0;        // failed == kWhen: which condition
};

}  // namespace ambit::rbac
