// tcpListeners / socketInode: the listeners of an address as sock_diag reports them, told apart
// by inode (the upgrade hand-overs of the ztunnel and the agent rest on this).
#include "common/listeners.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>

#include "common/unique_fd.h"

namespace ambit {
namespace {

using tcp = boost::asio::ip::tcp;

// A TCP socket bound to 127.0.0.1:port (0: any) with SO_REUSEPORT, listening if `listen`.
UniqueFd loopbackSocket(uint16_t port, bool listen = true) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  if (listen) {
    EXPECT_EQ(::listen(fd.get(), 8), 0);
  }
  return fd;
}

uint16_t portOf(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

std::vector<uint64_t> sorted(std::vector<uint64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(TcpListeners, EveryListenerOnTheEndpointByItsInode) {
  UniqueFd first = loopbackSocket(0);
  const uint16_t port = portOf(first.get());
  UniqueFd second = loopbackSocket(port);
  UniqueFd bound_only = loopbackSocket(port, false);  // bound, not listening: not a listener
  UniqueFd elsewhere = loopbackSocket(0);
  auto a = socketInode(first.get()), b = socketInode(second.get());
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  auto found = tcpListeners(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(sorted(*found), sorted({*a, *b}));
  // The wildcard address is another endpoint: only a wildcard listener matches it.
  auto wildcard = tcpListeners(tcp::endpoint(boost::asio::ip::address_v4::any(), port));
  ASSERT_TRUE(wildcard);
  EXPECT_TRUE(wildcard->empty());
  second.reset();
  found = tcpListeners(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  ASSERT_TRUE(found);
  EXPECT_EQ(*found, std::vector<uint64_t>{*a}) << "a closed listener is gone";
}

TEST(SocketInode, AFileThatIsNoSocketIsAnError) {
  UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  auto inode = socketInode(null.get());
  ASSERT_FALSE(inode);
  EXPECT_NE(inode.error().message.find("not a socket"), std::string::npos);
}

}  // namespace
}  // namespace ambit
