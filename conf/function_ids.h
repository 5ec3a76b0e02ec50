// react-server server-function ids from the text of a client chunk. Pure: no
// I/O (the directory walk is conf/function_dir.h).
//
// @lazarv/react-server's build writes, for every server function a client
// component can call, a call of React's createServerReference with the id as
// a constant into the client chunks (`<outDir>/client/**/*.mjs`). Measured
// (0.0.0-experimental-ea7a06c-20251214, rolldown-minified):
//   const r=(0,n.createServerReference)(`/app/src/actions.mjs#greet`,__react_server_callServer__)
// i.e. a template literal and a parenthesised callee. The id is what the browser
// later sends in `React-Server-Action` (URI-encoded). Ids are opaque: today
// `<source path>#<export>`, in newer releases an encrypted token. They are
// never parsed here, only decoded from their JS string literal.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sg::conf {

// An id longer than this (decoded) is skipped: a real id is a file path and
// an export name, or a token of a few hundred bytes.
inline constexpr std::size_t kMaxFunctionIdBytes = 4096;

struct FunctionIdScan {
  std::vector<std::string> ids;  // in the order found; may repeat
  // A call whose first argument is a string literal that was refused:
  // unterminated, longer than kMaxFunctionIdBytes, holding a control byte
  // (after decoding) or an escape that cannot be decoded exactly (legacy
  // octal, a lone surrogate, a code point above U+10FFFF).
  std::size_t skipped = 0;
  // A call (or the runtime's own `function createServerReference(e,t)`)
  // whose first argument is not a literal. Not an error: counted.
  std::size_t non_literal = 0;
};

// Appends the first argument of every call `createServerReference(` or
// `createServerReference)(` that is a JS string literal ("...", '...', or a
// template `...` without substitutions; whitespace allowed around the
// parentheses) to out.ids.
// Linear in chunk.size(): every byte is looked at a bounded number of times.
void scan_function_ids(std::string_view chunk, FunctionIdScan& out);

}  // namespace sg::conf
