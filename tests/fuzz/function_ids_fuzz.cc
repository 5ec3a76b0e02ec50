// Fuzz target: react-server server-function ids from a client chunk's text
// (conf/function_ids.h). The first byte chooses what the rest is:
//   even: a chunk. Checks: every id is non-empty, at most kMaxFunctionIdBytes,
//         free of control bytes and well-formed UTF-8; there are never more
//         ids + refusals + non-literal calls than occurrences of the name;
//         with no occurrence nothing is found.
//   odd:  an id. It is written as a JS literal the way a bundler might (each
//         character plain or escaped: \" \\ \/ \xHH \uXXXX with surrogate
//         pairs, \u{...}, in "", '' or `` quotes, chosen by the bytes), inside
//         `(0,n.createServerReference)(...)`. Checks: an id the extractor
//         admits (non-empty, bounded, no control byte, UTF-8) comes back
//         exactly, and an id it does not admit is counted as skipped.
// Nothing may crash, leak or read out of bounds (ASan, UBSan).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "conf/function_ids.h"

namespace {

using sg::conf::FunctionIdScan;
using sg::conf::kMaxFunctionIdBytes;

std::size_t occurrences(std::string_view text, std::string_view what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string_view::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The next code point of well-formed UTF-8 at s[i], or -1 (and i advances by one).
long next_code_point(std::string_view s, std::size_t& i) {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = c < 0x80 ? 0 : c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2 : c >= 0xF0 && c <= 0xF4 ? 3 : 9;
  if (n == 9 || (n > 0 && i + n >= s.size())) {
    ++i;
    return -1;
  }
  long cp = n == 0 ? c : n == 1 ? (c & 0x1F) : n == 2 ? (c & 0x0F) : (c & 0x07);
  for (std::size_t k = 1; k <= n; ++k) {
    const auto d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) {
      ++i;
      return -1;
    }
    cp = (cp << 6) | (d & 0x3F);
  }
  if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return -1;
  }
  i += n + 1;
  return cp;
}

bool admitted(std::string_view id) {
  if (id.empty() || id.size() > kMaxFunctionIdBytes) return false;
  for (std::size_t i = 0; i < id.size();) {
    const long cp = next_code_point(id, i);
    if (cp < 0x20 || cp == 0x7f) return false;
  }
  return true;
}

void chunk_checks(std::string_view chunk) {
  FunctionIdScan scan;
  sg::conf::scan_function_ids(chunk, scan);
  for (const std::string& id : scan.ids)
    if (!admitted(id)) std::abort();
  if (scan.ids.size() + scan.skipped + scan.non_literal > occurrences(chunk, "createServerReference")) std::abort();
}

void hex(std::string& out, long value, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) out.push_back(kHex[(value >> shift) & 0xF]);
}

void round_trip_checks(std::string_view input) {
  if (input.empty()) return;
  const unsigned choice = static_cast<unsigned char>(input[0]);
  const char quote = "\"'`"[choice % 3];
  const std::string_view id = input.substr(1);
  std::string literal(1, quote);
  std::size_t i = 0;
  unsigned style = choice;
  while (i < id.size()) {
    const std::size_t start = i;
    const long cp = next_code_point(id, i);
    style = style * 1103515245u + 12345u;
    const unsigned pick = (style >> 16) % 4;
    if (cp < 0) {  // not UTF-8: written raw, so the extractor must refuse it
      literal.push_back(id[start]);
    } else if (cp == quote || cp == '\\' || (quote == '`' && cp == '$') || pick == 1) {
      if (cp < 0x100 && pick != 2) {
        literal += "\\x";
        hex(literal, cp, 2);
      } else if (cp < 0x10000) {
        literal += "\\u";
        hex(literal, cp, 4);
      } else {
        const long v = cp - 0x10000;
        literal += "\\u";
        hex(literal, 0xD800 + (v >> 10), 4);
        literal += "\\u";
        hex(literal, 0xDC00 + (v & 0x3FF), 4);
      }
    } else if (pick == 2) {
      literal += "\\u{";
      hex(literal, cp, 6);
      literal += "}";
    } else if (cp == '/' && pick == 3) {
      literal += "\\/";
    } else if (cp == '\n' || cp == '\r') {
      literal += cp == '\n' ? "\\n" : "\\r";  // raw line breaks end a "" literal
    } else {
      literal.append(id.substr(start, i - start));
    }
  }
  literal.push_back(quote);
  const std::string chunk = "var n=t();const r=(0,n.createServerReference)(" + literal + ",__react_server_callServer__);";
  FunctionIdScan scan;
  sg::conf::scan_function_ids(chunk, scan);
  if (admitted(id)) {
    if (scan.ids.size() != 1 || scan.ids[0] != id || scan.skipped != 0) std::abort();
  } else {
    // The literal itself is refused; an id holding the name may add calls of its own.
    if (scan.skipped < 1) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    chunk_checks(rest);
  } else {
    round_trip_checks(rest);
  }
  return 0;
}
