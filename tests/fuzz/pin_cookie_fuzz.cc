// Fuzz target: the pin on the wire (skew/pin_cookie.h, skew/pin.h) with a
// fixed test keyring. The first byte chooses what the rest is:
//   even: Cookie header values, one per line, as a client sends them. The
//         pin cookie is looked up as decide() does and opened as a pin or
//         a preview token; the raw bytes are opened too (a preview link's
//         token comes from the query) and base64url-decoded. Checks: a found
//         value lies inside its header; only a pin of the expected app that
//         has not expired is valid; decoding is canonical (decode then
//         encode gives back the text).
//   odd:  `app \0 build \0 tamper` for a pin sealed by the current or the
//         previous key: it opens as itself with the rotated keyring, never
//         as the other kind, and changing any one character of its value
//         (position and replacement from `tamper`) never opens as valid.
// Nothing may crash, leak or read out of bounds (ASan, UBSan).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "routing/request_view.h"
#include "skew/pin.h"
#include "skew/pin_cookie.h"
#include "skew/pin_scratch.h"

namespace {

using sg::skew::OpenResult;
using sg::skew::Pin;
using sg::skew::PinKeyring;
using sg::skew::PinResult;

constexpr std::int64_t kNow = 1'700'000'000;
constexpr std::string_view kCookie = "skewgate_pin";
constexpr std::string_view kApp = "shop";

struct World {
  // Current key first, then the previous one (pins.previous_secrets).
  PinKeyring rotated{std::vector<std::string>{"fuzzing-secret-of-at-least-thirty-two-bytes",
                                              "previous-fuzzing-secret-of-thirty-two-bytes"}};
  PinKeyring previous{std::vector<std::string>{"previous-fuzzing-secret-of-thirty-two-bytes"}};
  sg::skew::PinScratch scratch;
};

World& world() {
  static World w;
  return w;
}

bool inside(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

void check_open(const OpenResult& opened) {
  if (opened.result == PinResult::valid && (opened.pin.app != kApp || kNow >= opened.pin.expires_at_s)) std::abort();
}

void cookies(std::string_view text, Pin::Kind kind) {
  World& w = world();
  std::vector<sg::routing::HeaderField> headers;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    headers.push_back({"Cookie", std::string(text.substr(0, end))});
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  for (const auto& field : headers) {
    const auto value = sg::skew::find_cookie(field.value, kCookie);
    if (value && !inside(*value, field.value)) std::abort();
  }
  // One pass for two names finds what two find_cookie passes find.
  const auto both = sg::skew::find_cookies(headers, kCookie, "__vdpl");
  if (both.first != sg::skew::find_cookie(headers, kCookie) || both.second != sg::skew::find_cookie(headers, "__vdpl"))
    std::abort();
  if (const auto value = sg::skew::find_cookie(headers, kCookie)) {
    check_open(w.rotated.open(*value, kApp, kNow, kind, &w.scratch));
    check_open(w.rotated.open(*value, kApp, kNow, kind));  // without the scratch's cache
  }
}

void raw(std::string_view text, Pin::Kind kind) {
  World& w = world();
  check_open(w.rotated.open(text, kApp, kNow, kind, &w.scratch));
  if (const auto decoded = sg::skew::base64url_decode(text)) {
    if (sg::skew::base64url_encode(*decoded) != text) std::abort();  // one encoding per byte string
  }
}

void sealed(std::string_view rest, Pin::Kind kind, bool by_previous) {
  World& w = world();
  const std::size_t a = rest.find('\0');
  if (a == std::string_view::npos) return;
  const std::size_t b = rest.find('\0', a + 1);
  if (b == std::string_view::npos) return;
  const std::string_view tamper = rest.substr(b + 1);
  Pin pin{std::string(rest.substr(0, a)), std::string(rest.substr(a + 1, b - a - 1)), kNow - 10, kNow + 3600, kind};
  const PinKeyring& signer = by_previous ? w.previous : w.rotated;
  const std::string value = signer.seal(pin, &w.scratch);
  if (value.empty()) {
    if (pin.app.size() <= 255 && pin.build.size() <= 255 && pin.app.size() + pin.build.size() < 200) std::abort();
    return;
  }
  if (value.size() > sg::skew::kMaxPinValueBytes) std::abort();
  if (sg::skew::base64url_decode(value.substr(sg::skew::kPinKeyIdChars + 1)) == std::nullopt) std::abort();
  const OpenResult opened = w.rotated.open(value, pin.app, kNow, kind, &w.scratch);
  if (opened.result != PinResult::valid || opened.pin.app != pin.app || opened.pin.build != pin.build ||
      opened.pin.expires_at_s != pin.expires_at_s || opened.pin.kind != kind)
    std::abort();
  const Pin::Kind other = kind == Pin::Kind::pin ? Pin::Kind::preview : Pin::Kind::pin;
  if (w.rotated.open(value, pin.app, kNow, other, &w.scratch).result != PinResult::tampered) std::abort();
  if (w.rotated.open(value, pin.app, pin.expires_at_s, kind, &w.scratch).result != PinResult::expired) std::abort();
  if (tamper.size() >= 2) {
    std::string changed = value;
    const std::size_t at = static_cast<unsigned char>(tamper[0]) * 256u % changed.size() +
                           static_cast<unsigned char>(tamper[1]) % changed.size();
    const char replacement = tamper.size() >= 3 ? tamper[2] : 'A';
    changed[at % changed.size()] = replacement;
    if (changed != value && w.rotated.open(changed, pin.app, kNow, kind, &w.scratch).result == PinResult::valid)
      std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Pin::Kind kind = (mode & 2) ? Pin::Kind::preview : Pin::Kind::pin;
  if ((mode & 1) == 0) {
    cookies(rest, kind);
    raw(rest, kind);
  } else {
    sealed(rest, kind, (mode & 4) != 0);
  }
  return 0;
}
