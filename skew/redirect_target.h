// Where skewgate's own answers send a client back to: the Location of a 303
// (no-JS form post) or 302 (preview link), x-action-redirect, and the JSON
// answer's "reload". Pure string work.
#pragma once

#include <string>
#include <string_view>

namespace sg::skew {

// The same-origin, path-absolute reference for `target`, the request target
// (origin-form or absolute-form, with its query), safe to place in a header:
//  - an absolute-form target keeps only its path and query, never its
//    authority (asterisk-form, authority-form or no path at all: "/");
//  - control bytes, DEL, space and bytes >= 0x80 become %HH: a browser strips
//    tab and newline from a URL (WHATWG URL, "basic URL parser"), so
//    `/<TAB>/evil.example` would otherwise read as `//evil.example`;
//  - a leading run of '/' and '\' becomes one '/': browsers read `//host` as a
//    network-path reference (RFC 3986 4.2) and `\` as `/` in http(s) URLs, so
//    `//evil.example` or `/\evil.example` would leave the origin.
// `/%2F%2Fevil` is kept: a browser does not decode it, it is a path.
// Idempotent: applying it to its own output changes nothing.
std::string same_origin_target(std::string_view target);

// `value` with every byte outside [A-Za-z0-9._-] (the characters a deployment
// ID may hold, routing/registry.cc) as %HH, '%' included, so a valid ID is
// unchanged and anything else is readable and unambiguous in a header
// parameter: no control byte, no ';' or ' ' that could forge a parameter.
std::string header_token(std::string_view value);

}  // namespace sg::skew
