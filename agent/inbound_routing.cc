#include "agent/inbound_routing.h"

#include <linux/fib_rules.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <vector>

#include "ambit/abi.h"
#include "common/log.h"
#include "common/netns.h"
#include "common/unique_fd.h"

namespace ambit::agent {
namespace {

constexpr std::string_view kFwmarkAccept = "net/ipv4/tcp_fwmark_accept";
constexpr std::string_view kMigrateReq = "net/ipv4/tcp_migrate_req";

// One rtnetlink request: header, family header, attributes.
class NetlinkRequest {
 public:
  NetlinkRequest(uint16_t type, uint16_t flags, const void* body, size_t body_len) {
    buf_.resize(NLMSG_LENGTH(body_len));
    auto* h = header();
    h->nlmsg_type = type;
    h->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
    std::memcpy(NLMSG_DATA(h), body, body_len);
    h->nlmsg_len = static_cast<uint32_t>(buf_.size());
  }
  void addU32(uint16_t type, uint32_t value) {
    size_t at = NLMSG_ALIGN(buf_.size());
    buf_.resize(at + RTA_SPACE(sizeof(value)));
    auto* rta = reinterpret_cast<rtattr*>(buf_.data() + at);
    rta->rta_type = type;
    rta->rta_len = static_cast<uint16_t>(RTA_LENGTH(sizeof(value)));
    std::memcpy(RTA_DATA(rta), &value, sizeof(value));
    header()->nlmsg_len = static_cast<uint32_t>(buf_.size());
  }
  const std::vector<char>& bytes() const { return buf_; }

 private:
  nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }
  std::vector<char> buf_;
};

// Sends the request and reads its ack: the kernel's errno (0 on success).
Result<int> transact(int fd, const NetlinkRequest& req) {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  const auto& b = req.bytes();
  if (::sendto(fd, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) <
      0) {
    return errnoError("rtnetlink send");
  }
  std::array<char, 8192> reply{};
  ssize_t n = ::recv(fd, reply.data(), reply.size(), 0);
  if (n < 0) return errnoError("rtnetlink receive");
  for (auto* h = reinterpret_cast<nlmsghdr*>(reply.data()); NLMSG_OK(h, static_cast<size_t>(n));
       h = NLMSG_NEXT(h, n)) {
    if (h->nlmsg_type == NLMSG_ERROR) return -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
  }
  return makeError("rtnetlink: no ack for request type {}",
                   reinterpret_cast<const nlmsghdr*>(b.data())->nlmsg_type);
}

NetlinkRequest ruleRequest(uint16_t type, uint8_t family) {
  fib_rule_hdr rule{};
  rule.family = family;
  rule.action = FR_ACT_TO_TBL;
  rule.table = AMBIT_INBOUND_ROUTE_TABLE;
  NetlinkRequest req(type, type == RTM_NEWRULE ? NLM_F_CREATE | NLM_F_EXCL : 0, &rule,
                     sizeof(rule));
  req.addU32(FRA_FWMARK, AMBIT_INBOUND_MARK);
  req.addU32(FRA_FWMASK, 0xffffffffu);
  req.addU32(FRA_TABLE, AMBIT_INBOUND_ROUTE_TABLE);
  req.addU32(FRA_PRIORITY, AMBIT_INBOUND_RULE_PRIORITY);
  return req;
}

NetlinkRequest routeRequest(uint16_t type, uint8_t family) {
  rtmsg rt{};
  rt.rtm_family = family;
  rt.rtm_table = AMBIT_INBOUND_ROUTE_TABLE;
  rt.rtm_protocol = RTPROT_STATIC;
  rt.rtm_scope = RT_SCOPE_HOST;
  rt.rtm_type = RTN_LOCAL;
  NetlinkRequest req(type, type == RTM_NEWROUTE ? NLM_F_CREATE | NLM_F_EXCL : 0, &rt, sizeof(rt));
  req.addU32(RTA_TABLE, AMBIT_INBOUND_ROUTE_TABLE);
  req.addU32(RTA_OIF, AMBIT_LOOPBACK_IFINDEX);
  return req;
}

Result<UniqueFd> openRtnetlink() {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd) return errnoError("rtnetlink socket");
  timeval tv{2, 0};  // never hang on a kernel that does not answer
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

const char* what(uint16_t type) {
  switch (type) {
    case RTM_NEWRULE:
      return "add rule";
    case RTM_DELRULE:
      return "delete rule";
    case RTM_NEWROUTE:
      return "add route";
    default:
      return "delete route";
  }
}

// Runs the four requests of one direction; `ignore` is the errno meaning "already so". True when
// some rule was actually added or deleted.
Result<bool> apply(uint16_t rule_type, uint16_t route_type, int ignore, int ignore_route) {
  auto fd = openRtnetlink();
  AMBIT_TRY(fd);
  bool changed = false;
  for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}}) {
    const char* fam = family == AF_INET ? "IPv4" : "IPv6";
    auto rule = transact(fd->get(), ruleRequest(rule_type, family));
    AMBIT_TRY(rule);
    if (family == AF_INET6 && *rule == EAFNOSUPPORT) break;  // IPv6 disabled on this kernel
    if (*rule != 0 && *rule != ignore) {
      return Error{
          *rule, fmt::format("{} {} fwmark {:#x} lookup {}: {}", fam, what(rule_type),
                             AMBIT_INBOUND_MARK, AMBIT_INBOUND_ROUTE_TABLE, std::strerror(*rule))};
    }
    changed = changed || *rule == 0;
    auto route = transact(fd->get(), routeRequest(route_type, family));
    AMBIT_TRY(route);
    if (*route != 0 && *route != ignore_route && *route != ignore) {
      return Error{*route,
                   fmt::format("{} {} local default dev lo table {}: {}", fam, what(route_type),
                               AMBIT_INBOUND_ROUTE_TABLE, std::strerror(*route))};
    }
  }
  return changed;
}

}  // namespace

Status installInboundRouting(int netns_fd) {
  Status st = inNetns(netns_fd, []() -> Status {
    AMBIT_TRY(apply(RTM_NEWRULE, RTM_NEWROUTE, EEXIST, EEXIST));
    AMBIT_TRY(writeSysctl(kFwmarkAccept, "1"));
    if (Status st = writeSysctl(kMigrateReq, "1"); !st) {
      logWarn(
          "{}: the pod's queued connections are reset, not handed over, when its ztunnel "
          "is upgraded",
          st.message());
    }
    return Status::ok();
  });
  if (!st) return st.error().context("inbound reply routing");
  return st;
}

Status removeInboundRouting(int netns_fd) {
  Status st = inNetns(netns_fd, []() -> Status {
    auto removed = apply(RTM_DELRULE, RTM_DELROUTE, ENOENT, ESRCH);
    AMBIT_TRY(removed);
    // Only a netns we had set up gets the sysctl back to its default.
    if (!*removed) return Status::ok();
    (void)writeSysctl(kMigrateReq, "0");  // absent before 5.14: nothing to restore
    return writeSysctl(kFwmarkAccept, "0");
  });
  if (!st) return st.error().context("remove inbound reply routing");
  return st;
}

}  // namespace ambit::agent
