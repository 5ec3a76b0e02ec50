#include "skew/canary.h"

#include <cstdint>

namespace sg::skew {
namespace {

// FNV-1a, 64 bit (http://www.isthe.com/chongo/tech/comp/fnv/): cheap, stable
// across processes and releases (never std::hash, which may differ per build).
constexpr std::uint64_t kFnvOffset = 14695981039346656037ull;
constexpr std::uint64_t kFnvPrime = 1099511628211ull;

std::uint64_t fnv1a(std::uint64_t hash, std::string_view data) {
  for (const char c : data) {
    hash ^= static_cast<unsigned char>(c);
    hash *= kFnvPrime;
  }
  return hash;
}

}  // namespace

// The visitor's bucket is hash(address '\n' user agent) % 10000: percent
// has a resolution of 0.01.
bool in_canary_cohort(std::string_view client_address, std::string_view user_agent, double percent) {
  if (!(percent > 0)) return false;  // also NaN
  if (percent >= 100) return true;
  std::uint64_t hash = fnv1a(kFnvOffset, client_address);
  hash = fnv1a(hash, "\n");
  hash = fnv1a(hash, user_agent);
  return static_cast<double>(hash % 10000) < percent * 100;
}

}  // namespace sg::skew
