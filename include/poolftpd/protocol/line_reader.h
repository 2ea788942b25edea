// Control-connection line reader: strips Telnet IAC sequences (RFC 854),
// turns CR NUL into CR (RFC 959's form of a CR inside a pathname), splits
// lines on LF (CR before it dropped), and bounds line length at
// limits::kMaxCommandLine. Pure (no I/O): the session feeds it bytes.
// Worker process only.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace poolftpd::protocol {

class LineReader {
 public:
  enum class Next { kLine, kNeedMore, kTooLong };

  // Appends received bytes (Telnet commands removed, IAC IAC -> 0xFF).
  void Feed(std::string_view bytes);
  // Takes the next complete line (without CR/LF) into *line. kTooLong is
  // returned once for a line that exceeded the limit, as soon as it has (its
  // LF need not have arrived); its bytes are dropped up to and including
  // its LF, whenever that comes.
  Next Pop(std::string* line);
  // Bytes buffered but not yet returned.
  std::size_t buffered() const { return buf_.size() - pos_; }
  bool full() const { return buffered() > 4 * kCap; }
  // Forgets every byte fed and not yet returned, and any Telnet or
  // overlong-line state: the reader is as new (keeps its capacity).
  void Clear();

 private:
  void Compact();
  static constexpr std::size_t kCap = 4096;
  enum class Telnet { kData, kIac, kOption, kSub, kSubIac };
  std::string buf_;
  std::size_t pos_ = 0;
  Telnet tstate_ = Telnet::kData;
  std::size_t cur_len_ = 0;  // bytes of the unterminated line in buf_
  bool discarding_ = false;  // inside an overlong line
  bool last_cr_ = false;     // the last data byte kept was CR (a NUL after it is dropped)
  std::vector<std::size_t> too_long_at_;  // buf_ offsets where an overlong line stood
};

}  // namespace poolftpd::protocol
