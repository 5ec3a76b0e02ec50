#include "gateway/control/deployment_id_reader.h"

#include <cstdio>

namespace sg::gateway {
namespace {

using Status = HtmlIdScan::Status;

// HTML's ASCII whitespace (WHATWG infra): tab, LF, FF, CR, space.
bool is_space(char c) { return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals_ascii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != b[i]) return false;  // b is lower case
  return true;
}

HtmlIdScan absent(std::string_view why) { return {Status::absent, {}, why}; }

// What to say when the bytes end inside a construct.
HtmlIdScan ran_out(bool complete, std::string_view why) {
  return complete ? absent(why) : HtmlIdScan{Status::need_more, {}, {}};
}

// &#NN; / &#xHH; naming printable ASCII, else nothing.
bool numeric_reference(std::string_view ref, char& out) {
  bool hex = false;
  std::size_t i = 0;
  if (!ref.empty() && (ref[0] == 'x' || ref[0] == 'X')) {
    hex = true;
    i = 1;
  }
  if (i >= ref.size() || ref.size() - i > 6) return false;
  unsigned value = 0;
  for (; i < ref.size(); ++i) {
    const char c = ref[i];
    unsigned digit;
    if (c >= '0' && c <= '9') {
      digit = static_cast<unsigned>(c - '0');
    } else if (hex && lower(c) >= 'a' && lower(c) <= 'f') {
      digit = static_cast<unsigned>(lower(c) - 'a' + 10);
    } else {
      return false;
    }
    value = value * (hex ? 16 : 10) + digit;
  }
  if (value < 0x20 || value > 0x7e) return false;
  out = static_cast<char>(value);
  return true;
}

// React escapes attribute values with these; a deployment ID needs none of
// them, so nothing more of HTML's reference table is worth parsing.
std::string decode_references(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  std::size_t i = 0;
  while (i < value.size()) {
    if (value[i] != '&') {
      out.push_back(value[i++]);
      continue;
    }
    const std::size_t semi = value.find(';', i + 1);
    // References are short: a far ';' belongs to something else.
    if (semi == std::string_view::npos || semi - i > 10) {
      out.push_back(value[i++]);
      continue;
    }
    const std::string_view name = value.substr(i + 1, semi - i - 1);
    char decoded = 0;
    if (name == "amp") {
      decoded = '&';
    } else if (name == "quot") {
      decoded = '"';
    } else if (name == "apos") {
      decoded = '\'';
    } else if (name == "lt") {
      decoded = '<';
    } else if (name == "gt") {
      decoded = '>';
    } else if (!(name.size() > 1 && name[0] == '#' && numeric_reference(name.substr(1), decoded))) {
      out.push_back(value[i++]);
      continue;
    }
    out.push_back(decoded);
    i = semi + 1;
  }
  return out;
}

// The attributes of the `<html` start tag, from just after its name.
HtmlIdScan scan_html_attributes(std::string_view body, std::size_t i, bool complete) {
  constexpr std::string_view kAttribute = "data-dpl-id";
  constexpr std::string_view kUnterminated = "the <html> start tag does not end";
  bool found = false;
  std::string_view value_found;
  const std::size_t n = body.size();
  while (true) {
    while (i < n && (is_space(body[i]) || body[i] == '/')) ++i;
    if (i >= n) return ran_out(complete, kUnterminated);
    if (body[i] == '>') break;
    // Attribute name: a leading '=' belongs to it (WHATWG 13.2.5.32).
    const std::size_t name_start = i++;
    while (i < n && !is_space(body[i]) && body[i] != '/' && body[i] != '>' && body[i] != '=') ++i;
    if (i >= n) return ran_out(complete, kUnterminated);
    const std::string_view name = body.substr(name_start, i - name_start);
    std::size_t j = i;
    while (j < n && is_space(body[j])) ++j;
    if (j >= n) return ran_out(complete, kUnterminated);
    std::string_view value;
    if (body[j] == '=') {
      ++j;
      while (j < n && is_space(body[j])) ++j;
      if (j >= n) return ran_out(complete, kUnterminated);
      if (body[j] == '"' || body[j] == '\'') {
        const std::size_t close = body.find(body[j], j + 1);
        if (close == std::string_view::npos) return ran_out(complete, kUnterminated);
        value = body.substr(j + 1, close - j - 1);
        i = close + 1;
      } else if (body[j] == '>') {
        i = j;  // `name=>`: an empty value, then the tag ends
      } else {
        std::size_t end = j;
        while (end < n && !is_space(body[end]) && body[end] != '>') ++end;
        if (end >= n) return ran_out(complete, kUnterminated);
        value = body.substr(j, end - j);
        i = end;
      }
    } else {
      i = j;  // no value
    }
    if (!found && iequals_ascii(name, kAttribute)) {
      found = true;
      value_found = value;
    }
  }
  if (!found) return absent("the <html> start tag has no data-dpl-id");
  std::string id = decode_references(value_found);
  if (id.empty()) return absent("data-dpl-id is empty");
  return {Status::found, std::move(id), {}};
}

}  // namespace

std::string_view to_string(IdSource source) {
  switch (source) {
    case IdSource::header: return "x-nextjs-deployment-id header";
    case IdSource::html: return "<html data-dpl-id> attribute";
  }
  return "?";
}

HtmlIdScan scan_html_deployment_id(std::string_view body, bool complete) {
  const std::size_t n = body.size();
  std::size_t i = 0;
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  if (body.substr(0, 3) == kBom) i = 3;
  else if (n < 3 && kBom.substr(0, n) == body) return ran_out(complete, "no start tag");
  while (true) {
    while (i < n && is_space(body[i])) ++i;
    if (i >= n) return ran_out(complete, "no start tag");
    if (body[i] != '<') return absent("text before the first tag");
    if (i + 1 >= n) return ran_out(complete, "no start tag");
    const char next = body[i + 1];
    if (next == '!' || next == '?' || next == '/') {
      if (body.substr(i, 4) == "<!--") {
        // Searching from "<!" also ends the empty comments "<!-->" and
        // "<!--->" where the tokenizer ends them.
        const std::size_t end = body.find("-->", i + 2);
        if (end == std::string_view::npos) return ran_out(complete, "a comment does not end");
        i = end + 3;
        continue;
      }
      // A doctype, another declaration, a processing instruction or an end
      // tag: all end at the first '>' (a bogus comment, for the tokenizer).
      const std::size_t end = body.find('>', i + 2);
      if (end == std::string_view::npos) return ran_out(complete, "a declaration does not end");
      i = end + 1;
      continue;
    }
    if (!is_alpha(next)) return absent("text before the first tag");
    std::size_t j = i + 1;
    while (j < n && !is_space(body[j]) && body[j] != '/' && body[j] != '>') ++j;
    if (j >= n) return ran_out(complete, "the first start tag does not end");
    if (!iequals_ascii(body.substr(i + 1, j - i - 1), "html")) return absent("the first element is not <html>");
    return scan_html_attributes(body, j, complete);
  }
}

std::string header_deployment_id(const std::vector<routing::HeaderField>& headers) {
  std::string joined;
  std::string_view first;
  bool differ = false;
  for (const auto& field : headers) {
    if (!routing::iequals(field.name, kDeploymentIdHeader) || field.value.empty()) continue;
    if (first.empty()) {
      first = field.value;
      joined = field.value;
    } else if (field.value != first) {
      differ = true;
      joined += ", " + field.value;
    }
  }
  return differ ? joined : std::string(first);
}

std::string printable_reported_id(std::string_view id) {
  constexpr std::size_t kMax = 128;
  std::string out;
  for (std::size_t i = 0; i < id.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(id[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (id.size() > kMax) out += "...";
  return out;
}

}  // namespace sg::gateway
