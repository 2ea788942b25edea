// Helpers shared by the libFuzzer targets of tests/fuzz (one
// <name>_fuzz.cc each, built by `make fuzz`): a scratch directory under
// $TMPDIR that lives as long as the fuzzing process, whole-file writes, a
// bounded reader over the fuzzer's input, and FUZZ_CHECK, the property
// check that aborts with the reason (libFuzzer then saves the input as a
// crash file). Test-only code: never linked into the server or the tools.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

// A violated property of a target: prints where and why, then aborts, so
// the input is kept as a crash. Active in every build (not assert()).
#define FUZZ_CHECK(cond, ...)                                                              \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "%s:%d: property violated: %s\n  ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                                   \
      std::fprintf(stderr, "\n");                                                          \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)

namespace poolftpd::fuzz {

// A fresh directory "$TMPDIR/<prefix>.XXXXXX" (else /tmp), removed with
// everything in it when the object goes (the targets delete theirs at
// exit; a crash leaves it under $TMPDIR, which `make fuzz` points at
// build/fuzz/tmp).
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& prefix) {
    const char* tmp = ::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/" + prefix + ".XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror("fuzz: mkdtemp");
      std::abort();
    }
    // The real path, so /proc/self/fd links compare with it as they are.
    char* real = ::realpath(tmpl.c_str(), nullptr);
    path_ = real != nullptr ? real : tmpl;
    std::free(real);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(std::string_view rel) const { return path_ + "/" + std::string(rel); }

 private:
  std::string path_;
};

// Replaces `path` with exactly `data`; aborts when that is impossible (the
// scratch directory is the harness's, a failure there is not a finding).
inline void WriteWholeFile(const std::string& path, std::string_view data) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::perror(path.c_str());
    std::abort();
  }
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n <= 0) {
      std::perror(path.c_str());
      std::abort();
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  ::close(fd);
}

// Takes bytes off the front of the fuzzer's input: control bytes first,
// then the rest as the payload. Reads past the end give zeros.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}
  uint8_t Byte() {
    if (rest_.empty()) return 0;
    const auto b = static_cast<uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }
  // Up to `n` bytes.
  std::string_view Take(size_t n) {
    const std::string_view out = rest_.substr(0, n);
    rest_.remove_prefix(out.size());
    return out;
  }
  // Everything up to the first `sep` (dropped), or everything.
  std::string_view TakeUntil(std::string_view sep) {
    const size_t at = rest_.find(sep);
    if (at == std::string_view::npos) return Take(rest_.size());
    const std::string_view out = rest_.substr(0, at);
    rest_.remove_prefix(at + sep.size());
    return out;
  }
  std::string_view rest() const { return rest_; }
  bool empty() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

// Printable form of some bytes for a property message.
inline std::string Printable(std::string_view s, size_t max = 200) {
  std::string out;
  for (const char c : s.substr(0, max)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      out += c;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

}  // namespace poolftpd::fuzz
