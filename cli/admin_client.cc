#include "cli/admin_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "common/netns.h"
#include "common/unique_fd.h"

namespace ambit::cli {

namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

std::string AdminEndpoint::describe() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  std::string addr = h + ":" + std::to_string(port);
  return netns.empty() ? addr : netns + "/" + addr;
}

Result<AdminEndpoint> parseAdminAddress(const std::string& text) {
  AdminEndpoint e;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return makeError("--address '{}': expected [ipv6]:port", text);
    }
    e.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) {
      return makeError("--address '{}': expected host:port (IPv6 as [addr]:port)", text);
    }
    e.host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  in6_addr a6{};
  in_addr a4{};
  if (::inet_pton(AF_INET, e.host.c_str(), &a4) != 1 &&
      ::inet_pton(AF_INET6, e.host.c_str(), &a6) != 1) {
    return makeError("--address '{}': '{}' is not an IP address", text, e.host);
  }
  char* end = nullptr;
  long p = port.empty() ? -1 : std::strtol(port.c_str(), &end, 10);
  if (p < 1 || p > 65535 || *end != '\0') {
    return makeError("--address '{}': port '{}' is not a number in 1-65535", text, port);
  }
  e.port = static_cast<uint16_t>(p);
  return e;
}

namespace {

int remainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// A non-blocking TCP socket connected to the endpoint (created in its netns).
Result<UniqueFd> connectTo(const AdminEndpoint& e, Clock::time_point deadline) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, e.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(e.port);
    len = sizeof(*v4);
  } else if (::inet_pton(AF_INET6, e.host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(e.port);
    len = sizeof(*v6);
  } else {
    return makeError("'{}' is not an IP address", e.host);
  }
  UniqueFd fd;
  if (e.netns.empty()) {
    fd = UniqueFd(::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  } else {
    std::string path = e.netns.find('/') == std::string::npos ? "/run/netns/" + e.netns : e.netns;
    auto ns = openNetns(path);
    if (!ns) return ns.error().context("(the lab's namespaces need root)");
    NetnsGuard guard(ns->get());
    if (!guard.ok()) return guard.status().error().context("enter " + path + " (needs root)");
    fd = UniqueFd(::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  }
  if (!fd) return errnoError("socket");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
    return errnoError("connect");
  }
  pollfd p{fd.get(), POLLOUT, 0};
  int n = ::poll(&p, 1, remainingMs(deadline));
  if (n == 0) return makeError("connect: timed out");
  if (n < 0) return errnoError("poll");
  int err = 0;
  socklen_t elen = sizeof(err);
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &elen);
  if (err != 0) return errnoError("connect", err);
  return fd;
}

Status sendAll(int fd, const std::string& data, Clock::time_point deadline) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return errnoError("send");
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, remainingMs(deadline)) == 0) return makeError("send: timed out");
  }
  return Status::ok();
}

// Reads until the peer closes (the request said Connection: close).
Result<std::string> readAll(int fd, Clock::time_point deadline) {
  constexpr size_t kMaxReply = 64u << 20;
  std::string data;
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0) return data;
    if (n > 0) {
      data.append(buf, static_cast<size_t>(n));
      if (data.size() > kMaxReply) return makeError("reply larger than {} bytes", kMaxReply);
      continue;
    }
    if (errno != EAGAIN && errno != EINTR) return errnoError("recv");
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, remainingMs(deadline)) == 0) return makeError("no reply: timed out");
  }
}

Result<HttpReply> parseReply(const std::string& raw) {
  http::response_parser<http::string_body> parser;
  parser.eager(true);
  parser.body_limit(64u << 20);
  boost::beast::error_code ec;
  size_t used = parser.put(boost::asio::buffer(raw), ec);
  if (!ec && !parser.is_done()) {
    if (used < raw.size())
      parser.put(boost::asio::buffer(raw.data() + used, raw.size() - used), ec);
    if (!ec && !parser.is_done()) parser.put_eof(ec);
  }
  if (ec) return makeError("malformed HTTP reply: {}", ec.message());
  return HttpReply{parser.get().result_int(), parser.get().body()};
}

}  // namespace

Result<HttpReply> adminGet(const AdminEndpoint& endpoint, const std::string& path,
                           std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  auto fail = [&](const Error& e) {
    return e.context(fmt::format("GET http://{}{}", endpoint.describe(), path));
  };
  auto fd = connectTo(endpoint, deadline);
  if (!fd) return fail(fd.error());
  std::string request = fmt::format(
      "GET {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: ambitctl\r\nConnection: close\r\n\r\n", path,
      endpoint.host, endpoint.port);
  if (Status s = sendAll(fd->get(), request, deadline); !s) return fail(s.error());
  auto raw = readAll(fd->get(), deadline);
  if (!raw) return fail(raw.error());
  auto reply = parseReply(*raw);
  if (!reply) return fail(reply.error());
  return reply;
}

Result<std::string> adminGetOk(const AdminEndpoint& endpoint, const std::string& path,
                               std::chrono::milliseconds timeout) {
  auto reply = adminGet(endpoint, path, timeout);
  AMBIT_TRY(reply);
  if (reply->status != 200) {
    return makeError("GET http://{}{}: HTTP {}: {}", endpoint.describe(), path, reply->status,
                     reply->body.substr(0, 200));
  }
  return std::move(reply->body);
}

}  // namespace ambit::cli
