// Canary cohort (design.md section 7) until signed pins make it sticky: a
// stable hash of the client address and user agent, so a visitor stays on
// one side across reloads (documented in the README as such).
#pragma once

#include <string_view>

namespace sg::skew {

// True for about `percent` % of (address, user agent) pairs, always the same
// answer for the same pair.
bool in_canary_cohort(std::string_view client_address, std::string_view user_agent, double percent);

}  // namespace sg::skew
