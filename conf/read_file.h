// Whole-file reads for config and manifests. Pure enough for conf/: no loop,
// no sockets; called only off the data path.
#pragma once

#include <string>

namespace sg::conf {

// Reads `path` into `text`. Returns 0, or the errno that stopped it. The
// stack buffer is wiped afterwards: manifests carry an encryption key.
int read_whole_file(const std::string& path, std::string& text);

}  // namespace sg::conf
