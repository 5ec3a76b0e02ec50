// Comparing a received field name with a known lower-case one a word at a
// time. Hot path: every field of every message is compared with the names
// the forwarding rules know (routing::iequals did it byte by byte, with two
// case conversions per byte).
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace sg::gateway {

static_assert(std::endian::native == std::endian::little, "FieldName packs bytes little-endian");

// A lower-case name ([a-z0-9-], checked at compile time) as up to four loads
// of 8, 4, 2 or 1 bytes (the last one overlapping the one before when the
// length is no multiple of the width) and, per load, which bits to fold: bit
// 0x20 of a letter's byte only, so a received byte matches a letter in either
// case and a digit or '-' only exactly. Up to 32 bytes.
struct FieldName {
  std::size_t size = 0;
  std::size_t width = 1;
  std::size_t loads = 0;
  std::array<std::size_t, 4> offset{};
  std::array<std::uint64_t, 4> word{};
  std::array<std::uint64_t, 4> fold{};

  consteval explicit FieldName(std::string_view lower) : size(lower.size()) {
    if (size == 0 || size > 32) throw "FieldName: 1 to 32 bytes";
    width = size >= 8 ? 8 : size >= 4 ? 4 : size >= 2 ? 2 : 1;
    for (std::size_t at = 0;; at += width) {
      if (at + width > size) at = size - width;
      offset[loads] = at;
      for (std::size_t j = 0; j < width; ++j) {
        const char c = lower[at + j];
        const bool letter = c >= 'a' && c <= 'z';
        if (!letter && !(c >= '0' && c <= '9') && c != '-') throw "FieldName: lower-case letters, digits and '-' only";
        word[loads] |= std::uint64_t{static_cast<unsigned char>(c)} << (8 * j);
        if (letter) fold[loads] |= std::uint64_t{0x20} << (8 * j);
      }
      ++loads;
      if (at + width >= size) break;
    }
  }
};

namespace detail {
inline std::uint64_t load_bytes(const char* at, std::size_t width) {
  switch (width) {
    case 8: {
      std::uint64_t w;
      std::memcpy(&w, at, 8);
      return w;
    }
    case 4: {
      std::uint32_t w;
      std::memcpy(&w, at, 4);
      return w;
    }
    case 2: {
      std::uint16_t w;
      std::memcpy(&w, at, 2);
      return w;
    }
    default: return static_cast<unsigned char>(*at);
  }
}
}  // namespace detail

// ASCII case-insensitive equality of `name` with `known`, as routing::iequals.
inline bool is_field(std::string_view name, const FieldName& known) {
  if (name.size() != known.size) return false;
  for (std::size_t i = 0; i < known.loads; ++i) {
    if ((detail::load_bytes(name.data() + known.offset[i], known.width) | known.fold[i]) != known.word[i]) return false;
  }
  return true;
}

}  // namespace sg::gateway
