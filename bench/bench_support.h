// What the benches share: a failing bench says why, with the end of the child's log.
#pragma once

#include <cstddef>
#include <fstream>
#include <sstream>
#include <string>

namespace spine::bench {

// The last `max_bytes` of the file at `path` ("" when it cannot be read).
inline std::string LogTail(const std::string& path, size_t max_bytes = 4000) {
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  const std::string text = contents.str();
  return text.size() > max_bytes ? text.substr(text.size() - max_bytes) : text;
}

}  // namespace spine::bench
