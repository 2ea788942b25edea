#include "protocol.h"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace poolftpd::ftpbench {

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (Lower(s[i]) != prefix[i]) return false;
  }
  return true;
}

// A decimal number in [0, max] that fills `s` exactly.
std::optional<unsigned> ParseNumber(std::string_view s, unsigned max) {
  unsigned v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

}  // namespace

// --- LineBuffer --------------------------------------------------------------

LineBuffer::LineBuffer(std::size_t capacity)
    : buf_(new char[capacity < 16 ? 16 : capacity]), cap_(capacity < 16 ? 16 : capacity) {}

void LineBuffer::Clear() {
  begin_ = end_ = 0;
  skipping_ = false;
}

std::span<char> LineBuffer::Space() {
  if (begin_ == end_) {
    begin_ = end_ = 0;
  } else if (end_ == cap_ && begin_ > 0) {
    std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  // A full buffer without a newline is handed out by NextLine() as a cut
  // line before the caller asks for space again, so this is never empty.
  return {buf_.get() + end_, cap_ - end_};
}

void LineBuffer::Commit(std::size_t n) { end_ = std::min(cap_, end_ + n); }

std::optional<std::string_view> LineBuffer::NextLine() {
  char* const base = buf_.get();
  if (skipping_) {
    auto* nl = static_cast<char*>(std::memchr(base + begin_, '\n', end_ - begin_));
    if (nl == nullptr) {
      begin_ = end_ = 0;
      return std::nullopt;
    }
    begin_ = static_cast<std::size_t>(nl - base) + 1;
    skipping_ = false;
  }
  auto* nl = static_cast<char*>(std::memchr(base + begin_, '\n', end_ - begin_));
  if (nl == nullptr) {
    if (begin_ == 0 && end_ == cap_) {  // overlong: hand out the first part
      skipping_ = true;
      begin_ = end_;
      return std::string_view(base, cap_);
    }
    return std::nullopt;
  }
  std::size_t len = static_cast<std::size_t>(nl - (base + begin_));
  if (len > 0 && base[begin_ + len - 1] == '\r') --len;
  std::string_view line(base + begin_, len);
  begin_ = static_cast<std::size_t>(nl - base) + 1;
  return line;
}

// --- ReplyParser -------------------------------------------------------------

void ReplyParser::Reset() {
  code_ = 0;
  text_len_ = 0;
  in_multi_ = false;
}

ReplyParser::Status ReplyParser::Feed(std::string_view line) {
  if (in_multi_) {
    const bool same_code =
        line.size() >= 3 && line[0] == text_[0] && line[1] == text_[1] && line[2] == text_[2];
    if (same_code && (line.size() == 3 || line[3] == ' ')) {
      in_multi_ = false;
      return Status::kDone;
    }
    return Status::kMore;
  }
  if (line.size() < 3 || line[0] < '1' || line[0] > '5' || !IsDigit(line[1]) || !IsDigit(line[2])) {
    return Status::kMalformed;
  }
  if (line.size() > 3 && line[3] != ' ' && line[3] != '-') return Status::kMalformed;
  code_ = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  text_len_ = std::min(line.size(), text_.size());
  std::memcpy(text_.data(), line.data(), text_len_);
  if (line.size() > 3 && line[3] == '-') {
    in_multi_ = true;
    return Status::kMore;
  }
  return Status::kDone;
}

// --- EPSV / PASV ---------------------------------------------------------------

std::optional<uint16_t> ParseEpsvPort(std::string_view reply) {
  const std::size_t open = reply.find('(');
  if (open == std::string_view::npos) return std::nullopt;
  std::string_view rest = reply.substr(open + 1);
  // (<d><d><d><port><d>)
  if (rest.size() < 6) return std::nullopt;
  const char d = rest[0];
  if (d < '!' || d > '~' || IsDigit(d) || rest[1] != d || rest[2] != d) return std::nullopt;
  rest.remove_prefix(3);
  const std::size_t close = rest.find(d);
  if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ')') {
    return std::nullopt;
  }
  const auto port = ParseNumber(rest.substr(0, close), 65535);
  if (!port || *port == 0) return std::nullopt;
  return static_cast<uint16_t>(*port);
}

std::optional<PasvAddress> ParsePasv(std::string_view reply) {
  if (reply.size() < 4) return std::nullopt;
  std::string_view rest = reply.substr(3);
  const std::size_t first = rest.find_first_of("0123456789");
  if (first == std::string_view::npos) return std::nullopt;
  rest.remove_prefix(first);
  unsigned v[6];
  for (int i = 0; i < 6; ++i) {
    std::size_t len = 0;
    while (len < rest.size() && IsDigit(rest[len])) ++len;
    const auto n = ParseNumber(rest.substr(0, len), 255);
    if (!n) return std::nullopt;
    v[i] = *n;
    rest.remove_prefix(len);
    if (i < 5) {
      if (rest.empty() || rest[0] != ',') return std::nullopt;
      rest.remove_prefix(1);
    }
  }
  // Whatever follows must not continue the last number ("1,2,3,4,5,67").
  if (!rest.empty() && IsDigit(rest[0])) return std::nullopt;
  PasvAddress a;
  for (int i = 0; i < 4; ++i) a.ip[static_cast<std::size_t>(i)] = static_cast<uint8_t>(v[i]);
  a.port = static_cast<uint16_t>(v[4] * 256 + v[5]);
  if (a.port == 0) return std::nullopt;
  return a;
}

// --- ListingCounter ------------------------------------------------------------

void ListingCounter::Reset(Kind kind) {
  kind_ = kind;
  head_len_ = line_len_ = 0;
  entries_ = lines_ = 0;
}

void ListingCounter::Feed(std::string_view chunk) {
  while (!chunk.empty()) {
    const std::size_t nl = chunk.find('\n');
    const std::string_view part = chunk.substr(0, nl);
    const std::size_t room = head_.size() - head_len_;
    const std::size_t take = std::min(room, part.size());
    std::memcpy(head_.data() + head_len_, part.data(), take);
    head_len_ += take;
    line_len_ += part.size();
    if (nl == std::string_view::npos) return;
    EndLine();
    chunk.remove_prefix(nl + 1);
  }
}

void ListingCounter::Finish() {
  if (line_len_ > 0) EndLine();
}

void ListingCounter::EndLine() {
  std::string_view head(head_.data(), head_len_);
  if (line_len_ == head_len_ && !head.empty() && head.back() == '\r') head.remove_suffix(1);
  const bool first = lines_ == 0;
  ++lines_;
  head_len_ = line_len_ = 0;
  if (head.empty()) return;
  if (kind_ == Kind::kList) {
    // "total 42" opens an ls -l style listing; it is not an entry.
    if (first && head.size() > 6 && StartsWithNoCase(head, "total ") &&
        std::all_of(head.begin() + 6, head.end(), IsDigit)) {
      return;
    }
    ++entries_;
    return;
  }
  // MLSD: "fact=value;fact=value; name". Facts end at the first space.
  std::string_view facts = head.substr(0, head.find(' '));
  while (!facts.empty()) {
    const std::size_t semi = facts.find(';');
    const std::string_view fact = facts.substr(0, semi);
    if (StartsWithNoCase(fact, "type=")) {
      const std::string_view type = fact.substr(5);
      if (type.size() == 4 && (StartsWithNoCase(type, "cdir") || StartsWithNoCase(type, "pdir"))) {
        return;
      }
      break;
    }
    if (semi == std::string_view::npos) break;
    facts.remove_prefix(semi + 1);
  }
  ++entries_;
}

}  // namespace poolftpd::ftpbench
