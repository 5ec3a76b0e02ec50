#include "skew/redirect_target.h"

namespace sg::skew {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

void append_escaped(std::string& out, unsigned char c) {
  out.push_back('%');
  out.push_back(kHex[c >> 4]);
  out.push_back(kHex[c & 0xF]);
}

// The path of an absolute-form target (RFC 9112 3.2.2) from its first '/'
// after "scheme://authority", with the query; "/" when there is none.
// Anything else that does not start with '/' (asterisk-form, authority-form)
// also answers "/".
std::string_view origin_form(std::string_view target) {
  if (target.starts_with('/')) return target;
  const std::size_t scheme = target.find("://");
  if (scheme == std::string_view::npos) return "/";
  const std::size_t rest = target.find_first_of("/?", scheme + 3);
  if (rest == std::string_view::npos) return "/";
  return target.substr(rest);  // may start with '?': the caller adds the '/'
}

}  // namespace

std::string same_origin_target(std::string_view target) {
  std::string_view view = origin_form(target);
  std::string out;
  out.reserve(view.size() + 1);
  out.push_back('/');
  // One '/' stands for the whole leading run of '/' and '\'.
  while (!view.empty() && (view.front() == '/' || view.front() == '\\')) view.remove_prefix(1);
  for (const char ch : view) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7F)
      append_escaped(out, c);
    else
      out.push_back(ch);
  }
  return out;
}

std::string header_token(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                       c == '_' || c == '-';
    if (plain)
      out.push_back(ch);
    else
      append_escaped(out, c);
  }
  return out;
}

}  // namespace sg::skew
