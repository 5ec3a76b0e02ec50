// Reads the deployment ID a build reports about itself in its answer to a
// navigation (design.md section 2: Next.js 16 answers with the header
// `x-nextjs-deployment-id` and renders `<html data-dpl-id="...">`). Used to
// check, before a build is registered or promoted, that it is the build it is
// registered as (issue 14 item 6). Pure: no sockets, no allocation beyond the
// value it returns.
//
// The body is an upstream's bytes, so the HTML reader is narrow, linear and
// never looks past its input:
// - only the first start tag counts, and only when it is `<html` (names are
//   ASCII case-insensitive); a BOM, whitespace, comments (`<!-- -->`), a
//   doctype or other `<!...>`/`<?...>` declarations and end tags may come
//   first. Text, or any other element first, means no ID: an attribute in a
//   comment, in `<head>`, in a script or in a later `<html>` is never read;
// - attributes as the HTML tokenizer splits them (double, single or
//   unquoted values; a valueless attribute; `/` between attributes); the
//   first `data-dpl-id` wins, as the HTML spec keeps the first duplicate;
// - in the value only `&amp; &quot; &apos; &lt; &gt;` and numeric
//   references to printable ASCII are decoded; anything else stays as it is;
// - a tag, comment or declaration that does not end within the bytes given
//   is "need more" until the caller says the body is complete (it stops at
//   its own byte limit), then "absent": no ID was reported.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "routing/request_view.h"

namespace sg::gateway {

inline constexpr std::string_view kDeploymentIdHeader = "x-nextjs-deployment-id";

// How a reported ID was read; the admin error and the logs name it.
enum class IdSource { header, html };
std::string_view to_string(IdSource source);  // "x-nextjs-deployment-id header", "<html data-dpl-id> attribute"

struct HtmlIdScan {
  enum class Status { found, absent, need_more };
  Status status = Status::absent;
  std::string id;        // found: the value, references decoded (never empty)
  std::string_view why;  // absent: a short reason for the logs
};

// `body`: the response body read so far. `complete`: nothing more will be
// read (end of the body, or the caller's limit), so a construct still open
// is not waited for. An empty `data-dpl-id` is no ID.
HtmlIdScan scan_html_deployment_id(std::string_view body, bool complete);

// The non-empty values of every `x-nextjs-deployment-id` field, joined with
// ", " when several differ (no build ID contains ", ", so two different
// values never equal the registered ID). Empty: no ID in the header.
std::string header_deployment_id(const std::vector<routing::HeaderField>& headers);

// A reported ID as it may appear in a message or a log line: printable
// ASCII kept, other bytes as \xNN, cut at 128 bytes with "...".
std::string printable_reported_id(std::string_view id);

}  // namespace sg::gateway
