// Canary cohort (design.md section 7) of a visitor without a valid pin: a
// stable hash of the client address and user agent. skew::decide then pins
// the visitor to the side they got, so the pin (not the hash) keeps them
// there across reloads and changes of `percent`.
#pragma once

#include <string_view>

namespace sg::skew {

// True for about `percent` % of (address, user agent) pairs, always the same
// answer for the same pair.
bool in_canary_cohort(std::string_view client_address, std::string_view user_agent, double percent);

}  // namespace sg::skew
