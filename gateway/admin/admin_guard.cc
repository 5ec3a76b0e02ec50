#include "gateway/admin/admin_guard.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>

#include "routing/request_view.h"

namespace sg::gateway {
namespace {

using routing::iequals;

std::size_t count_headers(const AdminRequest& request, std::string_view name) {
  return static_cast<std::size_t>(std::count_if(request.headers.begin(), request.headers.end(),
                                                [name](const auto& f) { return iequals(f.name, name); }));
}

bool is_ipv4(std::string_view text) {
  in_addr a{};
  return text.size() < INET_ADDRSTRLEN && inet_pton(AF_INET, std::string(text).c_str(), &a) == 1;
}

// Exactly one media type application/json; parameters (charset) ignored.
bool is_json_content_type(std::string_view value) {
  std::string_view type = value.substr(0, value.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  return iequals(type, "application/json");
}

// Equal-length digests compared with CRYPTO_memcmp: the time taken says
// nothing about the token, not even its length.
bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), da);
  SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), db);
  return CRYPTO_memcmp(da, db, sizeof da) == 0;
}

}  // namespace

bool admin_host_allowed(std::string_view host, const std::vector<std::string>& allowed_hosts) {
  // The same strict host[:port] as a proxied request's Host (an IPv6 literal
  // is checked there); then only literals, localhost and listed names.
  const std::optional<routing::Authority> authority = routing::parse_authority(host);
  if (!authority) return false;
  const std::string_view name = authority->host;
  if (name.front() == '[' || is_ipv4(name) || iequals(name, "localhost")) return true;
  return std::any_of(allowed_hosts.begin(), allowed_hosts.end(),
                     [name](const std::string& allowed) { return iequals(name, allowed); });
}

std::optional<AdminRefusal> check_admin_request(const AdminRequest& request,
                                                const std::vector<std::string>& allowed_hosts) {
  if (count_headers(request, "host") != 1 || !admin_host_allowed(request.header("host"), allowed_hosts))
    return AdminRefusal{403, "host_not_allowed",
                        "the admin API answers only a Host that is an IP address, localhost or a name in "
                        "admin.allowed_hosts"};
  if (count_headers(request, "origin") != 0)
    return AdminRefusal{403, "cross_origin_request", "the admin API does not answer web pages (Origin is set)"};
  for (const auto& f : request.headers) {
    if (!iequals(f.name, "sec-fetch-site")) continue;
    if (!iequals(f.value, "same-origin") && !iequals(f.value, "none"))
      return AdminRefusal{403, "cross_origin_request",
                          "the admin API does not answer web pages (Sec-Fetch-Site is not same-origin or none)"};
  }
  const bool mutation = request.method != "GET" && request.method != "HEAD";
  if (mutation && (count_headers(request, "content-type") != 1 || !is_json_content_type(request.header("content-type"))))
    return AdminRefusal{415, "unsupported_media_type", request.method + " needs Content-Type: application/json"};
  return std::nullopt;
}

bool bearer_matches(std::string_view authorization, std::string_view token) {
  const std::size_t space = authorization.find(' ');
  if (space == std::string_view::npos || !iequals(authorization.substr(0, space), "bearer")) return false;
  std::string_view credentials = authorization.substr(space);
  while (!credentials.empty() && credentials.front() == ' ') credentials.remove_prefix(1);
  if (credentials.empty()) return false;
  return constant_time_equal(credentials, token);
}

}  // namespace sg::gateway
