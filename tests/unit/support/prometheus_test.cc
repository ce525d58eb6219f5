#include "tests/support/prometheus.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cmath>

namespace ambit::test {
namespace {

constexpr char kText[] = R"(# HELP istio_tcp_connections_opened_total opened
# TYPE istio_tcp_connections_opened_total counter
istio_tcp_connections_opened_total{reporter="source",destination_workload="my-app-v1"} 3
istio_tcp_connections_opened_total{reporter="destination",destination_workload="my-app-v1"} 2
istio_tcp_connections_opened_total{reporter="destination",destination_workload="my-app-v2",} 5 1700000000000

ambit_agent_enrolled_pods 2
ambit_agent_bpf_map_entries{map="ambit_netns"} 4
odd{path="a \"quoted\" \\ value\nnext"} -1.5e3
histogram_bucket{le="+Inf"} +Inf
)";

TEST(PrometheusText, ParsesEverySampleWithLabelsUnescaped) {
  auto text = PrometheusText::parse(kText);
  ASSERT_TRUE(text) << text.error().message;
  ASSERT_EQ(text->samples().size(), 7u);
  EXPECT_EQ(text->samples()[2].labels.at("destination_workload"), "my-app-v2");
  EXPECT_EQ(text->samples()[5].labels.at("path"), "a \"quoted\" \\ value\nnext");
  EXPECT_EQ(text->samples()[5].value, -1500);
  EXPECT_TRUE(std::isinf(text->samples()[6].value));
}

TEST(PrometheusText, SumsTheSeriesThatCarryTheLabels) {
  auto text = PrometheusText::parse(kText);
  ASSERT_TRUE(text);
  EXPECT_EQ(text->sum("istio_tcp_connections_opened_total"), 10);
  EXPECT_EQ(text->sum("istio_tcp_connections_opened_total", {{"reporter", "destination"}}), 7);
  EXPECT_EQ(text->sum("istio_tcp_connections_opened_total",
                      {{"reporter", "destination"}, {"destination_workload", "my-app-v1"}}),
            2);
  EXPECT_EQ(text->sum("istio_tcp_connections_opened_total", {{"reporter", "nobody"}}), 0);
  EXPECT_EQ(text->sum("istio_tcp_connections_opened"), 0) << "a prefix is another metric";
}

TEST(PrometheusText, ValueNeedsTheExactLabelSet) {
  auto text = PrometheusText::parse(kText);
  ASSERT_TRUE(text);
  EXPECT_EQ(text->value("ambit_agent_enrolled_pods"), 2);
  EXPECT_EQ(text->value("ambit_agent_bpf_map_entries", {{"map", "ambit_netns"}}), 4);
  EXPECT_EQ(text->value("ambit_agent_bpf_map_entries"), std::nullopt);
  EXPECT_EQ(text->value("istio_tcp_connections_opened_total", {{"reporter", "source"}}),
            std::nullopt);
  EXPECT_EQ(text->value("absent"), std::nullopt);
}

TEST(PrometheusText, MalformedLinesAreErrorsNamingTheLine) {
  for (const char* bad :
       {"metric{a=\"1\" 2\n", "metric{a=1} 2\n", "metric two\n", "{a=\"1\"} 2\n",
        "metric{a=\"1\",a=\"2\"} 1\n", "metric 1 2 3\n", "metric{a=\"x\\q\"} 1\n"}) {
    auto text = PrometheusText::parse(std::string("ok 1\n") + bad);
    ASSERT_FALSE(text) << bad;
    EXPECT_NE(text.error().message.find("line 2"), std::string::npos) << text.error().message;
  }
}

TEST(PrometheusText, ShorthandsFailTheTestOnGarbageAndSeeNothingInAnEmptyBody) {
  EXPECT_NONFATAL_FAILURE(metricSum("<html>502</html>", "x"), "metrics do not parse");
  EXPECT_EQ(metricSum("", "x"), 0);
  EXPECT_EQ(metricValue("", "x"), std::nullopt);
  EXPECT_EQ(metricSum(kText, "istio_tcp_connections_opened_total",
                      {{"destination_workload", "my-app-v1"}}),
            5);
  EXPECT_EQ(metricValue(kText, "ambit_agent_enrolled_pods"), 2);
}

}  // namespace
}  // namespace ambit::test
