// The sample app's responses (sample-app/request_handler.h): the lab's pods run it, and later
// mesh tests rely on its endpoints.
#include "sample-app/request_handler.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace ambit::sample {
namespace {

http::request<http::string_body> get(const std::string& target) {
  http::request<http::string_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "10.244.1.11:8080");
  req.set("X-Test", "a");
  req.insert("X-Test", "b");
  return req;
}

TEST(SampleApp, EchoesPodVersionAndHeaders) {
  RequestHandler h({"my-app-v1", "v1"});
  Reply r = h.handle(get("/anything"), "10.244.1.10:5000");
  EXPECT_EQ(r.response.result_int(), 200);
  auto j = nlohmann::json::parse(r.response.body());
  EXPECT_EQ(j["pod"], "my-app-v1");
  EXPECT_EQ(j["version"], "v1");
  EXPECT_EQ(j["path"], "/anything");
  EXPECT_EQ(j["peer"], "10.244.1.10:5000");
  EXPECT_EQ(j["headers"]["Host"], "10.244.1.11:8080");
  EXPECT_EQ(j["headers"]["X-Test"], "a, b");
  EXPECT_TRUE(r.response.keep_alive());
}

TEST(SampleApp, StatusDelayBytes) {
  RequestHandler h({"p", "v"});
  EXPECT_EQ(h.handle(get("/status/418"), "").response.result_int(), 418);
  EXPECT_EQ(h.handle(get("/status/503"), "").response.result_int(), 503);
  EXPECT_TRUE(h.handle(get("/status/204"), "").response.body().empty());
  EXPECT_EQ(h.handle(get("/status/abc"), "").response.result_int(), 400);
  EXPECT_EQ(h.handle(get("/status/99"), "").response.result_int(), 400);
  EXPECT_EQ(h.handle(get("/delay/250"), "").delay, std::chrono::milliseconds(250));
  EXPECT_EQ(h.handle(get("/delay/9999999"), "").response.result_int(), 400);
  Reply b = h.handle(get("/bytes/1000"), "");
  EXPECT_EQ(b.response.body().size(), 1000u);
  EXPECT_EQ(b.response[http::field::content_length], "1000");
  EXPECT_EQ(h.handle(get("/bytes/999999999999"), "").response.result_int(), 400);
}

TEST(SampleApp, FlakyFailsEveryOtherRequest) {
  RequestHandler h({"p", "v"});
  std::vector<unsigned> codes;
  for (int i = 0; i < 4; ++i) codes.push_back(h.handle(get("/flaky"), "").response.result_int());
  EXPECT_EQ(codes, (std::vector<unsigned>{200, 503, 200, 503}));
}

}  // namespace
}  // namespace ambit::sample
