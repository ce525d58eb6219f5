#include "common/admin/istio_labels.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace ambit::admin {
namespace {

v1::Workload pod(const std::string& name, const std::map<std::string, std::string>& labels) {
  v1::Workload w;
  w.set_name(name);
  w.set_namespace_("demo");
  w.mutable_labels()->insert(labels.begin(), labels.end());
  return w;
}

TEST(WorkloadNameTest, NamesTheControllerOfAPodAsIstioDoes) {
  EXPECT_EQ(workloadName(pod("my-app-v1-77c8c96544-l8bbx",
                             {{"pod-template-hash", "77c8c96544"}, {"app", "my-app"}})),
            "my-app-v1");
  EXPECT_EQ(workloadName(pod("db-2", {{"statefulset.kubernetes.io/pod-name", "db-2"},
                                      {"controller-revision-hash", "db-5d4f"}})),
            "db");
  EXPECT_EQ(workloadName(pod("ambit-node-x7k2p", {{"controller-revision-hash", "6b9f"},
                                                  {"pod-template-generation", "1"}})),
            "ambit-node");
  EXPECT_EQ(workloadName(pod("migrate-4xq9z", {{"batch.kubernetes.io/job-name", "migrate"},
                                               {"job-name", "migrate"}})),
            "migrate");
}

TEST(WorkloadNameTest, ABarePodOrALabPodKeepsItsName) {
  EXPECT_EQ(workloadName(pod("client", {})), "client");
  EXPECT_EQ(workloadName(pod("my-app-v1", {{"app", "my-app"}, {"version", "v1"}})), "my-app-v1");
  // A pod-template-hash that is not in the name (a pod created by hand with copied labels).
  EXPECT_EQ(workloadName(pod("copy-abc12", {{"pod-template-hash", "77c8c96544"}})), "copy-abc12");
  EXPECT_EQ(workloadName(pod("solo", {{"statefulset.kubernetes.io/pod-name", "other-0"}})), "solo");
}

TEST(WorkloadNameTest, TheMetricLabelsCarryTheWorkloadNotThePod) {
  prometheus::Labels labels;
  const auto w = pod("waypoint-5854fc8bf9-mpz4n", {{"pod-template-hash", "5854fc8bf9"}});
  addWorkloadLabels(labels, "destination", &w);
  EXPECT_EQ(labels["destination_workload"], "waypoint");
  EXPECT_EQ(labels["destination_workload_namespace"], "demo");
  addWorkloadLabels(labels, "source", nullptr);
  EXPECT_EQ(labels["source_workload"], "unknown");
}

}  // namespace
}  // namespace ambit::admin
