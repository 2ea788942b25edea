// Fuzz target: ftpbench's client side of FTP (tools/ftpbench/protocol.h),
// which reads whatever the server under test sends: the bounded control
// LineBuffer, RFC 959 reply framing (ReplyParser), the 227/229 answers
// (ParsePasv, ParseEpsvPort) and the listing counter. Properties:
//  - LineBuffer yields the lines of a model (split on LF, one CR before it
//    dropped, a line of `capacity` bytes or more cut to its first
//    `capacity` bytes) whatever the read sizes; it never hands out empty
//    space while NextLine() is drained between reads.
//  - Every complete reply has a code 100-599 and its text is a prefix of
//    the line that opened it, at most kReplyTextKept bytes.
//  - ParsePasv/ParseEpsvPort read back the address and port of replies in
//    the RFC forms (what poolftpd writes) built from input bytes.
//  - ListingCounter counts the same whatever the chunking.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../../tools/ftpbench/protocol.h"
#include "fuzz_util.h"

namespace poolftpd::fuzz {
namespace {

using ftpbench::LineBuffer;
using ftpbench::ListingCounter;
using ftpbench::ReplyParser;

std::vector<std::string> ModelLines(std::string_view in, size_t cap) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t nl = in.find('\n', start);
    if (nl == std::string_view::npos) {
      // An unterminated tail is handed out only once it fills the buffer.
      if (in.size() - start >= cap) out.emplace_back(in.substr(start, cap));
      break;
    }
    std::string_view seg = in.substr(start, nl - start);
    if (seg.size() >= cap) {
      out.emplace_back(seg.substr(0, cap));
    } else {
      if (!seg.empty() && seg.back() == '\r') seg.remove_suffix(1);
      out.emplace_back(seg);
    }
    start = nl + 1;
  }
  return out;
}

void CheckLineBuffer(std::string_view payload, size_t cap, std::minstd_rand& rng,
                     std::vector<std::string>* lines) {
  LineBuffer buf(cap);
  size_t pos = 0;
  while (pos < payload.size()) {
    const std::span<char> space = buf.Space();
    FUZZ_CHECK(!space.empty(), "Space() is empty after NextLine() was drained (%zu buffered)",
               buf.buffered());
    const size_t n = std::min({space.size(), payload.size() - pos, 1 + rng() % (2 * cap)});
    std::memcpy(space.data(), payload.data() + pos, n);
    buf.Commit(n);
    pos += n;
    while (auto line = buf.NextLine()) {
      FUZZ_CHECK(line->size() <= cap, "line of %zu bytes from a %zu-byte buffer", line->size(),
                 cap);
      lines->emplace_back(*line);
    }
  }
  // The model hands out an unterminated tail that fills the buffer; the
  // buffer does so only when asked again with the tail in place.
  const std::vector<std::string> want = ModelLines(payload, cap);
  const bool tail_cut = want.size() == lines->size() + 1;
  FUZZ_CHECK(*lines == want || (tail_cut && std::equal(lines->begin(), lines->end(), want.begin())),
             "%zu lines, model %zu (capacity %zu)", lines->size(), want.size(), cap);
}

void CheckReplies(const std::vector<std::string>& lines) {
  ReplyParser p;
  std::string opened;
  for (const auto& l : lines) {
    const ReplyParser::Status st = p.Feed(l);
    if (st == ReplyParser::Status::kMalformed) {
      p.Reset();
      opened.clear();
      continue;
    }
    if (opened.empty()) opened = l;
    if (st == ReplyParser::Status::kDone) {
      FUZZ_CHECK(p.code() >= 100 && p.code() <= 599, "code %d", p.code());
      FUZZ_CHECK(p.text().size() <= ftpbench::kReplyTextKept, "text of %zu bytes", p.text().size());
      FUZZ_CHECK(std::string_view(opened).starts_with(p.text()), "text \"%s\" of line \"%s\"",
                 Printable(p.text()).c_str(), Printable(opened).c_str());
      opened.clear();
      (void)ftpbench::ParsePasv(l);
      (void)ftpbench::ParseEpsvPort(l);
    }
  }
}

void CheckPassiveReplies(std::string_view payload) {
  // Six bytes: an address and a port, written as poolftpd writes them.
  if (payload.size() < 6) return;
  const auto b = [&](size_t i) { return static_cast<unsigned>(static_cast<uint8_t>(payload[i])); };
  const unsigned port = b(4) * 256 + b(5);
  char pasv[96];
  std::snprintf(pasv, sizeof pasv, "227 Entering Passive Mode (%u,%u,%u,%u,%u,%u).", b(0), b(1),
                b(2), b(3), b(4), b(5));
  const auto a = ftpbench::ParsePasv(pasv);
  if (port == 0) {
    FUZZ_CHECK(!a, "port 0 accepted from \"%s\"", pasv);
  } else {
    FUZZ_CHECK(a && a->port == port && a->ip[0] == b(0) && a->ip[1] == b(1) && a->ip[2] == b(2) &&
                   a->ip[3] == b(3),
               "ParsePasv(\"%s\")", pasv);
  }
  const char d = static_cast<char>('!' + b(0) % 94);
  std::string epsv = "229 Entering Extended Passive Mode (";
  epsv += std::string(3, d) + std::to_string(port) + d + ")";
  const auto p = ftpbench::ParseEpsvPort(epsv);
  if (port == 0 || (d >= '0' && d <= '9')) {
    FUZZ_CHECK(!p, "ParseEpsvPort(\"%s\") accepted", Printable(epsv).c_str());
  } else {
    FUZZ_CHECK(p && *p == port, "ParseEpsvPort(\"%s\")", Printable(epsv).c_str());
  }
}

void CheckListing(std::string_view payload, std::minstd_rand& rng, bool mlsd) {
  const auto kind = mlsd ? ListingCounter::Kind::kMlsd : ListingCounter::Kind::kList;
  ListingCounter whole, pieces;
  whole.Reset(kind);
  pieces.Reset(kind);
  whole.Feed(payload);
  whole.Finish();
  for (size_t pos = 0; pos < payload.size();) {
    const size_t n = std::min(payload.size() - pos, 1 + rng() % 700);
    pieces.Feed(payload.substr(pos, n));
    pos += n;
  }
  pieces.Finish();
  FUZZ_CHECK(whole.entries() == pieces.entries() && whole.lines() == pieces.lines(),
             "whole: %llu entries %llu lines, in pieces: %llu entries %llu lines",
             static_cast<unsigned long long>(whole.entries()),
             static_cast<unsigned long long>(whole.lines()),
             static_cast<unsigned long long>(pieces.entries()),
             static_cast<unsigned long long>(pieces.lines()));
  FUZZ_CHECK(whole.entries() <= whole.lines(), "more entries than lines");
}

}  // namespace
}  // namespace poolftpd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace poolftpd::fuzz;
  Input in(data, size);
  const size_t cap = 16 + in.Byte() * 2;
  std::minstd_rand rng(in.Byte() + 1);
  const std::string_view payload = in.rest();
  std::vector<std::string> lines;
  CheckLineBuffer(payload, cap, rng, &lines);
  CheckReplies(lines);
  CheckPassiveReplies(payload);
  CheckListing(payload, rng, (cap & 2) != 0);
  return 0;
}
