#pragma once
// Open proxied connections of this ztunnel, for the late policy re-check (a policy change
// closes connections it now denies) and for the access log/drain bookkeeping.
//
// Thread: the data io_context thread only.

#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "common/rbac/attributes.h"

namespace ambit::ztunnel {

struct TrackedConnection {
  std::string pod_uid;  // destination pod (inbound)
  rbac::IpAddress source_ip;
  rbac::IpAddress destination_ip;
  uint16_t destination_port = 0;
  std::string source_principal;  // empty for plaintext
  int fd = -1;                   // a socket of the connection; shutdown() ends it
  ino_t inode = 0;               // guards against a reused fd number
};

class ConnectionTracker {
 public:
  uint64_t add(TrackedConnection c);
  // Forgets a connection that ended; returns why closeIf() closed it ("" if it did not), for
  // its access record.
  std::string remove(uint64_t id);
  size_t size() const { return open_.size(); }
  // The connections open now, by id (admin /config_dump lists them).
  const std::map<uint64_t, TrackedConnection>& open() const { return open_; }

  // Shuts down (both directions) every connection for which `deny` returns a reason (not
  // empty); returns how many were closed.
  size_t closeIf(const std::function<std::string(const TrackedConnection&)>& deny);

 private:
  uint64_t next_id_ = 1;
  std::map<uint64_t, TrackedConnection> open_;
  std::map<uint64_t, std::string> revoked_;  // closed by closeIf(), until remove()
};

}  // namespace ambit::ztunnel
