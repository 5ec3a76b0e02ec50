// The verdict's reason as the decision tables spell it: its code, "" when
// plainly served (Reason::none), so table rows keep one string column.
#pragma once

#include <string_view>

#include "metrics/reason.h"

inline std::string_view reason_text(sg::metrics::Reason reason) {
  return reason == sg::metrics::Reason::none ? std::string_view() : sg::metrics::to_string(reason);
}
