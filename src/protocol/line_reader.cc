#include "poolftpd/protocol/line_reader.h"

#include "poolftpd/util/limits.h"

namespace poolftpd::protocol {
namespace {
constexpr unsigned char kIac = 255, kDont = 254, kWill = 251, kSb = 250, kSe = 240;
}  // namespace

void LineReader::Feed(std::string_view bytes) {
  Compact();
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    switch (tstate_) {
      case Telnet::kData:
        if (c == kIac) {
          tstate_ = Telnet::kIac;
          continue;
        }
        break;
      case Telnet::kIac:
        if (c == kIac) {  // escaped 0xFF data byte
          tstate_ = Telnet::kData;
          break;
        }
        if (c >= kWill && c <= kDont) tstate_ = Telnet::kOption;
        else if (c == kSb)
          tstate_ = Telnet::kSub;
        else
          tstate_ = Telnet::kData;  // IP, DM, AO, AYT, ... : dropped
        continue;
      case Telnet::kOption:
        tstate_ = Telnet::kData;  // the option byte
        continue;
      case Telnet::kSub:
        if (c == kIac) tstate_ = Telnet::kSubIac;
        continue;
      case Telnet::kSubIac:
        tstate_ = (c == kSe) ? Telnet::kData : Telnet::kSub;
        continue;
    }
    if (discarding_) {
      last_cr_ = false;
      if (ch == '\n') discarding_ = false;
      continue;
    }
    // RFC 959: a CR inside a pathname is sent as CR NUL; the NUL is dropped
    // so the command sees the CR (the name round-trips with fs::EncodeName).
    // SECURITY (S2): only a NUL right after a CR goes; any other NUL stays, and
    // fs::Normalize refuses paths that hold one.
    if (ch == '\0' && last_cr_) {
      last_cr_ = false;
      continue;
    }
    last_cr_ = ch == '\r';
    buf_.push_back(ch);
    // One byte of slack for the CR of CRLF; Pop() applies the exact limit.
    if (ch == '\n') {
      cur_len_ = 0;
    } else if (++cur_len_ > limits::kMaxCommandLine + 1) {
      // Reported now, not at its LF: a client that sends a huge line and
      // waits gets its 500 at once; the rest up to the LF is dropped.
      buf_.resize(buf_.size() - cur_len_);
      cur_len_ = 0;
      discarding_ = true;
      too_long_at_.push_back(buf_.size());
    }
  }
}

void LineReader::Compact() {
  // Drop consumed bytes when all are consumed, or when they are many (a
  // client that always leaves a partial line must not grow the buffer).
  if (pos_ == 0 || (pos_ != buf_.size() && pos_ < kCap)) return;
  for (auto& at : too_long_at_) at -= pos_;
  buf_.erase(0, pos_);
  pos_ = 0;
}

void LineReader::Clear() {
  buf_.clear();
  pos_ = 0;
  tstate_ = Telnet::kData;
  cur_len_ = 0;
  discarding_ = false;
  last_cr_ = false;
  too_long_at_.clear();
}

LineReader::Next LineReader::Pop(std::string* line) {
  if (!too_long_at_.empty() && too_long_at_.front() == pos_) {
    too_long_at_.erase(too_long_at_.begin());
    return Next::kTooLong;
  }
  const size_t nl = buf_.find('\n', pos_);
  if (nl == std::string::npos) return Next::kNeedMore;
  size_t end = nl;
  if (end > pos_ && buf_[end - 1] == '\r') --end;
  const bool too_long = end - pos_ > limits::kMaxCommandLine;
  if (!too_long) line->assign(buf_, pos_, end - pos_);
  pos_ = nl + 1;
  if (too_long) {
    Compact();
    return Next::kTooLong;
  }
  Compact();
  return Next::kLine;
}

}  // namespace poolftpd::protocol
