// Fuzz target: the control-line reader (protocol::LineReader) and
// ControlChannel::ReadLine over the test streams of tests/unit/test_streams.h
// (short reads, bytes held inside the stream). Properties, checked against
// a small model of the documented rules (line_reader.h): Telnet commands
// (RFC 854) removed and IAC IAC kept as 0xFF, CR NUL read as CR, lines split
// on LF with one CR before it dropped, and a line longer than
// limits::kMaxCommandLine reported once as too long (an unterminated one as
// soon as it is longer than the limit plus a CR, without waiting for its LF).
//  - The reader yields the model's events whatever the feed sizes and
//    however pops interleave with feeds.
//  - After every line is popped, at most one partial line stays buffered.
//  - Clear() leaves a reader as new.
//  - ControlChannel::ReadLine over a PieceStream or a BufferingStream yields
//    the same events, then EOF.
#include <sys/socket.h>

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "../unit/test_streams.h"
#include "fuzz_util.h"
#include "poolftpd/protocol/control_channel.h"
#include "poolftpd/protocol/line_reader.h"
#include "poolftpd/util/limits.h"
#include "poolftpd/util/unique_fd.h"

namespace poolftpd::fuzz {
namespace {

using protocol::LineReader;

struct Event {
  bool too_long = false;
  std::string line;
  bool operator==(const Event&) const = default;
};

std::string Show(const std::vector<Event>& events) {
  std::string s;
  for (const auto& e : events) s += e.too_long ? "<TOOLONG> " : "[" + Printable(e.line, 60) + "] ";
  return s;
}

// The documented rules, written independently of line_reader.cc.
std::vector<Event> Model(std::string_view in) {
  constexpr unsigned char kIac = 255, kSb = 250, kSe = 240, kWill = 251, kDont = 254;
  enum { kData, kCmd, kOption, kSub, kSubIac } st = kData;
  std::string data;
  for (const char ch : in) {
    const auto c = static_cast<unsigned char>(ch);
    switch (st) {
      case kData:
        if (c == kIac) st = kCmd;
        else
          data += ch;
        break;
      case kCmd:
        if (c == kIac) {
          data += ch;
          st = kData;
        } else if (c >= kWill && c <= kDont) {
          st = kOption;
        } else if (c == kSb) {
          st = kSub;
        } else {
          st = kData;
        }
        break;
      case kOption:
        st = kData;
        break;
      case kSub:
        if (c == kIac) st = kSubIac;
        break;
      case kSubIac:
        st = c == kSe ? kData : kSub;
        break;
    }
  }
  std::string text;
  bool after_cr = false;
  for (const char ch : data) {
    if (ch == '\0' && after_cr) {
      after_cr = false;
      continue;
    }
    after_cr = ch == '\r';
    text += ch;
  }
  std::vector<Event> out;
  size_t start = 0;
  for (;;) {
    const size_t nl = text.find('\n', start);
    if (nl == std::string::npos) break;
    std::string seg = text.substr(start, nl - start);
    if (!seg.empty() && seg.back() == '\r') seg.pop_back();
    if (seg.size() > limits::kMaxCommandLine) out.push_back({true, ""});
    else
      out.push_back({false, std::move(seg)});
    start = nl + 1;
  }
  // An unterminated line is reported as soon as it is longer than the
  // limit plus one byte (the CR of a CRLF still to come), before its LF.
  if (text.size() - start > limits::kMaxCommandLine + 1) out.push_back({true, ""});
  return out;
}

// Pops up to `max` events.
void PopSome(LineReader* r, std::vector<Event>* out, size_t max) {
  std::string line;
  for (size_t i = 0; i < max; ++i) {
    const LineReader::Next n = r->Pop(&line);
    if (n == LineReader::Next::kNeedMore) return;
    out->push_back(n == LineReader::Next::kTooLong ? Event{true, ""} : Event{false, line});
  }
}

void CheckReader(std::string_view payload, unsigned seed, const std::vector<Event>& want) {
  std::minstd_rand rng(seed);
  LineReader r;
  std::vector<Event> got;
  size_t pos = 0;
  // Feed sizes from 1 byte to a few KiB, so pieces both split every
  // sequence and span whole lines.
  const size_t max_piece = (seed & 1) ? 16 : 6000;
  while (pos < payload.size()) {
    const size_t n = std::min(payload.size() - pos, 1 + rng() % max_piece);
    r.Feed(payload.substr(pos, n));
    pos += n;
    PopSome(&r, &got, rng() % 3 == 0 ? 0 : rng() % 4 + 1);
    if (rng() % 4 == 0) {
      PopSome(&r, &got, SIZE_MAX);
      FUZZ_CHECK(r.buffered() <= limits::kMaxCommandLine + 1,
                 "%zu bytes buffered after every line was popped", r.buffered());
    }
  }
  PopSome(&r, &got, SIZE_MAX);
  FUZZ_CHECK(r.buffered() <= limits::kMaxCommandLine + 1,
             "%zu bytes buffered after every line was popped", r.buffered());
  FUZZ_CHECK(got == want, "reader: %s\n  model:  %s", Show(got).c_str(), Show(want).c_str());

  r.Clear();
  FUZZ_CHECK(r.buffered() == 0, "Clear() left %zu bytes", r.buffered());
  r.Feed("NOOP\r\n");
  std::vector<Event> after;
  PopSome(&r, &after, SIZE_MAX);
  const bool as_new = after.size() == 1 && !after[0].too_long && after[0].line == "NOOP";
  FUZZ_CHECK(as_new, "after Clear(): %s", Show(after).c_str());
}

void CheckChannel(std::string_view payload, unsigned mode, const std::vector<Event>& want) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) std::abort();
  UniqueFd client(sv[1]);
  // The whole input goes in at once (the socket buffer holds far more than
  // -max_len), then EOF.
  std::string_view left = payload;
  while (!left.empty()) {
    const ssize_t n = ::send(client.get(), left.data(), left.size(), MSG_NOSIGNAL);
    if (n <= 0) std::abort();
    left.remove_prefix(static_cast<size_t>(n));
  }
  ::shutdown(client.get(), SHUT_WR);
  std::unique_ptr<net::Stream> stream;
  const size_t piece = 1 + (mode >> 1) % 600;
  if (mode & 1)
    stream = std::make_unique<testing_streams::BufferingStream>(UniqueFd(sv[0]), mode, piece);
  else
    stream = std::make_unique<testing_streams::PieceStream>(UniqueFd(sv[0]), mode, piece);
  static const std::function<bool()> kNoStop;
  protocol::ControlChannel ch(*stream, protocol::ControlTimeouts{}, nullptr, kNoStop);
  ch.Started();
  std::vector<Event> got;
  std::string line;
  for (;;) {
    const auto r = ch.ReadLine(&line, /*logged_in=*/(mode & 2) != 0);
    if (r == protocol::ControlChannel::Read::kEof) break;
    FUZZ_CHECK(
        r == protocol::ControlChannel::Read::kLine || r == protocol::ControlChannel::Read::kTooLong,
        "ReadLine returned %d without timeouts or stop orders", static_cast<int>(r));
    got.push_back(r == protocol::ControlChannel::Read::kTooLong ? Event{true, ""}
                                                                : Event{false, line});
    FUZZ_CHECK(got.size() <= want.size(), "more lines than the model: %s", Show(got).c_str());
  }
  FUZZ_CHECK(got == want, "channel: %s\n  model:   %s", Show(got).c_str(), Show(want).c_str());
}

}  // namespace
}  // namespace poolftpd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace poolftpd::fuzz;
  Input in(data, size);
  const unsigned lo = in.Byte();
  const unsigned seed = lo | (unsigned{in.Byte()} << 8);
  const std::string_view payload = in.rest();
  const std::vector<Event> want = Model(payload);
  CheckReader(payload, seed, want);
  CheckChannel(payload, seed, want);
  return 0;
}
