// The running configuration as JSON for GET /api/v1/config: every secret is
// replaced by "<redacted>" (design.md section 6: secrets never leave).
#pragma once

#include <nlohmann/json.hpp>

#include "conf/config.h"

namespace sg::gateway {

nlohmann::json config_to_json(const conf::Config& config);

}  // namespace sg::gateway
