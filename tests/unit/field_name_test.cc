// is_field (gateway/http/field_name.h) answers as routing::iequals for every
// name it may meet: the forwarding rules' own names in any case, and every
// byte value at every position (a folded bit must match a letter only).
#include <doctest/doctest.h>

#include <string>

#include "gateway/http/connection_tokens.h"
#include "gateway/http/field_name.h"
#include "routing/request_view.h"

namespace {

using sg::gateway::FieldName;
using sg::gateway::is_field;
using sg::routing::iequals;

constexpr FieldName kShort{"te"};
constexpr FieldName kOdd{"x-real-ip"};
constexpr FieldName kLong{"x-middleware-subrequest"};
constexpr FieldName kTwo{"http2-settings"};
constexpr FieldName kOne{"a"};

void check_all_bytes(const FieldName& known, std::string lower) {
  CHECK(is_field(lower, known));
  for (std::size_t at = 0; at < lower.size(); ++at) {
    for (int byte = 0; byte < 256; ++byte) {
      std::string name = lower;
      name[at] = static_cast<char>(byte);
      INFO("name " << name << " at " << at << " byte " << byte);
      CHECK(is_field(name, known) == iequals(name, lower));
    }
  }
  CHECK_FALSE(is_field(lower + "x", known));
  CHECK_FALSE(is_field(lower.substr(0, lower.size() - 1), known));
}

}  // namespace

TEST_CASE("field name: is_field is routing::iequals, byte by byte") {
  check_all_bytes(kShort, "te");
  check_all_bytes(kOdd, "x-real-ip");
  check_all_bytes(kLong, "x-middleware-subrequest");
  check_all_bytes(kTwo, "http2-settings");
  check_all_bytes(kOne, "a");
  check_all_bytes(sg::gateway::kConnection, "connection");
  CHECK(is_field("X-Middleware-Subrequest", kLong));
  CHECK(is_field("HTTP2-SETTINGS", kTwo));
  CHECK(is_field("Connection", sg::gateway::kConnection));
  CHECK_FALSE(is_field("", kOne));
}
