// Next.js server-reference-manifest.json: only the action IDs are read.
#pragma once

#include <string>
#include <vector>

namespace sg::conf {

struct ManifestRead {
  std::vector<std::string> action_ids;  // keys of `node` and `edge`, sorted, unique
  std::string error;                    // empty on success; never quotes file content
};

// Reads `path`. The file also holds the build's `encryptionKey`: it is parsed
// and dropped here, never copied anywhere.
ManifestRead read_action_manifest(const std::string& path);

}  // namespace sg::conf
