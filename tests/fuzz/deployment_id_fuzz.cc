// Fuzz target: the deployment ID a build reports (gateway/deployment_id_reader.h),
// read from an upstream's bytes. The first byte chooses what the rest is:
//   even: a response body. Checks: a complete body is never "need more"; a
//         found ID is non-empty and, when the body holds no '&' (nothing to
//         decode), lies in the body; and the probe's reading by prefixes is sound:
//         whatever a prefix already decides (found or absent, not complete)
//         is what the whole body decides, so stopping early never changes
//         the verdict (every cut for bodies up to 1 KiB, 16 cuts above).
//   odd:  header fields, one "name: value" per line. Checks: an ID is found
//         exactly when some x-nextjs-deployment-id field has a value, and its
//         printable form is printable ASCII of bounded length.
// Nothing may crash, leak or read out of bounds (ASan, UBSan).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/control/deployment_id_reader.h"

namespace {

using sg::gateway::HtmlIdScan;

void body_checks(std::string_view body) {
  const HtmlIdScan whole = sg::gateway::scan_html_deployment_id(body, true);
  if (whole.status == HtmlIdScan::Status::need_more) std::abort();
  if (whole.status == HtmlIdScan::Status::found) {
    if (whole.id.empty()) std::abort();
    if (body.find('&') == std::string_view::npos && body.find(whole.id) == std::string_view::npos) std::abort();
  }
  const std::size_t step = body.size() <= 1024 ? 1 : body.size() / 16;
  for (std::size_t cut = 0; cut < body.size(); cut += step) {
    const HtmlIdScan part = sg::gateway::scan_html_deployment_id(body.substr(0, cut), false);
    if (part.status == HtmlIdScan::Status::need_more) continue;
    if (part.status != whole.status || part.id != whole.id) std::abort();
  }
}

void header_checks(std::string_view text) {
  std::vector<sg::routing::HeaderField> fields;
  bool expect = false;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t end = text.find('\n', i);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(i, end - i);
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      sg::routing::HeaderField f{std::string(line.substr(0, colon)), std::string(line.substr(colon + 1))};
      if (sg::routing::iequals(f.name, sg::gateway::kDeploymentIdHeader) && !f.value.empty()) expect = true;
      fields.push_back(std::move(f));
    }
    i = end + 1;
  }
  const std::string id = sg::gateway::header_deployment_id(fields);
  if (id.empty() == expect) std::abort();
  const std::string shown = sg::gateway::printable_reported_id(id);
  if (shown.size() > 128 * 4 + 3) std::abort();
  for (char c : shown)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    body_checks(rest);
  } else {
    header_checks(rest);
  }
  return 0;
}
