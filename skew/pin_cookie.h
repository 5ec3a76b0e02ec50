// The pin cookie on the wire (design.md section 6): finding it in Cookie
// headers and building its Set-Cookie value. Pure string work.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "routing/request_view.h"

namespace sg::skew {

// The value of cookie `name` in one Cookie header value (RFC 6265 section
// 4.2.1: `a=1; b=2`, tolerating missing or extra spaces and empty pairs).
// Names compare exactly (cookie names are case-sensitive); the first pair
// with the name wins; a value in double quotes is returned without them.
// nullopt when absent. The view points into `cookie_header`.
std::optional<std::string_view> find_cookie(std::string_view cookie_header, std::string_view name);

// As above over every `Cookie` header of a request (a client or an HTTP/2 hop
// may send several): the first header that has the cookie wins.
std::optional<std::string_view> find_cookie(std::span<const routing::HeaderField> headers, std::string_view name);

// Two cookies in one pass over the Cookie headers (decide wants the pin and
// `__vdpl` of every request: two passes were ~550 instructions, callgrind):
// each exactly as find_cookie(headers, name) would find it, also when both
// names are the same.
struct CookiePair {
  std::optional<std::string_view> first;
  std::optional<std::string_view> second;
};
CookiePair find_cookies(std::span<const routing::HeaderField> headers, std::string_view first,
                        std::string_view second);

// `<name>=<value>; Path=/; Max-Age=<max_age_s>; HttpOnly; SameSite=Lax`,
// plus `; Secure` when `secure` (TLS downstream, or https from a trusted
// hop). Max-Age below 0 is written as 0 (delete the cookie).
std::string pin_set_cookie(std::string_view name, std::string_view value, std::int64_t max_age_s, bool secure);

// May a proxied response to a document carry the pin (design.md section 6)?
// Only an HTML page is a document the browser shows and reloads from: a
// 2xx, 3xx (a redirect the navigation follows) or 4xx (the app's not-found
// page) whose content-type's media type is text/html (any case, any
// parameters). Never a 5xx (an error is no reason to move the browser to
// the build that failed), nor JSON, images, favicons or a missing type,
// which a navigation may get too.
bool pin_fits_response(int status, std::string_view content_type);

}  // namespace sg::skew
