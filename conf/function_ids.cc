// createServerReference("<id>" ...) -> id, decoding the JS string literal
// (ECMA-262 12.9.4 String Literals) exactly or not at all.
#include "conf/function_ids.h"

#include <cstdint>

namespace sg::conf {
namespace {

constexpr std::string_view kName = "createServerReference";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `count` hex digits at text[at...], or -1.
long hex_digits(std::string_view text, std::size_t at, std::size_t count) {
  if (at + count > text.size()) return -1;
  long value = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const int digit = hex_value(text[at + i]);
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// RFC 3629 well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2, cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (std::size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

enum class Literal { ok, refused, unterminated };

// The string literal whose opening quote is text[at]. Decodes into `out`;
// `end` is where the scan stopped: after the closing quote, or where it gave
// up (a line break, the end of the text, or the id grew too long), so the
// caller resumes there and no byte is scanned twice.
Literal read_literal(std::string_view text, std::size_t at, std::string& out, std::size_t& end) {
  const char quote = text[at];
  std::size_t i = at + 1;
  bool bad = false;
  while (i < text.size()) {
    if (out.size() > kMaxFunctionIdBytes) {
      end = i;
      return Literal::refused;
    }
    const char c = text[i];
    if (c == quote) {
      end = i + 1;
      return bad ? Literal::refused : Literal::ok;
    }
    if (quote == '`') {
      // A template with a substitution is not a constant id. Raw line breaks
      // are legal in a template: they decode to a control byte (refused).
      if (c == '$' && i + 1 < text.size() && text[i + 1] == '{') bad = true;
    } else if (c == '\n' || c == '\r') {
      break;  // not allowed raw in a JS string literal
    }
    if (c != '\\') {
      out.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 >= text.size()) break;
    const char e = text[i + 1];
    i += 2;
    switch (e) {
      case '\n':  // line continuation: contributes nothing
        break;
      case '\r':
        if (i < text.size() && text[i] == '\n') ++i;
        break;
      case 'n': out.push_back('\n'); break;  // control bytes: refused below
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'v': out.push_back('\v'); break;
      case '0':
        if (i < text.size() && text[i] >= '0' && text[i] <= '9') bad = true;  // legacy octal
        out.push_back('\0');
        break;
      case 'x': {
        const long v = hex_digits(text, i, 2);
        if (v < 0) {
          bad = true;
          break;
        }
        append_utf8(out, static_cast<std::uint32_t>(v));  // a code point, not a raw byte
        i += 2;
        break;
      }
      case 'u': {
        long cp = -1;
        if (i < text.size() && text[i] == '{') {
          const std::size_t close = text.find('}', i + 1);
          // At most 8 digits (leading zeros are legal): bounded, and > U+10FFFF is refused.
          if (close != std::string_view::npos && close > i + 1 && close - i - 1 <= 8) {
            cp = hex_digits(text, i + 1, close - i - 1);
            i = close + 1;
          }
        } else {
          cp = hex_digits(text, i, 4);
          if (cp >= 0) i += 4;
          // A high surrogate must be followed by \uDC00-\uDFFF: one code point.
          if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < text.size() && text[i] == '\\' && text[i + 1] == 'u') {
            const long low = hex_digits(text, i + 2, 4);
            if (low >= 0xDC00 && low <= 0xDFFF) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
              i += 6;
            }
          }
        }
        if (cp < 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
          bad = true;  // malformed, or a lone surrogate (not UTF-8)
          break;
        }
        append_utf8(out, static_cast<std::uint32_t>(cp));
        break;
      }
      default:
        // \1-\9: legacy octal (\8 \9 too); a non-ASCII byte: \u2028 continuations
        // and friends. Neither is worth decoding.
        if ((e >= '1' && e <= '9') || static_cast<unsigned char>(e) >= 0x80) {
          bad = true;
          break;
        }
        out.push_back(e);  // \" \' \\ \/ and every other identity escape
        break;
    }
  }
  end = i;
  return Literal::unterminated;
}

bool has_control_byte(std::string_view id) {
  for (char c : id)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  return false;
}

}  // namespace

void scan_function_ids(std::string_view chunk, FunctionIdScan& out) {
  std::size_t at = 0;
  while ((at = chunk.find(kName, at)) != std::string_view::npos) {
    at += kName.size();
    // The call's shapes: `createServerReference("id", ...)`, and what rolldown
    // writes for a CommonJS export, `(0,n.createServerReference)(`id`, ...)`.
    std::size_t p = at;
    while (p < chunk.size() && is_space(chunk[p])) ++p;
    if (p < chunk.size() && chunk[p] == ')') {
      ++p;
      while (p < chunk.size() && is_space(chunk[p])) ++p;
    }
    if (p >= chunk.size() || chunk[p] != '(') continue;  // an import, an export, a definition's name
    ++p;
    while (p < chunk.size() && is_space(chunk[p])) ++p;
    if (p >= chunk.size() || (chunk[p] != '"' && chunk[p] != '\'' && chunk[p] != '`')) {
      ++out.non_literal;
      at = p;
      continue;
    }
    std::string id;
    std::size_t end = p + 1;
    const Literal literal = read_literal(chunk, p, id, end);
    at = end;
    if (literal != Literal::ok || id.empty() || id.size() > kMaxFunctionIdBytes || has_control_byte(id) ||
        !valid_utf8(id)) {
      ++out.skipped;
      continue;
    }
    out.ids.push_back(std::move(id));
  }
}

}  // namespace sg::conf
