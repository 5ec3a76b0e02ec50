// Temporary stub so the library links; the YAML walker follows.
#include "conf/load.h"

namespace sg::conf {

std::string Diagnostic::to_string() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  if (!key.empty()) out += ": " + key;
  return out + ": " + message;
}

LoadResult load_string(std::string_view, const std::string& source_name) {
  LoadResult result;
  result.errors.push_back({source_name, 0, 0, "", "config loading is not implemented yet"});
  return result;
}

LoadResult load_file(const std::string& path) { return load_string({}, path); }

std::string_view embedded_default_yaml() {
  return R"(# The demo: two builds of one app on 127.0.0.1:3001 and :3002.
listeners:
  - address: 127.0.0.1:8080
admin: {address: 127.0.0.1:9901}
workers: auto
state_dir: /tmp/skewgate-demo
access_log: {path: stdout, format: plain}
apps:
  - name: demo
    hosts: [localhost, 127.0.0.1]
    current: dpl-b
    builds:
      - {id: dpl-a, upstreams: [127.0.0.1:3001]}
      - {id: dpl-b, upstreams: [127.0.0.1:3002]}
)";
}

}  // namespace sg::conf
