#include "skew/replay.h"

#include <algorithm>
#include <optional>
#include <string>

#include "routing/client_build.h"
#include "skew/answers.h"
#include "skew/redirect_target.h"

namespace sg::skew {
namespace {

using routing::ActionClient;
using routing::App;
using routing::Build;
using routing::iequals;

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// The first field of that name (an upstream sends each once).
std::string_view header(std::span<const routing::HeaderField> headers, std::string_view name) {
  for (const routing::HeaderField& field : headers)
    if (iequals(field.name, name)) return field.value;
  return {};
}

bool has_header(std::span<const routing::HeaderField> headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(),
                     [name](const routing::HeaderField& field) { return iequals(field.name, name); });
}

// The media type of a Content-Type value without its parameters (RFC 9110
// section 8.3.1: `type/subtype *( OWS ";" OWS parameter )`, case-insensitive).
std::string_view media_type(std::string_view content_type) {
  return trim(content_type.substr(0, content_type.find(';')));
}

// Does Accept name text/x-component (any case, any parameters)?
bool accepts_flight(const routing::RequestView& request) {
  std::string_view accept = request.header("accept");
  while (!accept.empty()) {
    const std::size_t comma = accept.find(',');
    if (iequals(media_type(accept.substr(0, comma)), "text/x-component")) return true;
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
  }
  return false;
}

bool tried_already(std::span<const Build* const> tried, const Build* build) {
  return std::find(tried.begin(), tried.end(), build) != tried.end();
}

}  // namespace

const char* to_string(NotFoundSignal signal) {
  switch (signal) {
    case NotFoundSignal::none: return "none";
    case NotFoundSignal::next_header: return "next_header";
    case NotFoundSignal::next_html_page: return "next_html_page";
    case NotFoundSignal::react_server_no_data: return "react_server_no_data";
  }
  return "none";
}

NotFoundSignal action_not_found_signal(const routing::RequestView& request,
                                       const routing::Classification& classification, const ResponseView& response) {
  // Actions are POSTs (Next.js handles them on POST only): nothing else is
  // ever replayed, whatever it carries.
  if (classification.kind != routing::RequestKind::action || request.method != "POST") return NotFoundSignal::none;
  // Next.js 15.4+ sets the header only where its action handler found no
  // action: 404 before 16.4, 409 "Server Action unavailable." from 16.4. Any
  // other status with it is not that answer.
  if ((response.status == 404 || response.status == 409) &&
      trim(header(response.headers, "x-nextjs-action-not-found")) == "1") {
    return NotFoundSignal::next_header;
  }
  switch (classification.action_client) {
    case ActionClient::next_js:
      // Next.js <= 15.3 renders the page for an action it does not know. A
      // known action answers text/x-component (the flight result) or
      // redirects (3xx, or 200 with x-action-redirect); never 200 text/html.
      // The Next.js client's fetch always accepts text/x-component: a
      // hand-made POST that carries next-action (to a route handler, say)
      // is not replayed because its handler answered HTML.
      if (response.status == 200 && accepts_flight(request) &&
          iequals(media_type(header(response.headers, "content-type")), "text/html") &&
          !has_header(response.headers, "x-action-redirect")) {
        return NotFoundSignal::next_html_page;
      }
      return NotFoundSignal::none;
    case ActionClient::form_post:
      // A no-JS form post is answered with the page by a build that knows the
      // action too: HTML says nothing here.
      return NotFoundSignal::none;
    case ActionClient::react_server:
      // @lazarv/react-server answers a function it does not know with 2xx
      // text/x-component without `react-server-data` (its GlobalError
      // render); every call that ran carries `react-server-data: rsc`.
      if (response.status >= 200 && response.status < 300 &&
          iequals(media_type(header(response.headers, "content-type")), "text/x-component") &&
          !has_header(response.headers, "react-server-data")) {
        return NotFoundSignal::react_server_no_data;
      }
      return NotFoundSignal::none;
    case ActionClient::none: return NotFoundSignal::none;
  }
  return NotFoundSignal::none;
}

// A build that may take a replay: kept (routing's one definition) and
// healthy, current included (an unhealthy current gets no second request).
bool is_replay_target(const Build& build) { return build.kept() && build.healthy; }

std::vector<const Build*> replay_candidates(const App& app, ActionClient client, std::string_view action_id,
                                            std::span<const Build* const> tried) {
  std::vector<const Build*> out;
  for (const Build* build : app.newest_first) {
    if (!is_replay_target(*build) || tried_already(tried, build)) continue;
    // A known ID set of the call's framework without the ID: that build
    // certainly lacks it. Another framework's set says nothing.
    if (routing::lacks_action(*build, client, action_id)) continue;
    out.push_back(build);
    if (out.size() == kMaxActionReplays) break;
  }
  return out;
}

bool asset_fallback_applies(const routing::RequestView& request, const Verdict& verdict) {
  if (verdict.app == nullptr || verdict.answer || verdict.target != verdict.app->current) return false;
  if (verdict.classification.kind != routing::RequestKind::asset) return false;
  if (request.method != "GET" && request.method != "HEAD") return false;
  if (verdict.app->config->assets.fallback_builds == 0) return false;
  // With `dpl` the request names its build: skew::decide routed it already.
  // (an empty `dpl=` names nothing, as in routing::resolve_client_build).
  const std::optional<std::string> dpl = routing::query_param(request.query(), "dpl");
  return !dpl || dpl->empty();
}

std::vector<const Build*> asset_fallback_candidates(const App& app) {
  std::vector<const Build*> out;
  const std::uint64_t limit = app.config->assets.fallback_builds;
  for (const Build* build : app.newest_first) {
    if (out.size() >= limit) break;
    if (build == app.current || !is_replay_target(*build)) continue;
    out.push_back(build);
  }
  return out;
}

void answer_action_not_found(Verdict& verdict, const routing::RequestView& request) {
  const App& app = *verdict.app;
  std::string where(request.path());
  if (const std::string_view query = request.query(); !query.empty()) where.append("?").append(query);
  where = same_origin_target(where);
  const std::string& id = verdict.client_build.id;
  const ReloadContext context{metrics::Reason::action_not_found,
                              id.empty() ? std::string_view("unknown") : std::string_view(id), app.current->id, where};
  verdict.answer = action_reload_answer(verdict.classification, app.config->skew, context);
  verdict.outcome = Outcome::answered;
  verdict.reason = metrics::Reason::action_not_found;
  verdict.target = nullptr;
  verdict.no_store_on_404 = false;
  // The reload answer is not a page: no pin rides on it.
  verdict.set_cookie.clear();
}

}  // namespace sg::skew
