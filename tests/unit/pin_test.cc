// Signed pins: seal/open round trips and every way a value can be wrong.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "skew/pin.h"

using sg::skew::base64url_decode;
using sg::skew::base64url_encode;
using sg::skew::kMaxPinValueBytes;
using sg::skew::OpenResult;
using sg::skew::Pin;
using sg::skew::PinKeyring;
using sg::skew::PinResult;

namespace {

const std::string kSecret = "correct horse battery staple, thirty-two+";
const std::string kOldSecret = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const std::string kOtherSecret = "an entirely different secret of 32+ bytes";
constexpr std::int64_t kNow = 1'700'000'000;
constexpr std::int64_t kWeek = 7 * 24 * 3600;
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

Pin shop_pin(Pin::Kind kind = Pin::Kind::pin) {
  return Pin{"shop", "dpl-2026-11-24-a1b2", kNow, kNow + kWeek, kind};
}

std::string body_of(const std::string& value) { return value.substr(9); }

}  // namespace

TEST_CASE("pin: seal then open gives the pin back") {
  const PinKeyring keys({kSecret});
  REQUIRE(keys.ok());
  for (const Pin::Kind kind : {Pin::Kind::pin, Pin::Kind::preview}) {
    const Pin pin = shop_pin(kind);
    const std::string value = keys.seal(pin);
    REQUIRE_FALSE(value.empty());
    CHECK(value.size() <= kMaxPinValueBytes);
    CHECK(value.substr(0, 9) == keys.signing_key_id() + ".");
    // Cookie- and URL-safe; names nothing in clear.
    CHECK(value.find_first_not_of("0123456789abcdef.ABCDEFGHIJKLMNOPQRSTUVWXYZghijklmnopqrstuvwxyz-_") ==
          std::string::npos);
    CHECK(value.find("shop") == std::string::npos);
    CHECK(value.find("dpl-") == std::string::npos);

    const OpenResult opened = keys.open(value, "shop", kNow, kind);
    CHECK(opened.result == PinResult::valid);
    CHECK(opened.pin.app == pin.app);
    CHECK(opened.pin.build == pin.build);
    CHECK(opened.pin.issued_at_s == pin.issued_at_s);
    CHECK(opened.pin.expires_at_s == pin.expires_at_s);
    CHECK(opened.pin.kind == kind);
  }
}

TEST_CASE("pin: odd but legal contents round trip") {
  const PinKeyring keys({kSecret});
  const std::vector<Pin> pins = {
      {"", "", 0, kNow + 1, Pin::Kind::pin},
      {"a", std::string("b\0\xff\n", 4), -5, std::numeric_limits<std::int64_t>::max(), Pin::Kind::pin},
      {std::string(255, 'x'), "y", std::numeric_limits<std::int64_t>::min(), kNow + 1, Pin::Kind::preview},
  };
  for (const Pin& pin : pins) {
    const std::string value = keys.seal(pin);
    REQUIRE_FALSE(value.empty());
    const OpenResult opened = keys.open(value, pin.app, kNow, pin.kind);
    CHECK(opened.result == PinResult::valid);
    CHECK(opened.pin.app == pin.app);
    CHECK(opened.pin.build == pin.build);
    CHECK(opened.pin.issued_at_s == pin.issued_at_s);
    CHECK(opened.pin.expires_at_s == pin.expires_at_s);
  }
}

TEST_CASE("pin: every seal uses a fresh nonce") {
  const PinKeyring keys({kSecret});
  const std::string a = keys.seal(shop_pin());
  const std::string b = keys.seal(shop_pin());
  CHECK(a != b);
  CHECK(keys.open(a, "shop", kNow).result == PinResult::valid);
  CHECK(keys.open(b, "shop", kNow).result == PinResult::valid);
}

// Known answers from an independent implementation of the wire format
// (Python hmac + cryptography's AESGCM, nonce 00..0b), so the derivation, the
// key id, the AAD and the layout cannot drift unnoticed.
TEST_CASE("pin: known answers") {
  const PinKeyring keys({kSecret});
  CHECK(keys.signing_key_id() == "770af050");
  CHECK(PinKeyring({kOldSecret}).signing_key_id() == "362b9e3e");

  const std::string pin = "770af050.AAECAwQFBgcICQoLB_BQA6fp7c3cgZ_CKYyna5rIg4e8BpBoM2bvb2ubDSjXeMiM3_Ax8jEsJVk";
  const std::string preview = "770af050.AAECAwQFBgcICQoLB_BQA6fp7c3cgZ_CKYyna5rIg4e8BpBoM2bvb9AKtnlIAxBu3oe-9PXvmTo";
  OpenResult opened = keys.open(pin, "shop", 1'700'000'000);
  CHECK(opened.result == PinResult::valid);
  CHECK(opened.pin.build == "dpl-a");
  CHECK(opened.pin.issued_at_s == 1'700'000'000);
  CHECK(opened.pin.expires_at_s == 1'700'604'800);
  opened = keys.open(preview, "shop", 1'700'000'000, Pin::Kind::preview);
  CHECK(opened.result == PinResult::valid);
  CHECK(opened.pin.kind == Pin::Kind::preview);
  // The kind is bound through the AAD: neither opens as the other.
  CHECK(keys.open(pin, "shop", 1'700'000'000, Pin::Kind::preview).result == PinResult::tampered);
  CHECK(keys.open(preview, "shop", 1'700'000'000, Pin::Kind::pin).result == PinResult::tampered);
}

TEST_CASE("pin: every character change of the sealed value is rejected") {
  const PinKeyring keys({kSecret});
  const std::string value = keys.seal(shop_pin());
  REQUIRE(keys.open(value, "shop", kNow).result == PinResult::valid);
  int tried = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    // Every other base64url character, and characters outside the alphabet.
    std::string replacements = std::string(kAlphabet) + ".=+/ \"%;\t" + std::string(1, '\0') + "\xff" + "A";
    for (const char c : replacements) {
      if (c == value[i]) continue;
      std::string changed = value;
      changed[i] = c;
      const OpenResult opened = keys.open(changed, "shop", kNow);
      CAPTURE(i);
      CAPTURE(changed);
      CHECK(opened.result != PinResult::valid);
      if (i < 8) {
        // The key id: no key has the changed id, or it is not lower-case hex.
        CHECK((opened.result == PinResult::unknown_key || opened.result == PinResult::malformed));
      } else if (i > 8) {
        // The body: an alphabet change decodes to other bytes (tampered) or to
        // a non-canonical encoding (malformed); anything else is malformed.
        CHECK((opened.result == PinResult::tampered || opened.result == PinResult::malformed));
      }
      ++tried;
    }
  }
  CHECK(tried > 60 * static_cast<int>(value.size()));
}

TEST_CASE("pin: every bit flip of the decoded blob is tampered") {
  const PinKeyring keys({kSecret});
  const std::string value = keys.seal(shop_pin());
  const std::optional<std::string> blob = base64url_decode(body_of(value));
  REQUIRE(blob);
  REQUIRE(blob->size() == 12 + 1 + 8 + 8 + 1 + 4 + 1 + 19 + 16);
  for (std::size_t i = 0; i < blob->size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string changed = *blob;
      changed[i] = static_cast<char>(changed[i] ^ (1 << bit));
      CAPTURE(i);
      CAPTURE(bit);
      CHECK(keys.open(value.substr(0, 9) + base64url_encode(changed), "shop", kNow).result == PinResult::tampered);
    }
  }
}

TEST_CASE("pin: truncated and extended values are rejected") {
  const PinKeyring keys({kSecret});
  const std::string value = keys.seal(shop_pin());
  for (std::size_t length = 0; length < value.size(); ++length) {
    CAPTURE(length);
    CHECK(keys.open(value.substr(0, length), "shop", kNow).result != PinResult::valid);
  }
  // Dropping bytes from the blob's front or back, or adding some.
  const std::string blob = *base64url_decode(body_of(value));
  for (std::size_t cut = 1; cut < blob.size(); ++cut) {
    CHECK(keys.open(value.substr(0, 9) + base64url_encode(blob.substr(cut)), "shop", kNow).result != PinResult::valid);
    CHECK(keys.open(value.substr(0, 9) + base64url_encode(blob.substr(0, blob.size() - cut)), "shop", kNow).result !=
          PinResult::valid);
  }
  CHECK(keys.open(value.substr(0, 9) + base64url_encode(blob + "x"), "shop", kNow).result == PinResult::tampered);
  CHECK(keys.open(value + "A", "shop", kNow).result != PinResult::valid);
  CHECK(keys.open(value + "AAAA", "shop", kNow).result == PinResult::tampered);
  CHECK(keys.open(value + ".", "shop", kNow).result == PinResult::malformed);
  CHECK(keys.open(" " + value, "shop", kNow).result == PinResult::malformed);
}

TEST_CASE("pin: over-long values are malformed before decoding") {
  const PinKeyring keys({kSecret});
  // app + build = 330 bytes seals to exactly 512 characters; one more byte is
  // refused by seal.
  const Pin biggest{std::string(200, 'a'), std::string(130, 'b'), kNow, kNow + kWeek, Pin::Kind::pin};
  const std::string value = keys.seal(biggest);
  REQUIRE(value.size() == kMaxPinValueBytes);
  CHECK(keys.open(value, biggest.app, kNow).result == PinResult::valid);
  Pin too_big = biggest;
  too_big.build += "b";
  CHECK(keys.seal(too_big).empty());
  too_big = biggest;
  too_big.app = std::string(256, 'a');
  too_big.build = "";
  CHECK(keys.seal(too_big).empty());

  CHECK(keys.open(value + "AAAA", biggest.app, kNow).result == PinResult::malformed);
  CHECK(keys.open(std::string(100'000, 'A'), "shop", kNow).result == PinResult::malformed);
  CHECK(keys.open(keys.signing_key_id() + "." + std::string(600, 'A'), "shop", kNow).result == PinResult::malformed);
}

TEST_CASE("pin: garbage is malformed") {
  const PinKeyring keys({kSecret});
  const std::string id = keys.signing_key_id();
  const std::vector<std::string> garbage = {
      "",
      ".",
      "abc",
      id,
      id + ".",
      id + ".A",
      id + ".AAAA",                                      // decodes, but far too short
      id + "." + std::string(51, '!'),                   // outside the alphabet
      id + "." + base64url_encode(std::string(60, 'x')) + "==",  // padding is not base64url here
      id + "." + std::string(40, '+') + std::string(40, '/'),    // standard base64, not url
      "7 0af050." + body_of(keys.seal(shop_pin())),
      "770AF050." + body_of(keys.seal(shop_pin())),     // key ids are lower-case
      "770af05." + body_of(keys.seal(shop_pin())),
      "770af0500" + body_of(keys.seal(shop_pin())),
      std::string("\0\0\0\0\0\0\0\0.", 9) + std::string(60, 'A'),
      "skewgate_pin=" + keys.seal(shop_pin()),
  };
  for (const std::string& value : garbage) {
    CAPTURE(value);
    CHECK(keys.open(value, "shop", kNow).result == PinResult::malformed);
  }
  // A well-formed body of random bytes under a known key id: the tag fails.
  CHECK(keys.open(id + "." + base64url_encode(std::string(64, 'q')), "shop", kNow).result == PinResult::tampered);
}

TEST_CASE("pin: a pin sealed by another key") {
  const PinKeyring keys({kSecret});
  const PinKeyring other({kOtherSecret});
  const std::string foreign = other.seal(shop_pin());
  CHECK(keys.open(foreign, "shop", kNow).result == PinResult::unknown_key);
  // Relabelled with our key id, the tag does not verify.
  CHECK(keys.open(keys.signing_key_id() + "." + body_of(foreign), "shop", kNow).result == PinResult::tampered);
  // An empty keyring signs nothing and knows no key.
  const PinKeyring empty;
  CHECK_FALSE(empty.ok());
  CHECK(empty.seal(shop_pin()).empty());
  CHECK(empty.signing_key_id().empty());
  CHECK(empty.open(foreign, "shop", kNow).result == PinResult::unknown_key);
  CHECK_FALSE(PinKeyring(std::vector<std::string>{}).ok());
}

TEST_CASE("pin: previous secrets verify but never sign") {
  const PinKeyring old_keys({kOldSecret});
  const PinKeyring rotated({kSecret, kOldSecret});
  REQUIRE(rotated.key_ids() == std::vector<std::string>{"770af050", "362b9e3e"});
  const std::string old_value = old_keys.seal(shop_pin());
  const OpenResult opened = rotated.open(old_value, "shop", kNow);
  CHECK(opened.result == PinResult::valid);
  CHECK(opened.pin.build == "dpl-2026-11-24-a1b2");
  // New pins use the new key; a process still on the old key does not know it.
  const std::string new_value = rotated.seal(shop_pin());
  CHECK(new_value.substr(0, 8) == "770af050");
  CHECK(old_keys.open(new_value, "shop", kNow).result == PinResult::unknown_key);
  // Once the old secret is dropped, its pins are unknown.
  CHECK(PinKeyring({kSecret}).open(old_value, "shop", kNow).result == PinResult::unknown_key);
  // The same secret twice is one key.
  CHECK(PinKeyring({kSecret, kSecret}).key_ids().size() == 1);
}

TEST_CASE("pin: expiry boundary") {
  const PinKeyring keys({kSecret});
  const std::string value = keys.seal(shop_pin());
  CHECK(keys.open(value, "shop", kNow - 3600).result == PinResult::valid);  // issued "in the future": clock skew
  CHECK(keys.open(value, "shop", kNow + kWeek - 1).result == PinResult::valid);
  const OpenResult at = keys.open(value, "shop", kNow + kWeek);
  CHECK(at.result == PinResult::expired);
  CHECK(at.pin.build == "dpl-2026-11-24-a1b2");  // for logs; never for routing
  CHECK(keys.open(value, "shop", kNow + kWeek + 1).result == PinResult::expired);
  CHECK(keys.open(value, "shop", std::numeric_limits<std::int64_t>::max()).result == PinResult::expired);
}

TEST_CASE("pin: a pin of another app is foreign") {
  const PinKeyring keys({kSecret});
  const std::string value = keys.seal(shop_pin());
  CHECK(keys.open(value, "blog", kNow).result == PinResult::foreign_app);
  CHECK(keys.open(value, "Shop", kNow).result == PinResult::foreign_app);
  CHECK(keys.open(value, "shop\0", kNow).result == PinResult::valid);  // a C string literal: "shop"
  CHECK(keys.open(value, std::string_view("shop\0", 5), kNow).result == PinResult::foreign_app);
  CHECK(keys.open(value, "", kNow).result == PinResult::foreign_app);
}

TEST_CASE("pin: result names are stable metric labels") {
  CHECK(std::string(to_string(PinResult::valid)) == "valid");
  CHECK(std::string(to_string(PinResult::tampered)) == "tampered");
  CHECK(std::string(to_string(PinResult::expired)) == "expired");
  CHECK(std::string(to_string(PinResult::unknown_key)) == "unknown_key");
  CHECK(std::string(to_string(PinResult::foreign_app)) == "foreign_app");
  CHECK(std::string(to_string(PinResult::malformed)) == "malformed");
}

TEST_CASE("pin: base64url per RFC 4648, strict") {
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"}, {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"},
      {"foobar", "Zm9vYmFy"}, {"\xfb\xff", "-_8"},
  };
  for (const auto& [bytes, text] : vectors) {
    CHECK(base64url_encode(bytes) == text);
    CHECK(base64url_decode(text) == bytes);
  }
  CHECK_FALSE(base64url_decode("Zh"));     // unused bits set: not canonical
  CHECK_FALSE(base64url_decode("Zm9"));    // ditto
  CHECK_FALSE(base64url_decode("Zm9vY"));  // length % 4 == 1
  CHECK_FALSE(base64url_decode("Zg=="));
  CHECK_FALSE(base64url_decode("+/+/"));
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  CHECK(base64url_decode(base64url_encode(all)) == all);
}

// The request path seals and opens through the worker's PinScratch: the same
// wire values, interchangeable with the one-call path, across keys and kinds.
TEST_CASE("pin: a PinScratch changes nothing on the wire") {
  const PinKeyring keys({kSecret});
  const PinKeyring rotated({kOtherSecret, kSecret});
  sg::skew::PinScratch scratch;
  std::set<std::string> nonces;
  // Far more seals than one 4 KiB nonce batch holds (341), so it refills.
  for (int i = 0; i < 1000; ++i) {
    const Pin::Kind kind = i % 3 == 0 ? Pin::Kind::preview : Pin::Kind::pin;
    // Alternate keyrings so the scratch's contexts are re-keyed back and forth.
    const PinKeyring& signer = i % 5 == 0 ? rotated : keys;
    const std::string value = signer.seal(shop_pin(kind), &scratch);
    REQUIRE_FALSE(value.empty());
    nonces.insert(base64url_decode(body_of(value))->substr(0, 12));
    CHECK(signer.open(value, "shop", kNow, kind).result == PinResult::valid);
    CHECK(signer.open(value, "shop", kNow, kind, &scratch).result == PinResult::valid);
    CHECK(rotated.open(value, "shop", kNow, kind, &scratch).result == PinResult::valid);
    // The other kind, another app, a flipped tag: refused through the scratch too,
    // and the scratch keeps working after a failed open.
    CHECK(signer.open(value, "shop", kNow, kind == Pin::Kind::pin ? Pin::Kind::preview : Pin::Kind::pin, &scratch)
              .result == PinResult::tampered);
    CHECK(signer.open(value, "cart", kNow, kind, &scratch).result == PinResult::foreign_app);
    std::string flipped = value;
    flipped[flipped.size() - 2] = flipped[flipped.size() - 2] == 'A' ? 'B' : 'A';
    CHECK(signer.open(flipped, "shop", kNow, kind, &scratch).result != PinResult::valid);
    // And a one-call seal opens through the scratch.
    CHECK(keys.open(keys.seal(shop_pin(kind)), "shop", kNow, kind, &scratch).result == PinResult::valid);
  }
  CHECK(nonces.size() == 1000);
}

// The scratch remembers values it authenticated, never what they may do:
// app, expiry, kind and keyring are checked on every use.
TEST_CASE("pin: a remembered value is judged again on every use") {
  const PinKeyring keys({kSecret});
  const PinKeyring other({kOtherSecret});
  sg::skew::PinScratch scratch;
  const std::string value = keys.seal(shop_pin());
  for (int round = 0; round < 2; ++round) {  // the first opens and remembers, the second is remembered
    CAPTURE(round);
    CHECK(keys.open(value, "shop", kNow, Pin::Kind::pin, &scratch).result == PinResult::valid);
    CHECK(keys.open(value, "cart", kNow, Pin::Kind::pin, &scratch).result == PinResult::foreign_app);
    CHECK(keys.open(value, "shop", kNow + kWeek, Pin::Kind::pin, &scratch).result == PinResult::expired);
    CHECK(keys.open(value, "shop", kNow, Pin::Kind::preview, &scratch).result == PinResult::tampered);
    CHECK(other.open(value, "shop", kNow, Pin::Kind::pin, &scratch).result == PinResult::unknown_key);
  }
  // Relabelled with the other keyring's key id, it is not "remembered" for that keyring.
  CHECK(other.open(other.signing_key_id() + "." + body_of(value), "shop", kNow, Pin::Kind::pin, &scratch).result ==
        PinResult::tampered);
  // Past kMaxRemembered values the cache starts over and keeps answering right.
  std::vector<std::string> values;
  for (std::size_t i = 0; i < sg::skew::PinScratch::kMaxRemembered + 10; ++i) values.push_back(keys.seal(shop_pin()));
  for (int pass = 0; pass < 2; ++pass)
    for (const std::string& v : values) CHECK(keys.open(v, "shop", kNow, Pin::Kind::pin, &scratch).result == PinResult::valid);
  std::string flipped = value;
  flipped[flipped.size() - 2] = flipped[flipped.size() - 2] == 'A' ? 'B' : 'A';
  CHECK(keys.open(flipped, "shop", kNow, Pin::Kind::pin, &scratch).result != PinResult::valid);
  // The cache hashes a value's first characters only: a remembered value
  // changed anywhere after them (same hash), or cut or extended, is still
  // refused, never taken for the remembered one.
  REQUIRE(keys.open(value, "shop", kNow, Pin::Kind::pin, &scratch).result == PinResult::valid);
  REQUIRE(value.size() > sg::skew::PinScratch::kHashedChars);
  for (std::size_t i = sg::skew::PinScratch::kHashedChars; i < value.size(); ++i) {
    CAPTURE(i);
    std::string changed = value;
    changed[i] = changed[i] == 'A' ? 'B' : 'A';
    CHECK(keys.open(changed, "shop", kNow, Pin::Kind::pin, &scratch).result != PinResult::valid);
  }
  CHECK(keys.open(value.substr(0, value.size() - 1), "shop", kNow, Pin::Kind::pin, &scratch).result != PinResult::valid);
  CHECK(keys.open(value + "A", "shop", kNow, Pin::Kind::pin, &scratch).result != PinResult::valid);
  CHECK(keys.open(value.substr(0, sg::skew::PinScratch::kHashedChars), "shop", kNow, Pin::Kind::pin, &scratch).result !=
        PinResult::valid);
}

// RFC 4648 section 10's vectors without padding, the URL alphabet's two
// characters, and a round trip for every length up to 64.
TEST_CASE("base64url: RFC 4648 vectors, unpadded, URL alphabet") {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"}, {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"},
      {"foobar", "Zm9vYmFy"}, {"\xfb\xff", "-_8"}, {"\xff\xff\xff", "____"}};
  for (const auto& [bytes, text] : vectors) {
    CHECK(base64url_encode(bytes) == text);
    CHECK(base64url_decode(text) == std::string(bytes));
  }
  std::string bytes;
  for (int n = 0; n <= 64; ++n) {
    CHECK(base64url_decode(base64url_encode(bytes)) == bytes);
    bytes.push_back(static_cast<char>(n * 37 + 11));
  }
}
