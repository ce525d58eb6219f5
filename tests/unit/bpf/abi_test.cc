// The ABI header's layout, checked at compile time for C++ and at run time against the BTF the
// BPF compiler emitted for the same structs, so the two sides cannot drift apart.
#include "ambit/abi.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <string>

#include "connect4.skel.h"
#include "sk_lookup.skel.h"

namespace {

static_assert(sizeof(ambit_ip) == 16);
static_assert(sizeof(ambit_cidr) == 32);
static_assert(offsetof(ambit_cidr, mask) == 16);

static_assert(offsetof(ambit_netns_config, n_bypass_cidrs) == 4);
static_assert(offsetof(ambit_netns_config, n_bypass_ports) == 8);
static_assert(offsetof(ambit_netns_config, bypass_ports) == 12);
static_assert(offsetof(ambit_netns_config, bypass_cidrs) == 32);
static_assert(sizeof(ambit_netns_config) == 32 + 32 * AMBIT_MAX_BYPASS_CIDRS);

static_assert(offsetof(ambit_orig_dst, port) == 16);
static_assert(offsetof(ambit_orig_dst, family) == 18);
static_assert(sizeof(ambit_orig_dst) == 20);

static_assert(offsetof(ambit_conn_key, client_ip) == 8);
static_assert(offsetof(ambit_conn_key, client_port) == 24);
static_assert(sizeof(ambit_conn_key) == 32);

static_assert(offsetof(ambit_flow_key, local) == 16);
static_assert(offsetof(ambit_flow_key, remote_port) == 32);
static_assert(offsetof(ambit_flow_key, local_port) == 34);
static_assert(sizeof(ambit_flow_key) == 40);

static_assert(offsetof(ambit_pod_config, flags) == 8);
static_assert(offsetof(ambit_pod_config, n_bypass_ports) == 12);
static_assert(offsetof(ambit_pod_config, bypass_ports) == 16);
static_assert(offsetof(ambit_pod_config, n_probe_sources) == 32);
static_assert(offsetof(ambit_pod_config, probe_sources) == 40);
static_assert(sizeof(ambit_pod_config) == 40 + 16 * AMBIT_MAX_PROBE_SOURCES);

static_assert(AMBIT_STAT_MAX == 6);
static_assert(sizeof(AMBIT_MAP_IN_LISTENERS) <= 16, "BPF object names hold 15 chars");
static_assert(sizeof(AMBIT_MAP_SOCK_DST) <= 16 && sizeof(AMBIT_MAP_ORIG_DST) <= 16);
static_assert(sizeof(AMBIT_MAP_IN_PENDING) <= 16);

struct Member {
  const char* name;
  size_t offset;
};

// Size and member offsets of `name` in the object's BTF.
void expectBtfLayout(const btf* b, const char* name, size_t size,
                     std::initializer_list<Member> members) {
  SCOPED_TRACE(name);
  int id = btf__find_by_name_kind(b, name, BTF_KIND_STRUCT);
  ASSERT_GT(id, 0) << "struct " << name << " missing from BPF BTF";
  const btf_type* t = btf__type_by_id(b, id);
  EXPECT_EQ(t->size, size);
  for (const Member& m : members) {
    bool found = false;
    const btf_member* bm = btf_members(t);
    for (int i = 0; i < btf_vlen(t); ++i, ++bm) {
      if (std::string(btf__name_by_offset(b, bm->name_off)) != m.name) continue;
      found = true;
      EXPECT_EQ(btf_member_bit_offset(t, i) / 8, m.offset) << m.name;
    }
    EXPECT_TRUE(found) << m.name;
  }
}

template <typename Skel>
void expectAbiMatchesBtf() {
  Skel* skel = Skel::open();
  ASSERT_NE(skel, nullptr) << "opening the embedded BPF object failed";
  const btf* b = bpf_object__btf(skel->obj);
  ASSERT_NE(b, nullptr);
  expectBtfLayout(b, "ambit_ip", sizeof(ambit_ip), {{"addr", offsetof(ambit_ip, addr)}});
  expectBtfLayout(b, "ambit_netns_config", sizeof(ambit_netns_config),
                  {{"n_bypass_cidrs", offsetof(ambit_netns_config, n_bypass_cidrs)},
                   {"n_bypass_ports", offsetof(ambit_netns_config, n_bypass_ports)},
                   {"bypass_ports", offsetof(ambit_netns_config, bypass_ports)},
                   {"bypass_cidrs", offsetof(ambit_netns_config, bypass_cidrs)}});
  expectBtfLayout(b, "ambit_orig_dst", sizeof(ambit_orig_dst),
                  {{"ip", offsetof(ambit_orig_dst, ip)},
                   {"port", offsetof(ambit_orig_dst, port)},
                   {"family", offsetof(ambit_orig_dst, family)}});
  expectBtfLayout(b, "ambit_conn_key", sizeof(ambit_conn_key),
                  {{"netns_cookie", offsetof(ambit_conn_key, netns_cookie)},
                   {"client_ip", offsetof(ambit_conn_key, client_ip)},
                   {"client_port", offsetof(ambit_conn_key, client_port)}});
  expectBtfLayout(b, "ambit_flow_key", sizeof(ambit_flow_key),
                  {{"remote", offsetof(ambit_flow_key, remote)},
                   {"local", offsetof(ambit_flow_key, local)},
                   {"remote_port", offsetof(ambit_flow_key, remote_port)},
                   {"local_port", offsetof(ambit_flow_key, local_port)}});
  expectBtfLayout(b, "ambit_pod_config", sizeof(ambit_pod_config),
                  {{"pod_tag", offsetof(ambit_pod_config, pod_tag)},
                   {"n_bypass_ports", offsetof(ambit_pod_config, n_bypass_ports)},
                   {"bypass_ports", offsetof(ambit_pod_config, bypass_ports)},
                   {"n_probe_sources", offsetof(ambit_pod_config, n_probe_sources)},
                   {"probe_sources", offsetof(ambit_pod_config, probe_sources)}});
  Skel::destroy(skel);
}

TEST(AbiTest, CxxLayoutMatchesConnect4Btf) { expectAbiMatchesBtf<struct connect4>(); }
TEST(AbiTest, CxxLayoutMatchesSkLookupBtf) { expectAbiMatchesBtf<struct sk_lookup>(); }

TEST(AbiTest, RuntimeOffsets) {
  // The same facts at run time, so a failure names the field instead of failing the build.
  EXPECT_EQ(offsetof(ambit_conn_key, client_port), 24u);
  EXPECT_EQ(offsetof(ambit_pod_config, probe_sources), 40u);
  EXPECT_EQ(offsetof(ambit_netns_config, bypass_cidrs), 32u);
  EXPECT_EQ(AMBIT_PORT_OUTBOUND, 15001);
  EXPECT_EQ(AMBIT_PORT_INBOUND, 15006);
  EXPECT_EQ(AMBIT_PORT_HBONE, 15008);
  EXPECT_EQ(AMBIT_SOCKET_MARK, 0x539);
  EXPECT_NE(AMBIT_INBOUND_MARK, AMBIT_SOCKET_MARK);
}

}  // namespace
