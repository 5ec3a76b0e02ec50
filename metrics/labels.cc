#include "metrics/labels.h"

namespace sg::metrics {

std::size_t reject_reason_index(std::string_view code) {
  if (code == "client_header_timeout") return *index_of(kRejectReasons, "timeout");
  return index_of(kRejectReasons, code).value_or(0);
}

}  // namespace sg::metrics
