#include "file_io.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "flipsweep/error.h"

namespace flipsweep::data::detail {
namespace {

std::string system_error_text() { return std::strerror(errno); }

// Closes a descriptor on every exit path, including the throwing ones.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

uint64_t file_size_or_throw(int fd, const std::string& path) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) throw Error(path + ": cannot stat: " + system_error_text());
  if (!S_ISREG(info.st_mode)) throw Error(path + ": not a regular file");
  return static_cast<uint64_t>(info.st_size);
}

}  // namespace

std::vector<uint8_t> read_whole_file(const std::string& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw Error(path + ": cannot open: " + system_error_text());
  const uint64_t size = file_size_or_throw(fd.get(), path);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t got = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw Error(path + ": read failed: " + system_error_text());
    }
    if (got == 0) throw Error(path + ": file shrank while being read");
    done += static_cast<size_t>(got);
  }
  return bytes;
}

bool looks_like_gzip(const std::vector<uint8_t>& bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

std::vector<uint8_t> gunzip(const std::vector<uint8_t>& compressed, const std::string& path, size_t limit) {
  if (compressed.size() > UINT_MAX) throw Error(path + ": gzip file larger than 4 GiB is not supported");
  z_stream stream{};
  // 16 + MAX_WBITS: expect a gzip header and trailer (CRC checked by zlib), not raw zlib.
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) throw Error(path + ": cannot initialise zlib");
  struct StreamEnd {
    z_stream* s;
    ~StreamEnd() { inflateEnd(s); }
  } stream_end{&stream};

  stream.next_in = const_cast<Bytef*>(compressed.data());
  stream.avail_in = static_cast<uInt>(compressed.size());

  // The gzip trailer stores the uncompressed size mod 2^32: a good first guess for the buffer.
  // A truncated file's "trailer" is arbitrary data, so the guess is capped by deflate's best
  // possible ratio (about 1032:1) and by 256 MiB; beyond that the buffer grows by doubling.
  size_t capacity = 1 << 16;
  if (compressed.size() >= 4) {
    const size_t trailer_size = load_u32_little_endian(compressed.data() + compressed.size() - 4);
    const size_t plausible = std::min<size_t>(compressed.size() * 1032, size_t{1} << 28);
    capacity = std::max(capacity, std::min(trailer_size, plausible));
  }
  // The most bytes kept: one past the limit shows the caller that there is more.
  const size_t most = limit == SIZE_MAX ? SIZE_MAX : limit + 1;
  std::vector<uint8_t> out(std::min(capacity, most));
  size_t produced = 0;
  for (;;) {
    if (produced == most) {
      out.resize(produced);
      return out;
    }
    if (produced == out.size()) out.resize(out.size() > most / 2 ? most : out.size() * 2);
    const size_t space = std::min<size_t>(out.size() - produced, UINT_MAX);
    stream.next_out = out.data() + produced;
    stream.avail_out = static_cast<uInt>(space);
    const int rc = inflate(&stream, Z_NO_FLUSH);
    produced += space - stream.avail_out;
    if (rc == Z_STREAM_END) {
      if (stream.avail_in == 0) break;
      // Another gzip member may follow (gzip -d accepts concatenated members); anything else is junk.
      if (stream.avail_in >= 2 && stream.next_in[0] == 0x1f && stream.next_in[1] == 0x8b) {
        if (inflateReset(&stream) != Z_OK) throw Error(path + ": cannot reset zlib");
        continue;
      }
      throw Error(path + ": " + std::to_string(stream.avail_in) + " trailing bytes after the gzip data");
    }
    if (rc == Z_BUF_ERROR && stream.avail_in == 0) {
      throw Error(path + ": truncated gzip data (the compressed stream ends early)");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      throw Error(path + ": corrupt gzip data: " + (stream.msg != nullptr ? stream.msg : "zlib error " + std::to_string(rc)));
    }
  }
  out.resize(produced);
  return out;
}

MappedFile::MappedFile(const std::string& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw Error(path + ": cannot open: " + system_error_text());
  size_ = file_size_or_throw(fd.get(), path);
  if (size_ == 0) return;  // mmap rejects length 0; callers see an empty file and report it
  void* mapping = ::mmap(nullptr, static_cast<size_t>(size_), PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (mapping == MAP_FAILED) throw Error(path + ": cannot mmap: " + system_error_text());
  data_ = static_cast<const uint8_t*>(mapping);
  // The mapping stays valid after the descriptor closes.
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), static_cast<size_t>(size_));
}

}  // namespace flipsweep::data::detail
