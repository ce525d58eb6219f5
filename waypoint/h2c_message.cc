// Conversions between HTTP/2 streams (H2cConnection) and the Beast messages the proxy pipeline
// works on.
#include "waypoint/h2c_connection.h"

namespace ambit::waypoint {

HttpRequest toHttpRequest(H2cConnection::Stream& st) {
  HttpRequest r;
  r.version(11);
  if (!st.method.empty()) r.method_string(st.method);  // empty: over a limit, never routed
  r.target(st.path);
  std::string cookies;
  for (const auto& [name, value] : st.headers) {
    if (name == "cookie") {
      cookies += cookies.empty() ? "" : "; ";
      cookies += value;
      continue;
    }
    if (name == "host" && !st.authority.empty()) continue;
    r.insert(name, value);
  }
  if (!cookies.empty()) r.set(http::field::cookie, cookies);
  if (!st.authority.empty()) r.set(http::field::host, st.authority);
  r.body() = std::move(st.body);
  if (r.method() == http::verb::trace && !r.body().empty()) {
    // prepare_payload() throws on it (RFC 9110 §9.3.8); HttpProxy::handle() answers 400.
    r.content_length(r.body().size());
  } else if (!r.body().empty() || r.count(http::field::content_length)) {
    r.prepare_payload();
  }
  return r;
}

HttpResponse toHttpResponse(const H2cConnection::Stream& st) {
  HttpResponse r{static_cast<http::status>(st.status), 11};
  for (const auto& [name, value] : st.headers) r.insert(name, value);
  std::string declared;
  for (const auto& [name, value] : st.trailers) {
    if (!declared.empty()) declared += ", ";
    declared += name;
    r.insert(name, value);
  }
  if (!declared.empty()) r.set(http::field::trailer, declared);
  r.body() = st.body;
  return r;
}

}  // namespace ambit::waypoint
