// Fuzz target: any bytes as a configuration file. Loading never throws or
// crashes; a refusal always says why (file:line:col), and whatever loads
// either becomes a snapshot or is refused with errors.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "conf/load.h"
#include "routing/snapshot.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  sg::conf::LoadResult loaded = sg::conf::load_string(text, "fuzz.yaml");
  if (!loaded.config) {
    if (loaded.errors.empty()) std::abort();
    for (const auto& e : loaded.errors)
      if (e.to_string().rfind("fuzz.yaml:", 0) != 0) std::abort();
    return 0;
  }
  std::vector<std::string> errors;
  if (!sg::routing::Snapshot::create(std::move(*loaded.config), errors) && errors.empty()) std::abort();
  return 0;
}
