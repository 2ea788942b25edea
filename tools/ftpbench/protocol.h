// The client side of FTP that ftpbench speaks, as pure functions and small
// value classes: a bounded line buffer for a control connection, RFC 959
// reply framing (multi-line "123-" ... "123 "), the EPSV (RFC 2428) and PASV
// answers, and counting the entries of a LIST or MLSD listing. No I/O and no
// clock here, so tests/unit/ftpbench_test.cc drives them directly. Used by
// the ftpbench process only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

namespace poolftpd::ftpbench {

// Bytes of a reply's first line kept for failure messages: enough for the
// code, the usual text and a path.
inline constexpr std::size_t kReplyTextKept = 160;

// Receive buffer of one control connection. Capacity is allocated once and
// reused for every session of the client. A line longer than the capacity is
// cut: its first `capacity` bytes come back as a line, the rest up to the
// newline is dropped (reply codes and texts are at the start).
class LineBuffer {
 public:
  explicit LineBuffer(std::size_t capacity);
  LineBuffer(LineBuffer&&) = default;
  LineBuffer& operator=(LineBuffer&&) = default;

  void Clear();
  // Free space after the buffered bytes (compacts first). Never empty if
  // NextLine() was called until it returned nullopt since the last Commit().
  std::span<char> Space();
  // `n` bytes were written at the start of Space().
  void Commit(std::size_t n);
  // The next complete line without its LF or CRLF, or nullopt when none is
  // buffered. The view stays valid until the next Space() or Clear().
  std::optional<std::string_view> NextLine();
  std::size_t buffered() const { return end_ - begin_; }

 private:
  std::unique_ptr<char[]> buf_;
  std::size_t cap_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  bool skipping_ = false;  // inside the dropped tail of an overlong line
};

// Frames replies from lines. RFC 959 4.2: a reply is "xyz text" or starts
// with "xyz-" and ends at the first later line that starts with "xyz "
// (the same code and a space); lines in between are free text.
class ReplyParser {
 public:
  enum class Status { kMore, kDone, kMalformed };

  // Feeds one line (without CRLF). kDone: code() and text() describe the
  // complete reply. kMalformed: the line does not start a reply (no
  // three-digit code 1xx-5xx followed by space, '-' or the end).
  Status Feed(std::string_view line);
  void Reset();

  int code() const { return code_; }
  // The reply's first line, code included, cut at kReplyTextKept bytes.
  std::string_view text() const { return {text_.data(), text_len_}; }

 private:
  std::array<char, kReplyTextKept> text_{};
  std::size_t text_len_ = 0;
  int code_ = 0;
  bool in_multi_ = false;
};

// The port of a "229 Entering Extended Passive Mode (|||port|)" reply (any
// delimiter in '!'..'~' except digits, used consistently), or nullopt.
// `reply` is the first line, code included.
std::optional<uint16_t> ParseEpsvPort(std::string_view reply);

struct PasvAddress {
  std::array<uint8_t, 4> ip{};
  uint16_t port = 0;
};
// The address of a "227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)" reply:
// the first six comma-separated numbers after the code (parentheses
// optional, as RFC 1123 4.1.2.6 asks clients to accept), each 0-255.
std::optional<PasvAddress> ParsePasv(std::string_view reply);

// Counts the entries of a listing fed in arbitrary chunks. LIST: every
// non-empty line except a leading "total N" line. MLSD: every non-empty line
// except those whose facts say type=cdir or type=pdir (case-insensitive).
class ListingCounter {
 public:
  enum class Kind : uint8_t { kList, kMlsd };

  void Reset(Kind kind);
  void Feed(std::string_view chunk);
  // Counts a last line that has no newline. Call once at EOF.
  void Finish();
  uint64_t entries() const { return entries_; }
  uint64_t lines() const { return lines_; }

 private:
  void EndLine();

  // The start of the current line: enough for "total" and MLSD facts.
  std::array<char, 512> head_{};
  std::size_t head_len_ = 0;
  std::size_t line_len_ = 0;
  uint64_t entries_ = 0;
  uint64_t lines_ = 0;
  Kind kind_ = Kind::kList;
};

}  // namespace poolftpd::ftpbench
