#include "routing/request_kind.h"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <vector>

namespace sg::routing {

const char* to_string(RequestKind kind) {
  switch (kind) {
    case RequestKind::upgrade: return "upgrade";
    case RequestKind::action: return "action";
    case RequestKind::rsc: return "rsc";
    case RequestKind::asset: return "asset";
    case RequestKind::document: return "document";
    case RequestKind::other: return "other";
  }
  return "other";
}

const char* to_string(RequestFramework framework) {
  switch (framework) {
    case RequestFramework::none: return "none";
    case RequestFramework::next: return "next";
    case RequestFramework::react_server: return "react-server";
  }
  return "none";
}

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

constexpr char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// `needle` anywhere in `haystack`, ASCII case-insensitively. Each start is
// first tested on one lower-cased character, the rest compared only there:
// a browser's document Accept (67 bytes) cost ~1.2k instructions with a
// full iequals per start (callgrind, mix_document), on every request.
bool icontains(std::string_view haystack, std::string_view needle) {
  if (needle.empty()) return true;
  if (needle.size() > haystack.size()) return false;
  const char first = ascii_lower(needle.front());
  const std::string_view rest = needle.substr(1);
  const std::size_t last = haystack.size() - needle.size();  // the last possible start
  for (std::size_t i = 0; i <= last; ++i) {
    if (ascii_lower(haystack[i]) == first && iequals(haystack.substr(i + 1, rest.size()), rest)) return true;
  }
  return false;
}

// True when any field `name` holds `token` in its comma-separated list
// (RFC 9110 section 5.6.1), compared case-insensitively.
bool has_token(const RequestView& request, std::string_view name, std::string_view token) {
  for (const HeaderField& field : request.headers) {
    if (!iequals(field.name, name)) continue;
    std::string_view list = field.value;
    while (!list.empty()) {
      const std::size_t comma = list.find(',');
      if (iequals(trim(list.substr(0, comma)), token)) return true;
      list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    }
  }
  return false;
}

// "multipart/form-data; boundary=x" -> "multipart/form-data" (not lower-cased).
std::string_view media_type(std::string_view content_type) {
  return trim(content_type.substr(0, content_type.find(';')));
}

bool is_multipart(std::string_view content_type) { return iequals(media_type(content_type), "multipart/form-data"); }
bool is_urlencoded(std::string_view content_type) {
  return iequals(media_type(content_type), "application/x-www-form-urlencoded");
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding; `plus_is_space` for application/x-www-form-urlencoded.
// nullopt on a malformed escape.
std::optional<std::string> percent_decode(std::string_view raw, bool plus_is_space) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else if (c != '%') {
      out.push_back(c);
    } else {
      if (i + 2 >= raw.size()) return std::nullopt;
      const int high = hex_value(raw[i + 1]);
      const int low = hex_value(raw[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    }
  }
  return out;
}

// A complete form field seen in the body prefix. `value` is set only for
// fields whose value React's action decoding reads (`$ACTION_<n>:0`).
struct FormField {
  std::string name;
  std::optional<std::string> value;
};

constexpr std::string_view kActionId = "$ACTION_ID_";
constexpr std::string_view kActionRef = "$ACTION_REF_";

bool wants_value(std::string_view name) { return name.starts_with("$ACTION_") && name.ends_with(":0"); }

// The value of parameter `name` in a header value such as
// `form-data; name="x"; filename="y"`; quoted or token. nullopt when absent.
std::optional<std::string_view> header_param(std::string_view value, std::string_view name) {
  std::size_t semicolon = value.find(';');
  while (semicolon != std::string_view::npos) {
    std::string_view rest = trim(value.substr(semicolon + 1));
    const std::size_t equals = rest.find('=');
    if (equals == std::string_view::npos) return std::nullopt;
    const std::string_view key = trim(rest.substr(0, equals));
    std::string_view param = trim(rest.substr(equals + 1));
    std::string_view param_value;
    std::size_t consumed = 0;
    if (!param.empty() && param.front() == '"') {
      const std::size_t close = param.find('"', 1);
      if (close == std::string_view::npos) return std::nullopt;
      param_value = param.substr(1, close - 1);
      consumed = close + 1;
    } else {
      consumed = param.find(';');
      param_value = trim(param.substr(0, consumed));
    }
    if (iequals(key, name)) return param_value;
    if (consumed == std::string_view::npos || consumed >= param.size()) return std::nullopt;
    value = param.substr(consumed);
    semicolon = value.find(';');
  }
  return std::nullopt;
}

// The complete fields of a multipart/form-data prefix (RFC 7578). A part
// counts once its headers are complete; a value is kept only when the part
// is closed by the next delimiter within the prefix.
std::vector<FormField> multipart_fields(std::string_view content_type, std::string_view body) {
  std::vector<FormField> fields;
  const auto boundary = header_param(content_type, "boundary");
  if (!boundary || boundary->empty()) return fields;
  const std::string delimiter = "--" + std::string(*boundary);
  const std::string next_delimiter = "\r\n" + delimiter;

  // The first delimiter may be preceded by a preamble.
  std::size_t at = body.starts_with(delimiter) ? 0 : body.find(next_delimiter);
  if (at == std::string_view::npos) return fields;
  at = body.starts_with(delimiter) ? delimiter.size() : at + next_delimiter.size();
  while (at < body.size()) {
    // After a delimiter: "--" ends the body, CRLF starts a part.
    std::string_view rest = body.substr(at);
    if (rest.starts_with("--")) break;
    const std::size_t line_end = rest.find("\r\n");
    if (line_end == std::string_view::npos) break;  // cut inside transport padding
    rest.remove_prefix(line_end + 2);
    const std::size_t headers_end = rest.find("\r\n\r\n");
    if (headers_end == std::string_view::npos) break;  // cut inside the part's headers
    std::string_view headers = rest.substr(0, headers_end + 2);
    std::string_view content = rest.substr(headers_end + 4);

    std::optional<std::string> name;
    while (!headers.empty()) {
      const std::size_t end = headers.find("\r\n");
      const std::string_view line = headers.substr(0, end);
      headers.remove_prefix(end + 2);
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos || !iequals(trim(line.substr(0, colon)), "content-disposition")) continue;
      if (const auto param = header_param(line.substr(colon + 1), "name")) name = std::string(*param);
    }

    const std::size_t close = content.find(next_delimiter);
    if (name) {
      FormField field{std::move(*name), std::nullopt};
      if (close != std::string_view::npos && wants_value(field.name)) field.value = std::string(content.substr(0, close));
      fields.push_back(std::move(field));
    }
    if (close == std::string_view::npos) break;  // cut inside the part's content
    at = static_cast<std::size_t>(content.data() - body.data()) + close + next_delimiter.size();
  }
  return fields;
}

// The fields of an application/x-www-form-urlencoded prefix. A field counts
// once its name is complete (its '=' is in the prefix); its value is kept
// only when an '&' ends it (the last value may be cut, and a cut JSON value
// would fail to parse anyway).
std::vector<FormField> urlencoded_fields(std::string_view body) {
  std::vector<FormField> fields;
  while (!body.empty()) {
    const std::size_t amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    const std::size_t equals = pair.find('=');
    if (equals == std::string_view::npos) continue;  // no value, or a name cut off by the prefix
    auto name = percent_decode(pair.substr(0, equals), true);
    if (!name) continue;
    FormField field{std::move(*name), std::nullopt};
    if (wants_value(field.name)) field.value = percent_decode(pair.substr(equals + 1), true);
    fields.push_back(std::move(field));
  }
  return fields;
}

// React's decodeAction: the field `$ACTION_<n>:0` holds {"id": ..., "bound": ...}.
std::optional<std::string> bound_action_id(const std::vector<FormField>& fields, std::string_view ref) {
  const std::string wanted = "$ACTION_" + std::string(ref) + ":0";
  for (const FormField& field : fields) {
    if (field.name != wanted || !field.value) continue;
    const auto json = nlohmann::json::parse(*field.value, nullptr, /*allow_exceptions=*/false);
    if (!json.is_object()) return std::nullopt;
    const auto id = json.find("id");
    if (id == json.end() || !id->is_string()) return std::nullopt;
    return id->get<std::string>();
  }
  return std::nullopt;
}

// A media range's q parameter is zero: "not acceptable" (RFC 9110 section
// 12.4.2: qvalue = "0" [ "." 0*3DIGIT ] / "1" [ "." 0*3("0") ]).
bool refused_by_q(std::string_view range) {
  std::size_t semicolon = range.find(';');
  while (semicolon != std::string_view::npos) {
    range.remove_prefix(semicolon + 1);
    semicolon = range.find(';');
    const std::string_view param = trim(range.substr(0, semicolon));
    const std::size_t equals = param.find('=');
    if (equals == std::string_view::npos || !iequals(trim(param.substr(0, equals)), "q")) continue;
    const std::string_view q = trim(param.substr(equals + 1));
    return !q.empty() && q.front() == '0' && q.find_first_not_of("0.") == std::string_view::npos;
  }
  return false;
}

// Accept (RFC 9110 section 12.5.1, a list of media ranges, possibly over
// several fields) names text/html with a q above zero. `*/*` and `text/*`
// do not count: every fetch() sends `*/*`.
bool accepts_html(const RequestView& request) {
  for (const HeaderField& field : request.headers) {
    if (!iequals(field.name, "accept")) continue;
    std::string_view list = field.value;
    while (!list.empty()) {
      const std::size_t comma = list.find(',');
      const std::string_view range = list.substr(0, comma);
      list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
      if (iequals(media_type(range), "text/html") && !refused_by_q(range)) return true;
    }
  }
  return false;
}

// A navigation: the only request kind a reload lands on, and the only one
// pinned (design.md section 3). Fetch Metadata (W3C, sent by every current
// browser) says so directly: mode `navigate`, or a document/frame
// destination. A request without any Sec-Fetch-* header (an old browser, a
// crawler, curl) is a navigation when it asks for HTML and carries no
// x-deployment-id: a browser cannot add a header to a navigation, so that
// header means script. Only GET and HEAD load documents: a POST navigation
// (a plain form) stays `other` and follows its tab's build.
bool is_navigation(const RequestView& request) {
  if (request.method != "GET" && request.method != "HEAD") return false;
  bool fetch_metadata = false;
  for (const HeaderField& field : request.headers) {
    const std::string_view name = field.name;
    if (name.size() <= 10 || !iequals(name.substr(0, 10), "sec-fetch-")) continue;
    fetch_metadata = true;
    if (iequals(name, "sec-fetch-mode") && iequals(field.value, "navigate")) return true;
    if (iequals(name, "sec-fetch-dest") &&
        (iequals(field.value, "document") || iequals(field.value, "iframe") || iequals(field.value, "frame"))) {
      return true;
    }
  }
  if (fetch_metadata) return false;
  return !request.has_header("x-deployment-id") && accepts_html(request);
}

}  // namespace

bool is_react_server_flight_path(std::string_view path) { return path.ends_with("rsc.x-component"); }

namespace {

bool speaks_next(conf::Framework framework) { return framework != conf::Framework::react_server; }
bool speaks_react_server(conf::Framework framework) { return framework != conf::Framework::next; }

// The header action shapes (classify step 2), as the profile recognises them.
bool next_header_action(const RequestView& request, conf::Framework framework) {
  return speaks_next(framework) && request.has_header("next-action");
}
bool react_server_header_action(const RequestView& request, conf::Framework framework) {
  return speaks_react_server(framework) && request.method == "POST" && request.has_header("react-server-action") &&
         is_react_server_flight_path(request.path());
}

bool peek_wanted(const RequestView& request, const conf::ActionsConfig& actions, conf::Framework framework) {
  if (!actions.inspect_form_posts || actions.inspect_bytes == 0) return false;
  if (request.method != "POST") return false;
  if (next_header_action(request, framework) || react_server_header_action(request, framework)) return false;
  const std::string_view content_type = request.header("content-type");
  return is_multipart(content_type) || is_urlencoded(content_type);
}

}  // namespace

bool needs_body_peek(const RequestView& request, const conf::AppConfig& app) {
  return peek_wanted(request, app.actions, app.framework);
}

bool needs_body_peek(const RequestView& request, const conf::ActionsConfig& actions) {
  return peek_wanted(request, actions, conf::Framework::auto_detect);
}

// React decodes every `$ACTION_` field and the last one wins (a submit
// button's formAction overrides the form's action), so the last marker
// among the complete fields names the action.
std::optional<std::string> find_form_action_id(std::string_view content_type, std::string_view body_prefix) {
  std::vector<FormField> fields;
  if (is_multipart(content_type)) {
    fields = multipart_fields(content_type, body_prefix);
  } else if (is_urlencoded(content_type)) {
    fields = urlencoded_fields(body_prefix);
  } else {
    return std::nullopt;
  }
  for (auto it = fields.rbegin(); it != fields.rend(); ++it) {
    const std::string_view name = it->name;
    if (name.starts_with(kActionId) && name.size() > kActionId.size()) {
      return std::string(name.substr(kActionId.size()));
    }
    if (name.starts_with(kActionRef)) return bound_action_id(fields, name.substr(kActionRef.size()));
  }
  return std::nullopt;
}

Classification classify(const RequestView& request, const conf::AppConfig& app, std::string_view body_peek) {
  Classification out;
  const std::string_view accept = request.header("accept");
  out.wants_json = icontains(accept, "application/json") && !icontains(accept, "text/x-component");

  // 1. A WebSocket handshake (RFC 6455 section 4.1): tunnelled after routing.
  if (has_token(request, "connection", "upgrade") && has_token(request, "upgrade", "websocket")) {
    out.kind = RequestKind::upgrade;
    return out;
  }

  // 2. Actions. Next.js names the action in a header (any method reaches
  //    classification, but only its POSTs carry it).
  const conf::Framework framework = app.framework;
  if (next_header_action(request, framework)) {
    out.kind = RequestKind::action;
    out.framework = RequestFramework::next;
    out.action_client = ActionClient::next_js;
    out.action_id = std::string(request.header("next-action"));
    return out;
  }
  if (react_server_header_action(request, framework)) {
    // @lazarv/react-server sends encodeURIComponent(id): "src%2Fa.ts%23f".
    // The ID is opaque (newer releases send an encrypted token): decoded,
    // compared, never parsed.
    const std::string_view raw = request.header("react-server-action");
    out.kind = RequestKind::action;
    out.framework = RequestFramework::react_server;
    out.action_client = ActionClient::react_server;
    out.action_id = percent_decode(raw, false).value_or(std::string(raw));
    return out;
  }
  if (!body_peek.empty() && needs_body_peek(request, app)) {
    if (auto id = find_form_action_id(request.header("content-type"), body_peek)) {
      out.kind = RequestKind::action;
      // Both frameworks post the same `$ACTION_ID_` field: the profile says
      // whose it is, `auto` cannot tell.
      switch (framework) {
        case conf::Framework::next: out.framework = RequestFramework::next; break;
        case conf::Framework::react_server: out.framework = RequestFramework::react_server; break;
        case conf::Framework::auto_detect: break;
      }
      out.action_client = ActionClient::form_post;
      out.action_id = std::move(*id);
      return out;
    }
  }

  // 3. RSC navigation or prefetch (header value exactly "1", as Next sends).
  if (speaks_next(framework) && request.header("rsc") == "1") {
    out.kind = RequestKind::rsc;
    out.framework = RequestFramework::next;
    out.prefetch = request.header("next-router-prefetch") == "1" ||
                   request.has_header("next-router-segment-prefetch");
    return out;
  }
  // ...or a react-server client navigation: the flight endpoint without
  // React-Server-Action (a POST whose body is `{}`). skew::decide sends it to
  // the build a document would load (current), never answers it 409: the
  // react-server client would change the URL and keep the old content.
  if (speaks_react_server(framework) && request.method == "POST" && is_react_server_flight_path(request.path())) {
    out.kind = RequestKind::rsc;
    out.framework = RequestFramework::react_server;
    return out;
  }

  // 4. Static assets.
  const std::string_view path = request.path();
  for (const std::string& prefix : app.asset_prefixes) {
    if (!prefix.empty() && path.starts_with(prefix)) {
      out.kind = RequestKind::asset;
      return out;
    }
  }

  // 5. Navigations; 6. everything else (API GETs, favicons, preflights,
  //    webhooks): routed by header, dpl or pin like a POST.
  out.kind = is_navigation(request) ? RequestKind::document : RequestKind::other;
  return out;
}

}  // namespace sg::routing
