// Who may reach the admin API at all (issue 13): checks on the request's
// head alone, before any route runs, so that a web page in a browser on the
// same host cannot drive the API nor read it.
//
// A browser reaches 127.0.0.1:9901 from any site: a "simple" cross-site POST
// (text/plain, a form; Fetch standard, CORS-safelisted request headers)
// needs no preflight, and a DNS-rebinding page reads the answers under its
// own host name. What is refused, and why:
//   - Host not an IP literal (v4, or [v6]), `localhost`, or a name in
//     admin.allowed_hosts, optionally with a port: 403 host_not_allowed.
//     A rebinding page's requests carry the attacker's name (RFC 9110 7.2);
//     a missing or repeated Host is refused the same way.
//   - any Origin (the admin API has no web origin of its own, so every
//     Origin, `null` included, is a page), or Sec-Fetch-Site other than
//     same-origin/none: 403 cross_origin_request. Applies to GETs too:
//     /metrics and /api/v1/config name every build and upstream.
//   - a mutation (any method but GET/HEAD) whose one Content-Type is not
//     application/json (parameters allowed): 415 unsupported_media_type.
//     application/json is not CORS-safelisted, so a page cannot send it
//     without a preflight that this API never answers.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/admin/admin_server.h"

namespace sg::gateway {

struct AdminRefusal {
  int status;
  const char* code;  // stable snake_case
  std::string message;
};

// nullopt: the request may go on to authentication and routing.
std::optional<AdminRefusal> check_admin_request(const AdminRequest& request,
                                                const std::vector<std::string>& allowed_hosts);

// Host header value -> allowed? (exposed for unit tests).
bool admin_host_allowed(std::string_view host, const std::vector<std::string>& allowed_hosts);

// `Authorization: Bearer <token>`: the scheme in any case (RFC 9110 11.1),
// one or more spaces, then the token compared in constant time.
bool bearer_matches(std::string_view authorization, std::string_view token);

}  // namespace sg::gateway
