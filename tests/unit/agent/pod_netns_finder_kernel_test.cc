// The Kubernetes-mode netns lookup on the real kernel: cgroups in the kubelet's cgroupfs layout
// under the real cgroup2 mount (a test-unique kubelet root), a real network namespace with a
// veth interface holding the "pod IPs", and a process inside both. The finder must return that
// namespace (same cookie), refuse it for an IP it does not hold, refuse a process in the node's
// own namespace (hostNetwork), and say "not yet" for an empty pod cgroup. Everything is removed
// afterwards, also after a failure.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "agent/kube_pod_netns.h"
#include "agent/kubelet_cgroup.h"
#include "agent/pod_netns_finder.h"
#include "common/cgroup.h"
#include "common/netns.h"
#include "tests/support/requirements.h"
#include "tests/support/subprocess.h"

namespace ambit::agent {
namespace {

namespace fs = std::filesystem;

const std::string kUid = "0f6a2b1c-aaaa-4bbb-8ccc-123456789abc";
const std::string kHostUid = "0f6a2b1c-dddd-4eee-8fff-123456789abc";
const std::string kEmptyUid = "0f6a2b1c-1111-4222-8333-123456789abc";

// Forks a process that joins `cgroup_dir` and (when netns_fd >= 0) that network namespace, then
// sleeps; returns once it is in place.
pid_t spawnInPod(const std::string& cgroup_dir, int netns_fd) {
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return -1;
  std::string procs = cgroup_dir + "/cgroup.procs";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(ready[0]);
    int fd = ::open(procs.c_str(), O_WRONLY);
    char buf[16];
    int n = ::snprintf(buf, sizeof(buf), "%d", static_cast<int>(::getpid()));
    if (fd < 0 || ::write(fd, buf, static_cast<size_t>(n)) != n) ::_exit(10);
    if (netns_fd >= 0 && ::setns(netns_fd, CLONE_NEWNET) != 0) ::_exit(11);
    ::execl("/bin/sleep", "sleep", "300", static_cast<char*>(nullptr));
    ::_exit(12);
  }
  ::close(ready[1]);
  char c;
  while (::read(ready[0], &c, 1) > 0) {
  }  // EOF: the child exec'd (or died)
  ::close(ready[0]);
  return pid;
}

class PodNetnsFinderKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AMBIT_REQUIRE(
        test::firstMissing({test::missingRoot("creates cgroups and network namespaces"),
                            test::missingCgroup2(), test::missingProgram("ip", "iproute2")}));
    auto mount = findCgroup2Mount();
    ASSERT_TRUE(mount) << mount.error().message;
    mount_ = *mount;
    kubelet_root_ = "/ambit-kubelet-test-" + std::to_string(::getpid());
    base_ = mount_ + kubelet_root_;
    netns_name_ = "ambit-kubelet-test-" + std::to_string(::getpid());
    pod_dir_ = base_ + "/kubepods/burstable/pod" + kUid;
    host_pod_dir_ = base_ + "/kubepods/besteffort/pod" + kHostUid;
    for (const auto& d :
         {pod_dir_ + "/ctr-app", host_pod_dir_ + "/ctr", base_ + "/kubepods/pod" + kEmptyUid}) {
      std::error_code ec;
      fs::create_directories(d, ec);
      ASSERT_FALSE(ec) << "mkdir " << d << ": " << ec.message();
    }
    auto made = test::sh("set -e; ip netns add " + netns_name_ + "; ip -n " + netns_name_ +
                         " link add d0 type veth peer name d1; ip -n " + netns_name_ +
                         " link set d0 up; ip -n " + netns_name_ +
                         " addr add 10.250.7.7/24 dev d0; ip -n " + netns_name_ +
                         " addr add fd00:250::7/64 dev d0 nodad");
    ASSERT_EQ(made.exit_code, 0) << made.err;
    auto fd = openNetns("/run/netns/" + netns_name_);
    ASSERT_TRUE(fd) << fd.error().message;
    netns_ = std::move(*fd);
    pod_pid_ = spawnInPod(pod_dir_ + "/ctr-app", netns_.get());
    host_pid_ = spawnInPod(host_pod_dir_ + "/ctr", -1);
    ASSERT_GT(pod_pid_, 0);
    ASSERT_GT(host_pid_, 0);
  }

  void TearDown() override {
    for (pid_t p : {pod_pid_, host_pid_}) {
      if (p <= 0) continue;
      ::kill(p, SIGKILL);
      ::waitpid(p, nullptr, 0);
    }
    netns_.reset();
    if (!netns_name_.empty()) (void)test::sh("ip netns del " + netns_name_ + " 2>/dev/null");
    if (base_.empty() || !fs::exists(base_)) return;
    // cgroup directories go deepest first (rmdir, not unlink: their files are not removable).
    std::vector<std::string> dirs;
    for (auto it = fs::recursive_directory_iterator(base_); it != fs::end(it); ++it) {
      if (it->is_directory()) dirs.push_back(it->path().string());
    }
    std::sort(dirs.begin(), dirs.end(),
              [](const auto& a, const auto& b) { return a.size() > b.size(); });
    dirs.push_back(base_);
    for (const auto& d : dirs) {
      for (int i = 0; i < 50 && ::rmdir(d.c_str()) != 0 && errno == EBUSY; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    EXPECT_FALSE(fs::exists(base_)) << "test cgroups left behind under " << base_;
    EXPECT_FALSE(fs::exists("/run/netns/" + netns_name_)) << "test netns left behind";
  }

  KubeletCgroups cgroups() {
    auto k = KubeletCgroups::create({"", kubelet_root_, CgroupDriver::kAuto});
    if (!k) throw std::runtime_error(k.error().message);
    return *k;
  }
  static std::vector<bpf::IpAddr> ips(std::initializer_list<const char*> texts) {
    std::vector<bpf::IpAddr> out;
    for (const char* t : texts) out.push_back(*bpf::IpAddr::parse(t));
    return out;
  }

  std::string mount_, kubelet_root_, base_, netns_name_, pod_dir_, host_pod_dir_;
  UniqueFd netns_;
  pid_t pod_pid_ = -1, host_pid_ = -1;
};

TEST_F(PodNetnsFinderKernelTest, FindsThePodsNamespaceThroughItsCgroup) {
  auto dir = cgroups().locate(kUid, QosClass::kBurstable);
  ASSERT_TRUE(dir) << dir.error().message;
  ASSERT_TRUE(*dir) << "kubelet layout not found under " << base_;
  EXPECT_EQ(**dir, pod_dir_);
  ProcNetnsFinder finder;
  auto found = finder.find(**dir, ips({"10.250.7.7", "fd00:250::7"}));
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_TRUE(*found) << "no process found in " << **dir;
  auto want = netnsCookie(netns_.get());
  ASSERT_TRUE(want) << want.error().message;
  EXPECT_EQ((*found)->cookie, *want);
  EXPECT_EQ((*found)->pid, pod_pid_);
  auto cookie_of_fd = netnsCookie((*found)->netns.get());
  ASSERT_TRUE(cookie_of_fd);
  EXPECT_EQ(*cookie_of_fd, *want) << "the returned handle is the pod's namespace";
  EXPECT_GT((*found)->first_process_start.count(), 0);
  EXPECT_LE((*found)->first_process_start, boottimeNow());
}

TEST_F(PodNetnsFinderKernelTest, RefusesANamespaceWithoutThePodIp) {
  ProcNetnsFinder finder;
  auto found = finder.find(pod_dir_, ips({"10.250.7.7", "10.250.7.8"}));
  ASSERT_FALSE(found);
  EXPECT_NE(found.error().message.find("does not hold pod IP 10.250.7.8"), std::string::npos)
      << found.error().message;
  EXPECT_NE(found.error().message.find(std::to_string(pod_pid_)), std::string::npos)
      << "names the pid: " << found.error().message;
}

TEST_F(PodNetnsFinderKernelTest, RefusesAProcessInTheNodesNamespace) {
  auto dir = cgroups().locate(kHostUid, QosClass::kUnknown);
  ASSERT_TRUE(dir && *dir);
  ProcNetnsFinder finder;
  auto found = finder.find(**dir, ips({"127.0.0.1"}));  // the node holds it: only the netns check
  ASSERT_FALSE(found);
  EXPECT_NE(found.error().message.find("hostNetwork"), std::string::npos) << found.error().message;
}

TEST_F(PodNetnsFinderKernelTest, EmptyOrMissingPodCgroupIsNotYet) {
  ProcNetnsFinder finder;
  auto empty = cgroups().locate(kEmptyUid, QosClass::kGuaranteed);
  ASSERT_TRUE(empty && *empty);
  auto found = finder.find(**empty, ips({"10.250.7.7"}));
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_FALSE(*found);
  auto missing = cgroups().locate("0f6a2b1c-0000-4000-8000-000000000000", QosClass::kUnknown);
  ASSERT_TRUE(missing);
  EXPECT_FALSE(*missing);
  auto gone = finder.find(base_ + "/kubepods/podnothere", ips({"10.250.7.7"}));
  ASSERT_TRUE(gone) << gone.error().message;
  EXPECT_FALSE(*gone);
}

}  // namespace
}  // namespace ambit::agent
