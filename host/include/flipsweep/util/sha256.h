#pragma once
// SHA-256 (FIPS 180-4), for content hashes that users can check with `sha256sum`: a campaign
// records its model files' hashes so that a resume or a merge can tell a changed model from a
// moved one.
#include <cstdint>
#include <string>

namespace flipsweep {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  std::string hex_digest();  // 64 lowercase hex digits; ends the hash

 private:
  void compress(const unsigned char* block);
  uint32_t state_[8];
  unsigned char buffer_[64];
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

// SHA-256 of a whole file; Error naming the file when it cannot be read.
std::string sha256_of_file(const std::string& path);

}  // namespace flipsweep
