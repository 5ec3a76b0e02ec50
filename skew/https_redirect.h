// listeners[].redirect_https: a plain-HTTP listener that sends every request
// to the same URL over https. Kept in skew/ as a pure rule over the request
// (like every other answer skewgate gives) so it is tested with tables and
// the gateway only passes the listener's flag; it runs before any app is
// resolved, so nothing a plain request carries (a pin, a preview link) is
// read or set over plain HTTP.
#pragma once

#include "routing/request_view.h"
#include "skew/verdict.h"

namespace sg::skew {

// 308 Permanent Redirect (RFC 9110 section 15.4.9: the method and body are
// kept, so a POST stays a POST) to https://<host><target>, with
// cache-control: no-store (a listener's setting may change; a cached 308
// would outlive it). The host is the Host header's, without its port (the
// https listener's port is not known here: 443); the target is made
// same-origin (redirect_target.h). A request without a usable Host gets 400.
Answer https_redirect_answer(const routing::RequestView& request);

}  // namespace sg::skew
