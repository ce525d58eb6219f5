#include "waypoint/route_actions.h"

#include <re2/re2.h>

#include <string>

namespace ambit::waypoint {
namespace {

std::string str(boost::beast::string_view s) { return std::string(s.data(), s.size()); }

template <bool isRequest>
void applyOps(const google::protobuf::RepeatedPtrField<std::string>& remove,
              const google::protobuf::Map<std::string, std::string>& set,
              const google::protobuf::Map<std::string, std::string>& add,
              http::message<isRequest, http::string_body>& m) {
  for (const auto& name : remove) m.erase(name);
  for (const auto& [name, value] : set) m.set(name, value);
  for (const auto& [name, value] : add) m.insert(name, value);
}

}  // namespace

std::optional<HttpResponse> redirectFor(const v1::HttpRoute& route, const HttpRequest& request) {
  if (!route.has_redirect()) return std::nullopt;
  const v1::Redirect& r = route.redirect();
  const std::string target = str(request.target());
  const size_t q = target.find('?');
  std::string host = r.authority().empty() ? str(request[http::field::host]) : r.authority();
  if (r.port() != 0) host = host.substr(0, host.rfind(':')) + ":" + std::to_string(r.port());
  std::string location = (r.scheme().empty() ? "http" : r.scheme()) + "://" + host +
                         (r.uri().empty() ? target.substr(0, q) : r.uri()) +
                         (q == std::string::npos ? "" : target.substr(q));
  HttpResponse response{static_cast<http::status>(r.redirect_code() ? r.redirect_code() : 301),
                        request.version()};
  response.set(http::field::location, location);
  response.prepare_payload();
  return response;
}

void applyRewrite(const v1::HttpRoute& route, const v1::HttpMatch* matched, HttpRequest& request) {
  if (!route.has_rewrite()) return;
  const v1::Rewrite& rw = route.rewrite();
  if (!rw.authority().empty()) request.set(http::field::host, rw.authority());
  const std::string target = str(request.target());
  const size_t q = target.find('?');
  std::string path = target.substr(0, q);
  const std::string query = q == std::string::npos ? "" : target.substr(q);
  if (!rw.uri_regex().empty()) {
    // Istio's uriRegexRewrite (Envoy's regex_rewrite): every match replaced, \1 for groups.
    RE2::Options options;
    options.set_log_errors(false);
    RE2 re(rw.uri_regex(), options);
    if (!re.ok()) return;  // validated at translation
    RE2::GlobalReplace(&path, re, rw.uri_regex_substitution());
  } else if (!rw.uri().empty()) {
    if (matched && matched->uri_case() == v1::HttpMatch::kUriPrefix &&
        path.size() >= matched->uri_prefix().size()) {
      path = rw.uri() + path.substr(matched->uri_prefix().size());
    } else {
      path = rw.uri();
    }
  }
  request.target(path + query);
}

void applyRequestHeaderOps(const v1::HeaderOps& ops, HttpRequest& request) {
  applyOps(ops.request_remove(), ops.request_set(), ops.request_add(), request);
}

void applyResponseHeaderOps(const v1::HeaderOps& ops, HttpResponse& response) {
  applyOps(ops.response_remove(), ops.response_set(), ops.response_add(), response);
}

}  // namespace ambit::waypoint
