#include "conf/config.h"

namespace sg::conf {

const char* to_string(BuildState state) {
  switch (state) {
    case BuildState::current:
      return "current";
    case BuildState::retained:
      return "retained";
    case BuildState::preview:
      return "preview";
    case BuildState::retired:
      return "retired";
  }
  return "unknown";
}

const char* to_string(Framework framework) {
  switch (framework) {
    case Framework::auto_detect: return "auto";
    case Framework::next: return "next";
    case Framework::react_server: return "react-server";
  }
  return "auto";
}

const char* to_string(ActionIdSource source) {
  switch (source) {
    case ActionIdSource::none: return "none";
    case ActionIdSource::next_manifest: return "next_manifest";
    case ActionIdSource::react_server_chunks: return "react_server_chunks";
  }
  return "none";
}

}  // namespace sg::conf
