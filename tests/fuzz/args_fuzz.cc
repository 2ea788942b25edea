// Fuzz target: the command argument parsers. The pure ones directly
// (data::ParsePort and ParseEprt, net::IpAddress and Cidr, util's number
// parser, LIST options, MLST fact lists), then the argument as a logged-in
// client sends it after a verb picked by the first input byte (PORT, EPRT,
// EPSV, REST, SITE, MFMT, OPTS, TYPE, MODE, STRU, HELP, ALLO), through a
// whole Session (session_harness.h), so the handlers that parse their own
// argument (EPSV, REST, SITE, OPTS, ...) run too. MFMT is not implemented
// (RFC 3659 drafts; no parser): its only property is the 5xx answer.
// Properties:
//  - Parsers accept exactly their grammar (RFC 959 h1,h2,h3,h4,p1,p2 with
//    numbers 0-255; RFC 2428 |proto|addr|port|) and what they accept reads
//    back the same after formatting (FormatPasv, ToString).
//  - The session's reply to the command is the one the parser's verdict
//    implies: PORT/EPRT 501/522 when unparsable, 500 for another host or a
//    privileged port, else 200; REST 350 or 501; EPSV 200/229/522; the
//    others a code of their RFC's set.
#include <string>

#include "poolftpd/data/data_channel.h"
#include "poolftpd/fs/listing.h"
#include "poolftpd/util/net.h"
#include "poolftpd/util/strings.h"
#include "session_harness.h"

namespace poolftpd::fuzz {
namespace {

Harness* g_harness = nullptr;

bool IsDecimal(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// Decimal digits whose value is at most `max` (no overflow: by length,
// then text order).
bool DecimalAtMost(std::string_view s, uint64_t max) {
  if (!IsDecimal(s)) return false;
  while (s.size() > 1 && s.front() == '0') s.remove_prefix(1);
  const std::string m = std::to_string(max);
  return s.size() < m.size() || (s.size() == m.size() && s <= m);
}

void CheckNumbers(std::string_view arg) {
  const auto v = util::ParseUnsigned<uint64_t>(arg, UINT64_MAX / 2);
  FUZZ_CHECK(v.has_value() == DecimalAtMost(arg, UINT64_MAX / 2), "ParseUnsigned(\"%s\")",
             Printable(arg).c_str());
  if (v)
    FUZZ_CHECK(std::to_string(*v) ==
                   std::string(arg).erase(0, std::min(arg.find_first_not_of('0'), arg.size() - 1)),
               "ParseUnsigned(\"%s\") = %llu", Printable(arg).c_str(),
               static_cast<unsigned long long>(*v));
}

void CheckPort(std::string_view arg) {
  const auto ep = data::ParsePort(arg);
  // The grammar: six fields split on ',', each (blanks around it aside) a
  // decimal number 0-255.
  const auto parts = util::Split(arg, ',');
  bool ok = parts.size() == 6;
  for (size_t i = 0; ok && i < parts.size(); ++i) ok = DecimalAtMost(util::Trim(parts[i]), 255);
  FUZZ_CHECK(ep.has_value() == ok, "ParsePort(\"%s\") %s", Printable(arg).c_str(),
             ep ? "accepted" : "refused");
  if (!ep) return;
  FUZZ_CHECK(ep->addr.is_v4(), "ParsePort gave a non-IPv4 address");
  // What PASV would write for it reads back the same.
  const std::string pasv = data::FormatPasv(ep->addr, ep->port);
  const size_t open = pasv.find('('), close = pasv.find(')');
  const auto back = data::ParsePort(std::string_view(pasv).substr(open + 1, close - open - 1));
  FUZZ_CHECK(back && back->addr == ep->addr && back->port == ep->port, "FormatPasv: \"%s\"",
             pasv.c_str());
}

void CheckEprt(std::string_view arg) {
  const auto ep = data::ParseEprt(arg);
  if (!ep) return;
  FUZZ_CHECK(ep->port != 0, "EPRT port 0 accepted: \"%s\"", Printable(arg).c_str());
  const std::string again = "|" + std::string(ep->addr.is_v4() ? "1" : "2") + "|" +
                            ep->addr.ToString() + "|" + std::to_string(ep->port) + "|";
  const auto back = data::ParseEprt(again);
  FUZZ_CHECK(back && back->addr == ep->addr && back->port == ep->port,
             "EPRT \"%s\" formats as \"%s\", which reads back differently", Printable(arg).c_str(),
             Printable(again).c_str());
}

void CheckAddresses(std::string_view arg) {
  if (const auto a = net::IpAddress::Parse(arg)) {
    const std::string text = a->ToString();
    const auto back = net::IpAddress::Parse(text);
    FUZZ_CHECK(back && *back == *a, "IpAddress \"%s\" -> \"%s\"", Printable(arg).c_str(),
               text.c_str());
    FUZZ_CHECK(a->is_v4() != a->is_v6(), "IpAddress \"%s\" is neither or both families",
               Printable(arg).c_str());
  }
  if (const auto c = net::Cidr::Parse(arg)) {
    FUZZ_CHECK(c->prefix >= 0 && c->prefix <= (c->network.is_v4() ? 32 : 128), "prefix %d",
               c->prefix);
    FUZZ_CHECK(c->Contains(c->network), "Cidr \"%s\" does not contain its network",
               Printable(arg).c_str());
    const auto back = net::Cidr::Parse(c->ToString());
    FUZZ_CHECK(back && back->prefix == c->prefix && back->network == c->network,
               "Cidr \"%s\" -> \"%s\"", Printable(arg).c_str(), c->ToString().c_str());
  }
}

void CheckListArgs(std::string_view arg) {
  fs::ListOptions opts;
  std::string path;
  fs::ParseListArgs(arg, &opts, &path);
  FUZZ_CHECK(arg.ends_with(path), "LIST path \"%s\" is not the end of \"%s\"",
             Printable(path).c_str(), Printable(arg).c_str());
  const unsigned facts = fs::ParseFactList(arg);
  FUZZ_CHECK((facts & ~unsigned{fs::kFactAll}) == 0, "facts 0x%x", facts);
  (void)fs::FeatFactList(facts);
}

struct VerbCase {
  const char* verb;
  std::vector<int> codes;  // the replies its RFC allows (when no rule below is exact)
};

const VerbCase kVerbs[] = {
    {"PORT", {}},
    {"EPRT", {}},
    {"EPSV", {}},
    {"REST", {}},
    {"SITE", {214, 500, 501, 502, 504, 550}},
    {"MFMT", {500, 501, 502, 504}},
    {"OPTS", {200, 451, 501, 502}},
    {"TYPE", {200, 501, 504}},
    {"MODE", {200, 501, 504}},
    {"STRU", {200, 501, 504}},
    {"HELP", {211, 214, 501, 502}},
    {"ALLO", {200, 202, 501, 504}},
};

// The reply the parser's verdict implies, or 0 when the verb's set applies.
int Expected(std::string_view verb, std::string_view arg) {
  const std::string_view t = util::Trim(arg);
  const auto local = *net::IpAddress::Parse("127.0.0.1");
  if (verb == "PORT") {
    const auto ep = data::ParsePort(t);
    if (!ep) return 501;
    return (ep->addr == local && ep->port >= 1024) ? 200 : 500;
  }
  if (verb == "EPRT") {
    const auto ep = data::ParseEprt(t);
    if (!ep) return ep.error().code() == ErrorCode::kNotFound ? 522 : 501;
    return (ep->addr == local && ep->port >= 1024) ? 200 : 500;
  }
  if (verb == "REST") return util::ParseUnsigned<uint64_t>(t, UINT64_MAX / 2) ? 350 : 501;
  if (verb == "EPSV") {
    const std::string u = util::ToUpper(t);
    if (u == "ALL") return 200;
    return (u.empty() || u == "1") ? 229 : 522;
  }
  return 0;
}

}  // namespace
}  // namespace poolftpd::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  poolftpd::fuzz::g_harness = new poolftpd::fuzz::Harness;
  std::atexit([] { delete poolftpd::fuzz::g_harness; });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace poolftpd;
  using namespace poolftpd::fuzz;
  Input in(data, size);
  const VerbCase& vc = kVerbs[in.Byte() % std::size(kVerbs)];
  // The argument as the session will see it: one line, no Telnet IAC, no
  // CR (the reader turns CR NUL into CR), within the line limit.
  std::string arg;
  for (const char c : in.rest().substr(0, 1000))
    if (c != '\n' && c != '\r' && c != '\xff') arg += c;

  CheckNumbers(arg);
  CheckPort(arg);
  CheckPort(util::Trim(arg));
  CheckEprt(arg);
  CheckEprt(util::Trim(arg));
  CheckAddresses(arg);
  CheckListArgs(arg);

  const std::string verb = vc.verb;
  const std::string input =
      "USER anonymous\r\nPASS fuzz@example.org\r\n" + verb + " " + arg + "\r\nQUIT\r\n";
  const std::string out = g_harness->Run(input, 7, 0);
  const std::vector<int> codes = CheckReplies(out, 4);
  // 220, 331, 230, the command's reply, 221.
  FUZZ_CHECK(codes.size() >= 5 && codes[0] == 220 && codes[1] == 331 && codes[2] == 230,
             "the harness's login failed: \"%s\"", Printable(out, 400).c_str());
  const int got = codes[3];
  // Arity is the gate's: a verb that needs an argument refuses an empty one.
  if (util::Trim(arg).empty() && got == 501) return 0;
  const int want = Expected(verb, arg);
  if (want != 0) {
    FUZZ_CHECK(got == want, "%s \"%s\": reply %d, the parser implies %d", verb.c_str(),
               Printable(arg).c_str(), got, want);
  } else {
    bool allowed = false;
    for (const int c : vc.codes) allowed = allowed || c == got;
    FUZZ_CHECK(allowed, "%s \"%s\": reply %d", verb.c_str(), Printable(arg).c_str(), got);
  }
  FUZZ_CHECK(codes[4] == 221, "QUIT after %s got %d", verb.c_str(), codes[4]);
  return 0;
}
