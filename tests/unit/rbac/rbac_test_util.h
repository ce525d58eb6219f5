#pragma once
// Shared helpers for the rbac tests: policies written in protobuf text format, one request.

#include <gmock/gmock.h>
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <string>

#include "common/rbac/rbac.h"

namespace ambit::rbac::testing {

template <typename T>
T parseProto(const std::string& text) {
  T out;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &out)) << text;
  return out;
}

inline v1::AuthorizationPolicy authz(const std::string& text) {
  return parseProto<v1::AuthorizationPolicy>(text);
}

inline std::shared_ptr<const CompiledPolicySet> compileOk(
    const std::vector<v1::AuthorizationPolicy>& policies,
    const std::vector<v1::PeerAuthentication>& peer = {}) {
  auto set = compile(policies, peer, "istio-system");
  EXPECT_TRUE(set.isOk()) << set.error().message;
  return set.isOk() ? *set : nullptr;
}

// A typical request from client/app to 10.0.1.5:8080 with every L7 attribute filled.
struct Request {
  HeaderList headers{{"X-User", "alice"}, {"x-env", "prod"}};
  Claims claims{{"aud", {"aud1", "aud2"}},
                {"azp", {"presenter1"}},
                {"groups", {"g1", "g2"}},
                {nestedClaimKey({"nested", "key"}), {"deep"}}};
  Attributes attrs;

  Request() {
    attrs.source_ip = *IpAddress::parse("10.0.0.1");
    attrs.destination_ip = *IpAddress::parse("10.0.1.5");
    attrs.destination_port = 8080;
    attrs.source_principal = "spiffe://cluster.local/ns/client/sa/app";
    attrs.method = "GET";
    attrs.path = "/api/v1/items?x=1";
    attrs.host = "Svc.Foo.svc.cluster.local:8080";
    attrs.sni = "svc.foo";
    attrs.request_principal = "https://issuer/user1";
    attrs.headers = &headers;
    attrs.claims = &claims;
  }
  Request(const Request&) = delete;
};

}  // namespace ambit::rbac::testing
