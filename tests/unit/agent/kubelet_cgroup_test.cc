// Where the kubelet puts a pod's cgroup: the names of both drivers for the three QoS classes
// (pkg/kubelet/cm's layout), and the lookup over a fake cgroup2 tree in a temp dir: driver
// auto-detection, an unknown QoS class, "not created yet", and bad uids and roots; the parents
// pod cgroups appear in, and PodCgroupWatch noticing a pod cgroup the moment it is created
// (inotify works on the temp dir as on cgroupfs).
#include "agent/kubelet_cgroup.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <functional>

#include "agent/pod_cgroup_watch.h"
#include "tests/support/temp_dir.h"

namespace ambit::agent {
namespace {

const std::string kUid = "6b1f7a3c-5d2e-4f60-9a8b-0c1d2e3f4a5b";
const std::string kEscaped = "6b1f7a3c_5d2e_4f60_9a8b_0c1d2e3f4a5b";

TEST(PodCgroupPath, CgroupfsDriver) {
  EXPECT_EQ(*podCgroupPath(CgroupDriver::kCgroupfs, QosClass::kGuaranteed, kUid),
            "kubepods/pod" + kUid);
  EXPECT_EQ(*podCgroupPath(CgroupDriver::kCgroupfs, QosClass::kBurstable, kUid),
            "kubepods/burstable/pod" + kUid);
  EXPECT_EQ(*podCgroupPath(CgroupDriver::kCgroupfs, QosClass::kBestEffort, kUid),
            "kubepods/besteffort/pod" + kUid);
}

TEST(PodCgroupPath, SystemdDriverEscapesDashesAndNestsSlices) {
  EXPECT_EQ(*podCgroupPath(CgroupDriver::kSystemd, QosClass::kGuaranteed, kUid),
            "kubepods.slice/kubepods-pod" + kEscaped + ".slice");
  EXPECT_EQ(*podCgroupPath(CgroupDriver::kSystemd, QosClass::kBurstable, kUid),
            "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kEscaped + ".slice");
  EXPECT_EQ(
      *podCgroupPath(CgroupDriver::kSystemd, QosClass::kBestEffort, kUid),
      "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kEscaped + ".slice");
}

TEST(PodCgroupPath, RejectsWhatIsNotAKubernetesUid) {
  for (const std::string& bad : std::vector<std::string>{"", "../../etc", "a/b", "x.slice",
                                                         std::string(65, 'a'), "pod uid"}) {
    auto p = podCgroupPath(CgroupDriver::kCgroupfs, QosClass::kBurstable, bad);
    ASSERT_FALSE(p) << bad;
    EXPECT_NE(p.error().message.find("not a Kubernetes UID"), std::string::npos);
  }
  EXPECT_FALSE(podCgroupPath(CgroupDriver::kCgroupfs, QosClass::kUnknown, kUid));
  EXPECT_FALSE(podCgroupPath(CgroupDriver::kAuto, QosClass::kBurstable, kUid));
}

TEST(ParseQosClass, KnownClassesEmptyAndBad) {
  EXPECT_EQ(*parseQosClass("Guaranteed"), QosClass::kGuaranteed);
  EXPECT_EQ(*parseQosClass("Burstable"), QosClass::kBurstable);
  EXPECT_EQ(*parseQosClass("BestEffort"), QosClass::kBestEffort);
  EXPECT_EQ(*parseQosClass(""), QosClass::kUnknown);
  auto bad = parseQosClass("burstable");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("expected Guaranteed, Burstable or BestEffort"),
            std::string::npos);
  EXPECT_EQ(*parseCgroupDriver("systemd"), CgroupDriver::kSystemd);
  EXPECT_EQ(*parseCgroupDriver("cgroupfs"), CgroupDriver::kCgroupfs);
  EXPECT_FALSE(parseCgroupDriver("docker"));
}

// A fake cgroup2 mount: directories with a cgroup.procs file, as the kernel shows them.
class KubeletCgroupsTest : public ::testing::Test {
 protected:
  // Creates <mount>/<rel> and its parents, each with the cgroup.procs every cgroup has.
  void mkcg(const std::string& rel) {
    std::filesystem::path p;
    for (const auto& part : std::filesystem::path(rel)) {
      p /= part;
      std::filesystem::create_directories(dir_.path() / p);
      dir_.write((p / "cgroup.procs").string(), "");
    }
  }
  KubeletCgroups make(CgroupDriver driver = CgroupDriver::kAuto, std::string root = "/") {
    auto k = KubeletCgroups::create({dir_.path().string(), root, driver});
    if (!k) throw std::runtime_error(k.error().message);
    return *k;
  }
  std::string abs(const std::string& rel) { return (dir_.path() / rel).string(); }

  test::TempDir dir_{"ambit-kubelet-cgroup"};
};

TEST_F(KubeletCgroupsTest, FindsCgroupfsPodsOfEveryQosClass) {
  mkcg(".");
  mkcg("kubepods/burstable/pod" + kUid + "/ctr1");
  mkcg("kubepods/besteffort");
  auto k = make();
  EXPECT_EQ(k.drivers(), std::vector<CgroupDriver>{CgroupDriver::kCgroupfs});
  EXPECT_EQ(*k.locate(kUid, QosClass::kBurstable), abs("kubepods/burstable/pod" + kUid));
  EXPECT_EQ(*k.locate(kUid, QosClass::kUnknown), abs("kubepods/burstable/pod" + kUid))
      << "an unknown QoS class tries all three";
  auto wrong_class = k.locate(kUid, QosClass::kBestEffort);
  ASSERT_TRUE(wrong_class);
  EXPECT_FALSE(*wrong_class);
  mkcg("kubepods/pod" + kUid);
  EXPECT_EQ(*k.locate(kUid, QosClass::kGuaranteed), abs("kubepods/pod" + kUid));
}

TEST_F(KubeletCgroupsTest, FindsSystemdPodsBelowAKubeletRoot) {
  mkcg(".");
  mkcg("k8s.slice/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kEscaped +
       ".slice");
  auto k = make(CgroupDriver::kAuto, "/k8s.slice");
  EXPECT_EQ(k.root(), abs("k8s.slice"));
  EXPECT_EQ(k.drivers(), std::vector<CgroupDriver>{CgroupDriver::kSystemd});
  EXPECT_EQ(*k.locate(kUid, QosClass::kBestEffort),
            abs("k8s.slice/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" +
                kEscaped + ".slice"));
  auto cgroupfs_only = make(CgroupDriver::kCgroupfs, "/k8s.slice");
  EXPECT_FALSE(*cgroupfs_only.locate(kUid, QosClass::kBestEffort))
      << "a driver set by flag is the only one searched";
}

TEST_F(KubeletCgroupsTest, NotCreatedYetIsNotAnError) {
  mkcg(".");
  auto k = make();
  EXPECT_TRUE(k.drivers().empty()) << "no kubelet layout yet";
  auto before = k.locate(kUid, QosClass::kBurstable);
  ASSERT_TRUE(before) << before.error().message;
  EXPECT_FALSE(*before);
  mkcg("kubepods/burstable");  // the kubelet starts ...
  EXPECT_FALSE(*k.locate(kUid, QosClass::kBurstable));
  mkcg("kubepods/burstable/pod" + kUid);  // ... and creates the pod's cgroup
  EXPECT_TRUE(*k.locate(kUid, QosClass::kBurstable));
}

TEST_F(KubeletCgroupsTest, BadUidIsAnErrorEvenBeforeTheKubeletRuns) {
  mkcg(".");
  auto k = make();
  auto r = k.locate("../../../etc", QosClass::kBurstable);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not a Kubernetes UID"), std::string::npos);
}

TEST_F(KubeletCgroupsTest, RootMustBeACgroupInsideTheMount) {
  mkcg(".");
  auto escape = KubeletCgroups::create({dir_.path().string(), "/../x", CgroupDriver::kAuto});
  ASSERT_FALSE(escape);
  EXPECT_NE(escape.error().message.find("must not leave the cgroup2 hierarchy"), std::string::npos);
  std::filesystem::create_directories(dir_.path() / "plain");
  auto plain = KubeletCgroups::create({dir_.path().string(), "plain", CgroupDriver::kAuto});
  ASSERT_FALSE(plain);
  EXPECT_NE(plain.error().message.find("not a cgroup v2 directory"), std::string::npos);
}

TEST_F(KubeletCgroupsTest, PodParentDirsAreTheRootAndTheQosCgroupsThatExist) {
  mkcg(".");
  auto k = make();
  EXPECT_EQ(k.podParentDirs(), std::vector<std::string>{k.root()});
  mkcg("kubepods/besteffort");
  EXPECT_EQ(k.podParentDirs(),
            (std::vector<std::string>{k.root(), abs("kubepods"), abs("kubepods/besteffort")}));
  mkcg("kubepods.slice/kubepods-burstable.slice");
  auto dirs = k.podParentDirs();
  EXPECT_NE(std::find(dirs.begin(), dirs.end(), abs("kubepods.slice/kubepods-burstable.slice")),
            dirs.end())
      << "both drivers' layouts when both exist";
}

class PodCgroupWatchTest : public KubeletCgroupsTest {
 protected:
  // Runs the loop until `done` holds; false after 5 s (a hang, not a timing check).
  bool runUntil(const std::function<bool()>& done) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done() && std::chrono::steady_clock::now() < give_up) {
      io_.restart();
      io_.run_for(std::chrono::milliseconds(10));
    }
    return done();
  }
  bool watching(const PodCgroupWatch& w, const std::string& rel) {
    auto dirs = w.watched();
    const std::string dir = rel.empty() ? dir_.path().string() : abs(rel);
    return std::find(dirs.begin(), dirs.end(), dir) != dirs.end();
  }

  boost::asio::io_context io_;
  int created_ = 0;
};

TEST_F(PodCgroupWatchTest, APodCgroupCreatedWakesTheAgentOnceAndOnlyThen) {
  mkcg(".");
  auto k = make();
  auto watch = PodCgroupWatch::start(
      io_, [&] { return k.podParentDirs(); }, [&] { ++created_; });
  ASSERT_TRUE(watch) << watch.error().message;
  EXPECT_TRUE(watching(**watch, "")) << "the root: where the kubelet's layout appears";

  // The kubelet starts: its QoS cgroups appear after the watch did, and are watched too.
  mkcg("kubepods/burstable");
  EXPECT_TRUE(runUntil([&] { return watching(**watch, "kubepods/burstable"); }));
  EXPECT_TRUE(watching(**watch, "kubepods"));
  EXPECT_EQ(created_, 0) << "no pod cgroup yet";

  mkcg("kubepods/burstable/pod" + kUid);
  EXPECT_TRUE(runUntil([&] { return created_ == 1; }));
  mkcg("kubepods/burstable/pod" + kUid + "/container");  // below a pod: not watched
  mkcg("kubepods/burstable/misc");
  io_.restart();
  io_.run_for(std::chrono::milliseconds(100));
  EXPECT_EQ(created_, 1);
}

TEST_F(PodCgroupWatchTest, SystemdSlicesOfPodsAreNoticed) {
  mkcg(".");
  mkcg("kubepods.slice/kubepods-besteffort.slice");
  auto k = make();
  auto watch = PodCgroupWatch::start(
      io_, [&] { return k.podParentDirs(); }, [&] { ++created_; });
  ASSERT_TRUE(watch) << watch.error().message;
  EXPECT_TRUE(watching(**watch, "kubepods.slice/kubepods-besteffort.slice"));
  mkcg("kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kEscaped + ".slice");
  EXPECT_TRUE(runUntil([&] { return created_ == 1; }));
}

}  // namespace
}  // namespace ambit::agent
