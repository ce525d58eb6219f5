#include "tests/support/requirements.h"

#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/cgroup.h"
#include "tests/support/subprocess.h"

namespace ambit::test {
namespace {

// Loads (and closes) a two-instruction program "r0 = 1; exit" of `type`; 0 or the errno.
int tryLoadProgram(bpf_prog_type type, bpf_attach_type expected_attach) {
  const bpf_insn insns[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1},
      {.code = BPF_JMP | BPF_EXIT},
  };
  bpf_attr attr{};
  attr.prog_type = type;
  attr.expected_attach_type = expected_attach;
  attr.insns = reinterpret_cast<uint64_t>(insns);
  attr.insn_cnt = 2;
  attr.license = reinterpret_cast<uint64_t>("GPL");
  const long fd = ::syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
  if (fd < 0) return errno;
  ::close(static_cast<int>(fd));
  return 0;
}

bool executable(const std::filesystem::path& p) { return ::access(p.c_str(), X_OK) == 0; }

}  // namespace

bool runningAsRoot() { return ::geteuid() == 0; }

std::optional<std::string> missingRoot(std::string_view why) {
  if (runningAsRoot()) return std::nullopt;
  return "needs root (" + std::string(why) + "); run it as root";
}

std::optional<std::string> missingCgroup2() {
  auto mount = findCgroup2Mount();
  if (mount) return std::nullopt;
  return "needs a cgroup v2 hierarchy (" + mount.error().message +
         "); mount one: mount -t cgroup2 none /sys/fs/cgroup";
}

std::optional<std::string> missingBpf() {
  if (auto root = missingRoot("loads BPF programs: CAP_BPF, CAP_NET_ADMIN")) return root;
  const struct {
    const char* name;
    bpf_prog_type type;
    bpf_attach_type attach;
  } kinds[] = {{"cgroup/connect4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT},
               {"sk_lookup", BPF_PROG_TYPE_SK_LOOKUP, BPF_SK_LOOKUP}};
  for (const auto& k : kinds) {
    if (int err = tryLoadProgram(k.type, k.attach); err != 0) {
      return std::string("needs BPF: the kernel refused a ") + k.name +
             " program (bpf(BPF_PROG_LOAD): " + std::strerror(err) +
             "); Linux >= 5.9 with BPF enabled is required";
    }
  }
  return std::nullopt;
}

std::optional<std::string> missingProgram(std::string_view program, std::string_view package) {
  const std::string name(program);
  bool found = false;
  if (name.find('/') != std::string::npos) {
    found = executable(name);
  } else if (const char* path = std::getenv("PATH")) {
    std::string dirs = path;
    for (size_t at = 0; !found && at <= dirs.size();) {
      size_t end = dirs.find(':', at);
      if (end == std::string::npos) end = dirs.size();
      found = executable(std::filesystem::path(dirs.substr(at, end - at)) / name);
      at = end + 1;
    }
  }
  if (found) return std::nullopt;
  return "needs the program " + name + " (not found" +
         (name.find('/') == std::string::npos ? " in PATH" : "") + "; apt-get install " +
         std::string(package) + ")";
}

std::optional<std::string> missingPythonModule(std::string_view module, std::string_view package) {
  constexpr char kPython[] = "/usr/bin/python3";
  if (auto python = missingProgram(kPython, "python3")) return python;
  CommandOutput r = run({kPython, "-c", "import " + std::string(module)});
  if (r.exit_code == 0) return std::nullopt;
  return std::string(kPython) + " cannot import " + std::string(module) + " (apt-get install " +
         std::string(package) + ")";
}

std::optional<std::string> firstMissing(std::initializer_list<std::optional<std::string>> checks) {
  for (const auto& c : checks) {
    if (c) return c;
  }
  return std::nullopt;
}

std::string announceSkip(const std::string& reason) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string name =
      info ? std::string(info->test_suite_name()) + "." + info->name() : std::string("test");
  std::fprintf(stderr, "\n*** %s SKIPPED: %s ***\n\n", name.c_str(), reason.c_str());
  return "SKIPPED LOUDLY: " + reason;
}

}  // namespace ambit::test
