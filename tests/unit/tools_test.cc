// Unit tests of the tools' shared code (tools/common): escaping, durations,
// percentages, the ftpwho/ftpcount text and JSON formats (inetd mode and
// stale slots included), directive scanning, scoreboard path resolution and
// snapshot loading; then the built ftpwho/ftpcount binaries
// against live, stale and hand-corrupted scoreboards (skipped when they
// have not been built next to this test).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "../../tools/common/cli.h"
#include "../../tools/common/format.h"
#include "../../tools/common/source.h"
#include "poolftpd/scoreboard/layout.h"
#include "poolftpd/scoreboard/scoreboard.h"

namespace poolftpd::tools {
namespace {

using sb::HeaderView;
using sb::SlotState;
using sb::SlotView;
using sb::XferDir;

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kNow = 1'700'000'000 * kSec;

// ---------------------------------------------------------------------------
// A tiny JSON validator: true iff `s` is exactly one JSON value (RFC 8259)
// plus optional whitespace.

class JsonChecker {
 public:
  explicit JsonChecker(std::string_view s) : s_(s) {}
  bool Valid() {
    Ws();
    if (!Value()) return false;
    Ws();
    return i_ == s_.size();
  }

 private:
  void Ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r'))
      ++i_;
  }
  bool Lit(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  bool Value() {
    if (++depth_ > 64 || i_ >= s_.size()) return false;
    bool ok;
    switch (s_[i_]) {
      case '{':
        ok = Object();
        break;
      case '[':
        ok = Array();
        break;
      case '"':
        ok = String();
        break;
      case 't':
        ok = Lit("true");
        break;
      case 'f':
        ok = Lit("false");
        break;
      case 'n':
        ok = Lit("null");
        break;
      default:
        ok = Number();
    }
    --depth_;
    return ok;
  }
  bool Object() {
    ++i_;
    Ws();
    if (i_ < s_.size() && s_[i_] == '}') return ++i_, true;
    for (;;) {
      Ws();
      if (i_ >= s_.size() || s_[i_] != '"' || !String()) return false;
      Ws();
      if (i_ >= s_.size() || s_[i_++] != ':') return false;
      Ws();
      if (!Value()) return false;
      Ws();
      if (i_ >= s_.size()) return false;
      if (s_[i_] == '}') return ++i_, true;
      if (s_[i_++] != ',') return false;
    }
  }
  bool Array() {
    ++i_;
    Ws();
    if (i_ < s_.size() && s_[i_] == ']') return ++i_, true;
    for (;;) {
      Ws();
      if (!Value()) return false;
      Ws();
      if (i_ >= s_.size()) return false;
      if (s_[i_] == ']') return ++i_, true;
      if (s_[i_++] != ',') return false;
    }
  }
  bool String() {
    ++i_;
    while (i_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[i_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c == '\\') {
        if (i_ >= s_.size()) return false;
        const char e = s_[i_++];
        if (e == 'u') {
          for (int k = 0; k < 4; ++k, ++i_) {
            if (i_ >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[i_]))) return false;
          }
        } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
          return false;
        }
      }
    }
    return false;
  }
  bool Number() {
    const size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    if (i_ >= s_.size() || !std::isdigit(static_cast<unsigned char>(s_[i_]))) return false;
    if (s_[i_] == '0') {
      ++i_;
    } else {
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    }
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (i_ >= s_.size() || !std::isdigit(static_cast<unsigned char>(s_[i_]))) return false;
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    }
    return i_ > start;
  }
  std::string_view s_;
  size_t i_ = 0;
  int depth_ = 0;
};

bool IsValidJson(std::string_view s) { return JsonChecker(s).Valid(); }

TEST(JsonChecker, SelfTest) {
  EXPECT_TRUE(IsValidJson(R"({"a":[1,2.5,-3,true,false,null,"x\n\u00e9"],"b":{}})"));
  EXPECT_FALSE(IsValidJson(R"({"a":1,})"));
  EXPECT_FALSE(IsValidJson("{\"a\":\"raw\ncontrol\"}"));
  EXPECT_FALSE(IsValidJson(R"({"a":"\x"})"));
  EXPECT_FALSE(IsValidJson(R"({"a":01})"));
  EXPECT_FALSE(IsValidJson(R"({"a":1} {})"));
}

// ---------------------------------------------------------------------------
// Escaping

TEST(Escape, TerminalSafe) {
  EXPECT_EQ(EscapeText("plain /pub/file.iso"), "plain /pub/file.iso");
  EXPECT_EQ(EscapeText("\x1b[31mred"), "\\x1b[31mred");
  EXPECT_EQ(EscapeText("a\tb\nc\rd"), "a\\tb\\nc\\rd");
  EXPECT_EQ(EscapeText(std::string_view("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(EscapeText("del\x7f"), "del\\x7f");
  EXPECT_EQ(EscapeText("back\\slash"), "back\\\\slash");
  EXPECT_EQ(EscapeText("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");  // UTF-8 kept
  EXPECT_EQ(EscapeText("csi\xc2\x9b"
                       "2J"),
            "csi\\u009b2J");  // C1 CSI
  EXPECT_EQ(EscapeText("raw\x9b"
                       "2J"),
            "raw\\x9b2J");  // bare 0x9b
  EXPECT_EQ(EscapeText("rlo\xe2\x80\xae"
                       "txt"),
            "rlo\\u202etxt");                                // bidi override
  EXPECT_EQ(EscapeText("bad\xff\xc3"), "bad\\xff\\xc3");     // invalid UTF-8
  EXPECT_EQ(EscapeText("\xc0\xaf"), "\\xc0\\xaf");           // overlong '/'
  EXPECT_EQ(EscapeText("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // surrogate
}

TEST(Escape, JsonStrings) {
  EXPECT_EQ(JsonString("x"), "\"x\"");
  EXPECT_EQ(JsonString("say \"hi\"\\"), R"("say \"hi\"\\")");
  EXPECT_EQ(JsonString("a\nb\tc\x01"), R"("a\nb\tc\u0001")");
  EXPECT_EQ(JsonString("\x1b[2J"), R"("\u001b[2J")");
  EXPECT_EQ(JsonString("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
  EXPECT_EQ(JsonString("bad\xff"), R"("bad\ufffd")");
  EXPECT_EQ(JsonString("\xc2\x9b"), R"("\u009b")");
  for (const char* s : {"\x1b", "\"", "\\", "\xff\xfe", "a\x7f", "\xe2\x80\xae"}) {
    EXPECT_TRUE(IsValidJson(JsonString(s))) << JsonString(s);
  }
}

// ---------------------------------------------------------------------------
// Durations, percentages, rates

TEST(Durations, ElapsedLikeProftpd) {
  EXPECT_EQ(FormatElapsed(0, kNow), "-");
  EXPECT_EQ(FormatElapsed(kNow - 5 * kSec, kNow), "0m5s");
  EXPECT_EQ(FormatElapsed(kNow - 303 * kSec, kNow), "5m3s");
  EXPECT_EQ(FormatElapsed(kNow - 3599 * kSec, kNow), "59m59s");
  EXPECT_EQ(FormatElapsed(kNow - 3600 * kSec, kNow), "1h0m");
  EXPECT_EQ(FormatElapsed(kNow - 4380 * kSec, kNow), "1h13m");
  EXPECT_EQ(FormatElapsed(kNow - 200 * 3600 * kSec, kNow), "200h0m");
  EXPECT_EQ(FormatElapsed(kNow + 50 * kSec, kNow), "0m0s");  // clock stepped back
}

TEST(Durations, Uptime) {
  EXPECT_EQ(FormatUptime(0), "0 min");
  EXPECT_EQ(FormatUptime(59 * 60), "59 min");
  EXPECT_EQ(FormatUptime(4380), " 1 hr 13 min");
  EXPECT_EQ(FormatUptime(2 * 3600 + 5 * 60), " 2 hrs 05 min");
  EXPECT_EQ(FormatUptime(86400 + 3600), "1 day,  1 hr 00 min");
  EXPECT_EQ(FormatUptime(3 * 86400 + 7 * 60), "3 days, 7 min");
  EXPECT_EQ(FormatUptime(-10), "0 min");
}

TEST(Progress, PercentComplete) {
  EXPECT_EQ(PercentComplete(0, 0), "0");
  EXPECT_EQ(PercentComplete(1000, 0), "0");
  EXPECT_EQ(PercentComplete(0, 10), "Inf");
  EXPECT_EQ(PercentComplete(1000, 425), "42");
  EXPECT_EQ(PercentComplete(1000, 999), "99");
  EXPECT_EQ(PercentComplete(1000, 1000), "100");
  EXPECT_EQ(PercentComplete(1000, 5000), "100");
  EXPECT_EQ(PercentComplete(UINT64_MAX, UINT64_MAX / 2), "49");
}

TEST(Progress, Rate) {
  SlotView v;
  v.rec.xfer_start_ns = kNow - 4 * kSec;
  v.bytes_done = 4 * 1024 * 1024;
  EXPECT_EQ(TransferRate(v, kNow), 1024u * 1024u);
  v.rec.xfer_start_ns = 0;
  EXPECT_EQ(TransferRate(v, kNow), 0u);
  v.rec.xfer_start_ns = kNow + kSec;  // in the future
  EXPECT_EQ(TransferRate(v, kNow), 0u);
}

// ---------------------------------------------------------------------------
// A fixed snapshot

HeaderView TestHeader() {
  HeaderView h;
  h.layout_version = sb::kLayoutVersion;
  h.slot_count = 8;
  h.master_pid = 1234;
  h.start_time_ns = kNow - 4380 * kSec;  // up 1 hr 13 min
  h.generation = 2;
  h.max_clients = 5;
  sb::SetText(h.server_name, "Test Server");
  sb::SetText(h.server_type, "standalone");
  h.total_sessions = 9;
  h.total_bytes = 123456;
  return h;
}

SlotView Slot(size_t index, int32_t pid, SlotState state) {
  SlotView v;
  v.index = index;
  v.rec.pid = pid;
  v.rec.state = state;
  v.rec.generation = 2;
  return v;
}

std::vector<SlotView> TestSlots() {
  std::vector<SlotView> slots;
  SlotView idle = Slot(0, 1240, SlotState::kIdle);
  idle.rec.session_start_ns = kNow - 303 * kSec;
  idle.rec.last_activity_ns = kNow - 2 * kSec;
  sb::SetText(idle.rec.user, "ftp");
  sb::SetText(idle.rec.client_addr, "host.example[192.0.2.7]");
  sb::SetText(idle.rec.server_addr, "192.0.2.1:21");
  sb::SetText(idle.rec.protocol, "ftp");
  sb::SetText(idle.rec.cwd, "/pub");
  slots.push_back(idle);

  SlotView retr = Slot(1, 1241, SlotState::kTransferring);
  retr.rec.session_start_ns = kNow - 10 * kSec;
  retr.rec.last_activity_ns = kNow - 4 * kSec;
  retr.rec.xfer_start_ns = kNow - 4 * kSec;
  retr.rec.xfer_dir = XferDir::kRetr;
  retr.rec.xfer_size = 10 * 1024 * 1024;
  retr.rec.xfer_offset = 0;
  retr.bytes_done = 4404020;  // 42%, 1075.20 KB/s over 4 s
  sb::SetText(retr.rec.user, "alice");
  sb::SetText(retr.rec.cmd, "RETR");
  sb::SetText(retr.rec.arg, "big.iso");
  sb::SetText(retr.rec.xfer_path, "/pub/big.iso");
  sb::SetText(retr.rec.client_addr, "198.51.100.9");
  sb::SetText(retr.rec.server_addr, "192.0.2.1:21");
  sb::SetText(retr.rec.protocol, "ftps");
  sb::SetText(retr.rec.cwd, "/pub");
  slots.push_back(retr);

  SlotView auth = Slot(2, 1242, SlotState::kConnected);
  auth.rec.session_start_ns = kNow - 1 * kSec;
  sb::SetText(auth.rec.client_addr, "203.0.113.5");
  slots.push_back(auth);

  slots.push_back(Slot(3, 1243, SlotState::kReady));     // idle worker: not a session
  slots.push_back(Slot(4, 1244, SlotState::kStarting));  // not a session
  SlotView torn = Slot(5, 1245, SlotState::kIdle);
  torn.updating = true;  // not listed, only counted
  slots.push_back(torn);
  return slots;
}

TEST(Who, DefaultOutput) {
  const std::string out = FormatWho(TestHeader(), TestSlots(), kNow, {});
  EXPECT_EQ(out,
            "standalone FTP daemon [1234], up for  1 hr 13 min\n"
            " 1240 ftp      [  5m3s]   0m2s idle\n"
            " 1241 alice    [ 0m10s] ( 42%) RETR big.iso KB/s: 1075.20\n"
            " 1242 (none)   [  0m1s] (authenticating)\n"
            "Service class Test Server          -   3 users\n");
}

// ftpwho streams: its formatter's text may be written out and cleared
// after any slot, and the pieces add up to FormatWho()'s output.
TEST(Who, StreamedOutputIsTheSameText) {
  for (const bool verbose : {false, true}) {
    WhoOptions o;
    o.verbose = verbose;
    WhoFormatter f(TestHeader(), kNow, o);
    std::string written;
    for (const SlotView& v : TestSlots()) {
      f.Add(v);
      written += f.out();
      f.out().clear();
    }
    f.Finish();
    written += f.out();
    EXPECT_EQ(written, FormatWho(TestHeader(), TestSlots(), kNow, o));
  }
  WhoJsonFormatter j(TestHeader(), kNow);
  for (const SlotView& v : TestSlots()) j.Add(v);
  j.Finish();
  EXPECT_EQ(j.head() + j.body(), FormatWhoJson(TestHeader(), TestSlots(), kNow));
  EXPECT_TRUE(IsValidJson(j.head() + j.body()));
}

// The formatters copy the header: the caller's may be a temporary (as in
// the test above) or change after the formatter was made. Under ASan a
// formatter that kept a reference failed the test above
// (stack-use-after-scope); here it fails in every build.
TEST(Who, FormattersKeepTheirOwnHeader) {
  WhoOptions o;
  o.verbose = true;
  HeaderView h = TestHeader();
  WhoFormatter f(h, kNow, o);
  WhoJsonFormatter j(h, kNow);
  CountFormatter c(h, {});
  h = HeaderView{};  // what a reused or rewritten buffer would hold
  h.master_pid = 99;
  for (const SlotView& v : TestSlots()) {
    f.Add(v);
    j.Add(v);
    c.Add(v);
  }
  f.Finish();
  j.Finish();
  EXPECT_EQ(f.out(), FormatWho(TestHeader(), TestSlots(), kNow, o));
  EXPECT_EQ(j.head() + j.body(), FormatWhoJson(TestHeader(), TestSlots(), kNow));
  EXPECT_EQ(c.Text(), FormatCount(TestHeader(), TestSlots(), {}));
  EXPECT_EQ(c.Json(), FormatCountJson(TestHeader(), TestSlots(), {}));
}

TEST(Who, NoUsers) {
  std::vector<SlotView> slots = {Slot(0, 10, SlotState::kReady), Slot(1, 11, SlotState::kReady)};
  EXPECT_EQ(FormatWho(TestHeader(), slots, kNow, {}),
            "standalone FTP daemon [1234], up for  1 hr 13 min\n"
            "no users connected\n");
  EXPECT_EQ(FormatWho(TestHeader(), {}, kNow, {}),
            "standalone FTP daemon [1234], up for  1 hr 13 min\n"
            "no users connected\n");
}

TEST(Who, OneUserIsSingular) {
  std::vector<SlotView> slots = TestSlots();
  slots.resize(1);
  const std::string out = FormatWho(TestHeader(), slots, kNow, {});
  EXPECT_NE(out.find("Service class Test Server          -   1 user\n"), std::string::npos) << out;
}

TEST(Who, Verbose) {
  WhoOptions o;
  o.verbose = true;
  const std::string out = FormatWho(TestHeader(), TestSlots(), kNow, o);
  EXPECT_EQ(out,
            "standalone FTP daemon [1234], up for  1 hr 13 min\n"
            " 1240 ftp      [  5m3s]   0m2s idle\n"
            "\tclient: host.example [192.0.2.7]\n"
            "\tserver: 192.0.2.1:21 (Test Server)\n"
            "\tprotocol: ftp\n"
            "\tlocation: /pub\n"
            " 1241 alice    [ 0m10s] ( 42%) RETR big.iso KB/s: 1075.20\n"
            "\tclient: 198.51.100.9 [198.51.100.9]\n"
            "\tserver: 192.0.2.1:21 (Test Server)\n"
            "\tprotocol: ftps\n"
            "\tlocation: /pub\n"
            " 1242 (none)   [  0m1s] (authenticating)\n"
            "\tclient: 203.0.113.5 [203.0.113.5]\n"
            "Service class Test Server          -   3 users\n"
            "1 idle worker in the pool, 8 slots, generation 2\n"
            "1 slot being updated or unreadable\n");
}

TEST(Who, Oneline) {
  WhoOptions o;
  o.verbose = true;
  o.oneline = true;
  const std::string out = FormatWho(TestHeader(), TestSlots(), kNow, o);
  std::istringstream in(out);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 7u) << out;  // master, 3 sessions, class, pool, updating
  EXPECT_EQ(lines[2],
            " 1241 alice    [ 0m10s] ( 42%) RETR big.iso KB/s: 1075.20 client: 198.51.100.9 "
            "[198.51.100.9] server: 192.0.2.1:21 (Test Server) protocol: ftps location: /pub");
  EXPECT_EQ(out.find('\t'), std::string::npos);
  // Without -v, oneline changes nothing: sessions are one line already.
  o.verbose = false;
  EXPECT_EQ(FormatWho(TestHeader(), TestSlots(), kNow, o),
            FormatWho(TestHeader(), TestSlots(), kNow, {}));
}

TEST(Who, UploadsListingsAndCommandsShowNa) {
  std::vector<SlotView> slots;
  SlotView stor = Slot(0, 50, SlotState::kTransferring);
  stor.rec.xfer_dir = XferDir::kStor;
  stor.rec.session_start_ns = kNow - 60 * kSec;
  sb::SetText(stor.rec.user, "bob");
  sb::SetText(stor.rec.cmd, "STOR");
  sb::SetText(stor.rec.arg, "up.bin");
  slots.push_back(stor);
  SlotView cwd = Slot(1, 51, SlotState::kLoggedIn);
  cwd.rec.session_start_ns = kNow - 3700 * kSec;
  sb::SetText(cwd.rec.user, "carol");
  sb::SetText(cwd.rec.cmd, "CWD");
  sb::SetText(cwd.rec.arg, "/pub");
  slots.push_back(cwd);
  SlotView closing = Slot(2, 52, SlotState::kClosing);
  sb::SetText(closing.rec.user, "dave");
  slots.push_back(closing);
  const std::string out = FormatWho(TestHeader(), slots, kNow, {});
  EXPECT_NE(out.find("   50 bob      [  1m0s] (n/a) STOR up.bin\n"), std::string::npos) << out;
  EXPECT_NE(out.find("   51 carol    [  1h1m] (n/a) CWD /pub\n"), std::string::npos) << out;
  EXPECT_NE(out.find("   52 dave     [     -] (closing)\n"), std::string::npos) << out;
}

TEST(Who, HostileClientStringsAreEscaped) {
  std::vector<SlotView> slots;
  SlotView v = Slot(0, 60, SlotState::kTransferring);
  v.rec.xfer_dir = XferDir::kRetr;
  v.rec.xfer_size = 100;
  sb::SetText(v.rec.user, "ev\x1b[2Jil");
  sb::SetText(v.rec.cmd, "RETR");
  sb::SetText(v.rec.arg,
              "x\nfake line\x07\xc2\x9b"
              "1m\"q\"");
  sb::SetText(v.rec.cwd, "/\x1b]0;title\x07");
  sb::SetText(v.rec.client_addr, "\x1b[1m[1.2.3.4]");
  slots.push_back(v);
  HeaderView h = TestHeader();
  sb::SetText(h.server_name, "srv\x1b");
  WhoOptions o;
  o.verbose = true;
  for (const std::string& out :
       {FormatWho(h, slots, kNow, {}), FormatWho(h, slots, kNow, o), FormatWhoJson(h, slots, kNow),
        FormatCount(h, slots, {}), FormatCountJson(h, slots, {})}) {
    for (unsigned char c : out) {
      EXPECT_TRUE(c >= 0x20 || c == '\n' || c == '\t') << "raw control byte " << int(c);
    }
    EXPECT_EQ(out.find("\xc2\x9b"), std::string::npos);
  }
  const std::string text = FormatWho(h, slots, kNow, {});
  EXPECT_NE(text.find("ev\\x1b[2Jil"), std::string::npos) << text;
  EXPECT_NE(text.find("x\\nfake line\\x07\\u009b1m\"q\""), std::string::npos) << text;
  const std::string json = FormatWhoJson(h, slots, kNow);
  EXPECT_TRUE(IsValidJson(json)) << json;
  EXPECT_NE(json.find(R"("argument":"x\nfake line\u0007\u009b1m\"q\"")"), std::string::npos)
      << json;
}

TEST(Who, Json) {
  HeaderView h = TestHeader();
  const std::string json = FormatWhoJson(h, TestSlots(), kNow);
  ASSERT_TRUE(IsValidJson(json)) << json;
  EXPECT_EQ(json.back(), '\n');
  EXPECT_EQ(json.find('\n'), json.size() - 1) << "one line";
  EXPECT_NE(
      json.find(R"({"server":{"pid":1234,"started":1699995620,"generation":2,)"
                R"("type":"standalone","uptime":4380,"name":"Test Server",)"
                R"("max_clients":5,"slots":8,"idle_workers":1,"updating_slots":1,)"
                R"("stale_slots":0,"total_sessions":9,"total_bytes":123456,"shutdown":null},)"),
      std::string::npos)
      << json;
  EXPECT_NE(json.find(R"({"pid":1240,"user":"ftp","state":"idle","generation":2,"command":"",)"
                      R"("argument":"","client":"host.example[192.0.2.7]",)"
                      R"("server":"192.0.2.1:21","protocol":"ftp","cwd":"/pub",)"
                      R"("session_start":1699999697,"idle_seconds":2,"transfer":null})"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("transfer":{"direction":"download","path":"/pub/big.iso",)"
                      R"("size":10485760,"offset":0,"bytes_done":4404020,"percent":42.0,)"
                      R"("rate_bytes_per_sec":1101005})"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("pid":1242,"user":"","state":"connected")"), std::string::npos);
  EXPECT_EQ(json.find("1243"), std::string::npos) << "ready worker listed";
  EXPECT_EQ(json.find("1245"), std::string::npos) << "updating slot listed";

  h.shutdown_time = 1700003600;
  h.deny_time = 1700003000;
  h.disconnect_time = 1700003300;
  sb::SetText(h.shutdown_msg, "going down");
  const std::string shut = FormatWhoJson(h, {}, kNow);
  ASSERT_TRUE(IsValidJson(shut)) << shut;
  // The shape ftpdctl status --json prints too (ShutdownJson), then the
  // keys ftpwho printed first ("time", "deny", "disconnect"), same values.
  EXPECT_NE(shut.find(R"("shutdown":{"shutdown_time":1700003600,"deny_time":1700003000,)"
                      R"("disconnect_time":1700003300,"message":"going down",)"
                      R"("time":1700003600,"deny":1700003000,)"
                      R"("disconnect":1700003300}},"connections":[]})"),
            std::string::npos)
      << shut;
}

TEST(ShutdownJson, OneShapeForBothTools) {
  EXPECT_EQ(ShutdownJson(0, 0, 0, "ignored"), "null");
  EXPECT_EQ(ShutdownJson(0, 5, 6, "ignored", true), "null");
  const std::string ctl = ShutdownJson(1700003600, 1700003000, 1700003300, "going \"down\"");
  EXPECT_TRUE(IsValidJson(ctl)) << ctl;
  EXPECT_EQ(ctl,
            R"({"shutdown_time":1700003600,"deny_time":1700003000,"disconnect_time":1700003300,)"
            R"("message":"going \"down\""})");
  // ftpwho's form is the same object with the aliases appended.
  const std::string who = ShutdownJson(1700003600, 1700003000, 1700003300, "going \"down\"", true);
  EXPECT_TRUE(IsValidJson(who)) << who;
  EXPECT_EQ(who, ctl.substr(0, ctl.size() - 1) +
                     R"(,"time":1700003600,"deny":1700003000,"disconnect":1700003300})");
}

TEST(Who, JsonPercentUnknownSize) {
  SlotView v = Slot(0, 70, SlotState::kTransferring);
  v.rec.xfer_dir = XferDir::kStor;
  v.bytes_done = 10;
  const std::string json = FormatWhoJson(TestHeader(), {v}, kNow);
  ASSERT_TRUE(IsValidJson(json)) << json;
  EXPECT_NE(json.find(R"("direction":"upload")"), std::string::npos);
  EXPECT_NE(json.find(R"("percent":null)"), std::string::npos);
}

// ---------------------------------------------------------------------------
// ftpcount

TEST(Count, Text) {
  EXPECT_EQ(FormatCount(TestHeader(), TestSlots(), {}),
            "Master poolftpd process 1234:\n"
            "Service class Test Server          -   3 users\n");
  EXPECT_EQ(FormatCount(TestHeader(), {}, {}), "Master poolftpd process 1234:\n0 users\n");
  CountOptions other;
  other.server = "Other";
  EXPECT_EQ(FormatCount(TestHeader(), TestSlots(), other),
            "Master poolftpd process 1234:\npoolftpd Server 'Other'\n0 users\n");
}

TEST(Count, JsonCountsDistinctUsers) {
  std::vector<SlotView> slots = TestSlots();
  SlotView again = slots[1];  // alice a second time
  again.rec.pid = 1300;
  slots.push_back(again);
  const std::string json = FormatCountJson(TestHeader(), slots, {});
  ASSERT_TRUE(IsValidJson(json)) << json;
  EXPECT_EQ(json, R"({"master_pid":1234,"servers":[{"name":"Test Server","sessions":4,"users":2}],)"
                  R"("sessions":4,"users":2})"
                  "\n");
  CountOptions same;
  same.server = "Test Server";
  EXPECT_EQ(FormatCountJson(TestHeader(), slots, same), json);
  CountOptions other;
  other.server = "Other";
  EXPECT_EQ(FormatCountJson(TestHeader(), slots, other),
            "{\"master_pid\":1234,\"servers\":[],\"sessions\":0,\"users\":0}\n");
}

// ---------------------------------------------------------------------------
// inetd mode and stale slots

HeaderView InetdHeader() {
  HeaderView h = TestHeader();
  h.master_pid = 0;
  h.master_start_ticks = 0;
  sb::SetText(h.server_type, "inetd");
  return h;
}

TEST(Inetd, WhoPrintsProftpdsInetdHeader) {
  EXPECT_TRUE(sb::IsInetd(InetdHeader()));
  EXPECT_FALSE(sb::IsInetd(TestHeader()));
  HeaderView stopped = TestHeader();
  stopped.master_pid = 0;  // a standalone master that exited: not inetd
  EXPECT_FALSE(sb::IsInetd(stopped));

  EXPECT_EQ(FormatWho(InetdHeader(), TestSlots(), kNow, {}),
            "inetd FTP daemon:\n"
            " 1240 ftp      [  5m3s]   0m2s idle\n"
            " 1241 alice    [ 0m10s] ( 42%) RETR big.iso KB/s: 1075.20\n"
            " 1242 (none)   [  0m1s] (authenticating)\n"
            "Service class Test Server          -   3 users\n");
  EXPECT_EQ(FormatWho(InetdHeader(), {}, kNow, {}), "inetd FTP daemon:\nno users connected\n");
  WhoOptions v;
  v.verbose = true;
  const std::string verbose = FormatWho(InetdHeader(), TestSlots(), kNow, v);
  EXPECT_NE(verbose.find("\n8 slots\n"), std::string::npos) << verbose;
  EXPECT_EQ(verbose.find("idle worker"), std::string::npos) << verbose;
  const std::string json = FormatWhoJson(InetdHeader(), TestSlots(), kNow);
  ASSERT_TRUE(IsValidJson(json)) << json;
  EXPECT_NE(json.find(R"({"server":{"pid":0,)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("type":"inetd")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("pid":1241,"user":"alice")"), std::string::npos) << json;
}

TEST(Inetd, CountPrintsProftpdsInetdHeader) {
  EXPECT_EQ(FormatCount(InetdHeader(), TestSlots(), {}),
            "inetd FTP connections:\n"
            "Service class Test Server          -   3 users\n");
  EXPECT_EQ(FormatCount(InetdHeader(), {}, {}), "inetd FTP connections:\n0 users\n");
  EXPECT_EQ(FormatCountJson(InetdHeader(), TestSlots(), {}),
            R"({"master_pid":0,"servers":[{"name":"Test Server","sessions":3,"users":2}],)"
            R"("sessions":3,"users":2})"
            "\n");
}

TEST(Inetd, StaleSlotsAreNeverSessions) {
  std::vector<SlotView> slots = TestSlots();
  SlotView dead = Slot(6, 1299, SlotState::kTransferring);
  dead.stale = true;
  dead.owner_pid = 1299;
  dead.rec.session_start_ns = kNow - 65 * kSec;
  dead.rec.xfer_dir = XferDir::kRetr;
  dead.rec.xfer_size = 100;
  sb::SetText(dead.rec.user, "ghost");
  sb::SetText(dead.rec.cmd, "RETR");
  slots.push_back(dead);
  SlotView dead_ready = Slot(7, 1300, SlotState::kReady);  // not counted as idle either
  dead_ready.stale = true;
  slots.push_back(dead_ready);
  EXPECT_FALSE(IsListedSession(dead));

  for (const HeaderView& h : {InetdHeader(), TestHeader()}) {
    const std::string plain = FormatWho(h, slots, kNow, {});
    EXPECT_EQ(plain.find("1299"), std::string::npos) << plain;
    EXPECT_EQ(plain.find("ghost"), std::string::npos) << plain;
    EXPECT_NE(plain.find("-   3 users\n"), std::string::npos) << plain;
    WhoOptions v;
    v.verbose = true;
    const std::string verbose = FormatWho(h, slots, kNow, v);
    EXPECT_NE(verbose.find(" 1299 ghost    [  1m5s] (stale: process gone)\n"), std::string::npos)
        << verbose;
    EXPECT_NE(verbose.find(" 1300 (none)   [     -] (stale: process gone)\n"), std::string::npos)
        << verbose;
    EXPECT_NE(verbose.find("2 stale slots (session process gone)\n"), std::string::npos) << verbose;
    const std::string json = FormatWhoJson(h, slots, kNow);
    ASSERT_TRUE(IsValidJson(json)) << json;
    EXPECT_NE(json.find(R"("stale_slots":2,)"), std::string::npos) << json;
    EXPECT_EQ(json.find("1299"), std::string::npos) << json;
    EXPECT_NE(FormatCount(h, slots, {}).find("-   3 users\n"), std::string::npos);
    EXPECT_NE(FormatCountJson(h, slots, {}).find(R"("sessions":3,"users":2})"), std::string::npos);
  }
  // The idle-worker count of a standalone server ignores the stale one.
  WhoOptions v;
  v.verbose = true;
  EXPECT_NE(FormatWho(TestHeader(), slots, kNow, v).find("1 idle worker in the pool"),
            std::string::npos);
}

// ---------------------------------------------------------------------------
// Finding the scoreboard

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/toolstest.XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
    owner_ = ::getpid();
  }
  ~TempDir() {
    if (::getpid() != owner_) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
  pid_t owner_;
};

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// The config is read by the server's parser: quoting, case-insensitive
// names, comments, a later directive winning, a last line without newline.
TEST(Directive, ParsedLikeTheServer) {
  TempDir dir;
  const std::string conf = dir.File("poolftpd.conf");
  auto sb_of = [&](const std::string& text) -> Result<std::optional<std::string>> {
    WriteFile(conf, text);
    auto p = ReadConfigPaths(conf, {});
    if (!p) return p.error();
    return p->scoreboard_file;
  };
  EXPECT_EQ(sb_of("ScoreboardFile /run/x.sb\n")->value_or(""), "/run/x.sb");
  EXPECT_EQ(sb_of("  scoreboardfile\t/run/x.sb  \r\n")->value_or(""), "/run/x.sb");
  EXPECT_EQ(sb_of("SCOREBOARDFILE \"/run/with space.sb\"\n")->value_or(""), "/run/with space.sb");
  EXPECT_EQ(sb_of(R"(ScoreboardFile "/a\"b\\c")"
                  "\n")
                ->value_or(""),
            "/a\"b\\c");
  EXPECT_FALSE(sb_of("# ScoreboardFile /x\n")->has_value());
  EXPECT_FALSE(sb_of("PidFile /run/x.pid\n")->has_value());
  EXPECT_FALSE(sb_of("")->has_value());
  EXPECT_EQ(sb_of("ScoreboardFile /run/first.sb\nScoreboardFile /run/second.sb")->value_or(""),
            "/run/second.sb");
  // What the server refuses, the tools refuse too, at file:line.
  for (const char* text : {"ScoreboardFileX /x\n", "ServerName x\nScoreboardFile\n",
                           "ServerName x\nScoreboardFile /a trailing\n",
                           "ServerName x\nScoreboardFile relative.sb\n"}) {
    auto r = sb_of(text);
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().context().rfind(conf + ":", 0), 0u) << r.error().context();
  }
}

// Include and <IfDefine> mean to the tools what they mean to the server.
TEST(Directive, IncludeAndIfDefine) {
  TempDir dir;
  const std::string conf = dir.File("poolftpd.conf");
  const std::string inc = dir.File("paths.conf");
  WriteFile(inc, "ScoreboardFile /run/included.sb\nPidFile /run/included.pid\n");
  WriteFile(conf,
            "ServerName x\n"
            "Include " +
                inc +
                "\n"
                "<IfDefine NEVER>\n"
                "ScoreboardFile /run/never.sb\n"
                "ShutdownFile /run/never.shut\n"
                "</IfDefine>\n"
                "<IfDefine !NEVER>\n"
                "ShutdownFile /run/not-never.shut\n"
                "</IfDefine>\n");
  auto p = ReadConfigPaths(conf, {});
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->scoreboard_file.value_or(""), "/run/included.sb");
  EXPECT_EQ(p->pid_file.value_or(""), "/run/included.pid");
  EXPECT_EQ(p->shutdown_file.value_or(""), "/run/not-never.shut");
  EXPECT_EQ(*ResolveScoreboardPath(std::nullopt, conf, {}), "/run/included.sb");
  // -D NEVER: the block is read, and it comes after the Include.
  EXPECT_EQ(*ResolveScoreboardPath(std::nullopt, conf, {"NEVER"}), "/run/never.sb");
  auto d = ReadConfigPaths(conf, {"NEVER"});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->shutdown_file.value_or(""), "/run/never.shut");
  // An error inside the included file names that file and line.
  WriteFile(inc, "ServerName y\nNoSuchDirective 1\n");
  auto bad = ReadConfigPaths(conf, {});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().context().find(inc + ":2:"), std::string::npos) << bad.error().context();
}

TEST(Directive, ScanAndResolve) {
  TempDir dir;
  const std::string conf = dir.File("poolftpd.conf");
  WriteFile(conf,
            "# ScoreboardFile /commented\n"
            "ServerName \"x\"\n"
            "  <IfDefine NEVER>\n"
            "ScoreboardFile \"/run/first.sb\"\n"
            "  </IfDefine>\n"
            "ScoreboardFile /run/second.sb\n");
  const std::string none = dir.File("none.conf");
  WriteFile(none, "ServerName x");  // no directive, no final newline
  auto nothing = ReadConfigPaths(none, {});
  ASSERT_TRUE(nothing);
  EXPECT_FALSE(nothing->scoreboard_file.has_value());

  auto missing = ReadConfigPaths(dir.File("missing.conf"), {});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find("missing.conf"), std::string::npos);

  // -f wins over -c (which is then not read); -c alone; -c without the
  // directive; unreadable -c.
  EXPECT_EQ(*ResolveScoreboardPath(std::string("/f.sb"), conf, {}), "/f.sb");
  EXPECT_EQ(*ResolveScoreboardPath(std::string("/f.sb"), dir.File("missing.conf"), {}), "/f.sb");
  EXPECT_EQ(*ResolveScoreboardPath(std::nullopt, conf, {}), "/run/second.sb");
  EXPECT_EQ(*ResolveScoreboardPath(std::nullopt, none, {}), POOLFTPD_SCOREBOARD_FILE);
  auto bad = ResolveScoreboardPath(std::nullopt, dir.File("missing.conf"), {});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("cannot read config"), std::string::npos);
  auto dir_err = ReadConfigPaths(dir.File(""), {});
  ASSERT_FALSE(dir_err);
  EXPECT_NE(dir_err.error().message().find("cannot read config"), std::string::npos);
  // Nothing given: the installed config if it names one, else the default.
  auto def = ResolveScoreboardPath(std::nullopt, std::nullopt, {});
  ASSERT_TRUE(def);
  EXPECT_FALSE(def->empty());
}

TEST(Directive, ScanForSeveralNames) {
  TempDir dir;
  const std::string conf = dir.File("poolftpd.conf");
  WriteFile(conf,
            "# PidFile /commented.pid\n"
            "pidfile \"/run/first.pid\"\n"
            "ScoreboardFile /run/x.sb\n"
            "PidFile /run/second.pid");
  auto both = ReadConfigPaths(conf, {});
  ASSERT_TRUE(both) << both.error().message();
  EXPECT_EQ(both->pid_file.value_or(""), "/run/second.pid");
  EXPECT_EQ(both->scoreboard_file.value_or(""), "/run/x.sb");
  EXPECT_FALSE(both->shutdown_file.has_value());
}

TEST(Load, InetdScoreboardIsLive) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto board = sb::Scoreboard::OpenOrCreateShared(path, 4, "Inetd");
  ASSERT_TRUE(board) << board.error().message();
  auto slot = board->ClaimFreeSlot(::getpid());
  ASSERT_TRUE(slot);
  sb::SlotRecord r;
  r.pid = ::getpid();
  r.state = SlotState::kIdle;
  sb::SetText(r.user, "ftp");
  board->Publish(*slot, r);
  // A session process that died without releasing its slot.
  const pid_t child = ::fork();
  if (child == 0) {
    auto mine = sb::Scoreboard::OpenOrCreateShared(path, 4, "Inetd");
    if (!mine) ::_exit(1);
    auto s = mine->ClaimFreeSlot(::getpid());
    sb::SlotRecord d;
    d.pid = ::getpid();
    d.state = SlotState::kIdle;
    if (s) mine->Publish(*s, d);
    ::_exit(s ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  auto snap = LoadSnapshot(path);
  ASSERT_TRUE(snap) << snap.error().message();
  EXPECT_TRUE(sb::IsInetd(snap->header));
  const std::string out = FormatWho(snap->header, snap->slots, snap->now_ns, {});
  EXPECT_EQ(out.rfind("inetd FTP daemon:\n", 0), 0u) << out;
  EXPECT_NE(out.find(std::to_string(::getpid()) + " ftp"), std::string::npos) << out;
  EXPECT_EQ(out.find(std::to_string(child)), std::string::npos) << "dead session listed:\n" << out;
  EXPECT_NE(out.find("-   1 user\n"), std::string::npos) << out;
}

// ---------------------------------------------------------------------------
// Loading snapshots

TEST(Load, LiveStaleStoppedMissingAndCorrupt) {
  TempDir dir;
  const std::string path = dir.File("sb");

  auto missing = LoadSnapshot(path);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message(),
            "no scoreboard at " + path + ": is poolftpd running? (use -f FILE)");

  // A master that died: stale.
  const pid_t child = ::fork();
  if (child == 0) {
    auto board = sb::Scoreboard::Create(path, 4, "x", 1);
    ::_exit(board ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto stale = LoadSnapshot(path);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code(), ErrorCode::kStale);
  EXPECT_EQ(stale.error().message(), path + ": master process " + std::to_string(child) +
                                         " is not running (stale scoreboard)");

  // A live master (this process).
  {
    auto board = sb::Scoreboard::Create(path, 4, "Live", 1);
    ASSERT_TRUE(board);
    sb::SlotRecord r;
    r.pid = 99;
    r.state = SlotState::kIdle;
    board->Publish(1, r);
    auto live = LoadSnapshot(path);
    ASSERT_TRUE(live) << live.error().message();
    EXPECT_EQ(live->header.master_pid, ::getpid());
    ASSERT_EQ(live->slots.size(), 1u);
    EXPECT_EQ(live->slots[0].rec.pid, 99);
    EXPECT_GT(live->now_ns, 0);

    board->ClearMaster();
    auto stopped = LoadSnapshot(path);
    ASSERT_FALSE(stopped);
    EXPECT_EQ(stopped.error().code(), ErrorCode::kStale);
    EXPECT_NE(stopped.error().message().find("poolftpd is not running"), std::string::npos);
  }

  const uint32_t v9 = 9;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, &v9, 4, offsetof(sb::Header, layout_version)), 4);
  ::close(fd);
  auto version = LoadSnapshot(path);
  ASSERT_FALSE(version);
  EXPECT_EQ(version.error().code(), ErrorCode::kVersion);
  EXPECT_NE(version.error().message().find(path), std::string::npos);
}

// ---------------------------------------------------------------------------
// The built binaries (build/ftpwho, build/ftpcount next to build/tests/)

struct RunResult {
  int status = -1;
  std::string out, err;
};

std::string ToolPath(const std::string& name) {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  const auto p = exe.parent_path().parent_path() / name;
  return ::access(p.c_str(), X_OK) == 0 ? p.string() : std::string();
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

RunResult RunTool(const std::string& tool, const std::vector<std::string>& args,
                  const std::string& scratch) {
  RunResult r;
  const std::string out_path = scratch + "/stdout", err_path = scratch + "/stderr";
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0 || err < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(127);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(tool.c_str()));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(tool.c_str(), argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = Slurp(out_path);
  r.err = Slurp(err_path);
  return r;
}

class Binaries : public ::testing::Test {
 protected:
  void SetUp() override {
    ftpwho_ = ToolPath("ftpwho");
    ftpcount_ = ToolPath("ftpcount");
    if (ftpwho_.empty() || ftpcount_.empty()) {
      GTEST_SKIP() << "build/ftpwho and build/ftpcount not built";
    }
    path_ = dir_.File("poolftpd.scoreboard");
    scratch_ = dir_.File("scratch");
    ::mkdir(scratch_.c_str(), 0700);
  }

 public:
  RunResult Who(std::vector<std::string> args) { return RunTool(ftpwho_, args, scratch_); }
  RunResult Count(std::vector<std::string> args) { return RunTool(ftpcount_, args, scratch_); }

 protected:
  TempDir dir_;
  std::string ftpwho_, ftpcount_, path_, scratch_;
};

TEST_F(Binaries, LiveScoreboard) {
  auto board = sb::Scoreboard::Create(path_, 4, "Bin Server", 3);
  ASSERT_TRUE(board);
  sb::SlotRecord r;
  r.pid = 4321;
  r.state = SlotState::kTransferring;
  r.xfer_dir = XferDir::kRetr;
  r.session_start_ns = tools::NowNs() - 65 * kSec;
  r.xfer_start_ns = tools::NowNs() - 5 * kSec;
  r.xfer_size = 1000;
  sb::SetText(r.user, "anon\x1b[31m");
  sb::SetText(r.cmd, "RETR");
  sb::SetText(r.arg, "pub/file\x1b]0;pwn\x07");
  sb::SetText(r.cwd, "/pub");
  board->Publish(0, r);
  board->SetBytesDone(0, 500);
  sb::SlotRecord ready;
  ready.pid = 4322;
  ready.state = SlotState::kReady;
  board->Publish(1, ready);

  RunResult w = Who({"-f", path_});
  EXPECT_EQ(w.status, 0) << w.err;
  EXPECT_EQ(w.err, "");
  EXPECT_NE(
      w.out.find("standalone FTP daemon [" + std::to_string(::getpid()) + "], up for 0 min\n"),
      std::string::npos)
      << w.out;
  EXPECT_NE(w.out.find(" 4321 anon\\x1b[31m [  1m5s] ( 50%) RETR pub/file\\x1b]0;pwn\\x07 KB/s: "),
            std::string::npos)
      << w.out;
  EXPECT_NE(w.out.find("Service class Bin Server           -   1 user\n"), std::string::npos);
  EXPECT_EQ(w.out.find('\x1b'), std::string::npos);

  RunResult v = Who({"--file", path_, "-v", "-o", "oneline"});
  EXPECT_EQ(v.status, 0) << v.err;
  EXPECT_NE(v.out.find("KB/s: "), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("location: /pub"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("1 idle worker in the pool"), std::string::npos) << v.out;

  for (const auto& args : {std::vector<std::string>{"-f", path_, "--json"},
                           std::vector<std::string>{"-o", "json", "-f", path_}}) {
    RunResult j = Who(args);
    EXPECT_EQ(j.status, 0) << j.err;
    EXPECT_TRUE(IsValidJson(j.out)) << j.out;
    EXPECT_NE(j.out.find(R"("name":"Bin Server")"), std::string::npos) << j.out;
    EXPECT_NE(j.out.find(R"("user":"anon\u001b[31m")"), std::string::npos) << j.out;
  }

  RunResult c = Count({"-f", path_});
  EXPECT_EQ(c.status, 0) << c.err;
  EXPECT_EQ(c.out, "Master poolftpd process " + std::to_string(::getpid()) +
                       ":\nService class Bin Server           -   1 user\n");
  RunResult cj = Count({"--json", "-f", path_});
  EXPECT_EQ(cj.status, 0) << cj.err;
  EXPECT_TRUE(IsValidJson(cj.out)) << cj.out;
  EXPECT_NE(cj.out.find(R"("sessions":1,"users":1})"), std::string::npos) << cj.out;

  // -c: the ScoreboardFile directive of a config file.
  const std::string conf = dir_.File("poolftpd.conf");
  WriteFile(conf, "ServerName \"Bin Server\"\nScoreboardFile \"" + path_ + "\"\n");
  RunResult viaconf = Count({"-c", conf});
  EXPECT_EQ(viaconf.status, 0) << viaconf.err;
  EXPECT_EQ(viaconf.out, c.out);
  RunResult longconf = Who({"--config", conf});
  EXPECT_EQ(longconf.status, 0) << longconf.err;

  // A slot left odd by a worker that died mid-write: still a clean report.
  const uint32_t odd = 5;
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, &odd, 4, sizeof(sb::Header) + offsetof(sb::Slot, seq)), 4);
  ::close(fd);
  RunResult torn = Who({"-f", path_, "-v"});
  EXPECT_EQ(torn.status, 0) << torn.err;
  EXPECT_NE(torn.out.find("no users connected"), std::string::npos) << torn.out;
  EXPECT_NE(torn.out.find("1 slot being updated"), std::string::npos) << torn.out;
}

TEST_F(Binaries, MissingScoreboard) {
  for (auto run : {&Binaries::Who, &Binaries::Count}) {
    RunResult r = (this->*run)({"-f", path_});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find(": no scoreboard at " + path_ + ": is poolftpd running? (use -f FILE)\n"),
              std::string::npos)
        << r.err;
  }
  RunResult w = Who({"-f", path_});
  EXPECT_EQ(w.err.rfind("ftpwho: ", 0), 0u) << w.err;
  RunResult badconf = Who({"-c", dir_.File("nope.conf")});
  EXPECT_EQ(badconf.status, 1);
  EXPECT_NE(badconf.err.find("cannot read config"), std::string::npos) << badconf.err;
}

TEST_F(Binaries, StaleAndStoppedScoreboard) {
  const pid_t child = ::fork();
  if (child == 0) {
    auto board = sb::Scoreboard::Create(path_, 4, "x", 1);
    ::_exit(board ? 0 : 1);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_EQ(status, 0);
  RunResult r = Who({"-f", path_});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "ftpwho: " + path_ + ": master process " + std::to_string(child) +
                       " is not running (stale scoreboard)\n");
  RunResult c = Count({"-f", path_});
  EXPECT_EQ(c.status, 1);
  EXPECT_NE(c.err.find("stale scoreboard"), std::string::npos);

  auto board = sb::Scoreboard::Create(path_, 4, "x", 1);  // takes the stale file over
  ASSERT_TRUE(board);
  board->ClearMaster();
  RunResult stopped = Count({"-f", path_});
  EXPECT_EQ(stopped.status, 1);
  EXPECT_NE(stopped.err.find("poolftpd is not running"), std::string::npos) << stopped.err;
}

TEST_F(Binaries, CorruptScoreboards) {
  auto board = sb::Scoreboard::Create(path_, 4, "x", 1);
  ASSERT_TRUE(board);
  const std::string good = Slurp(path_);
  int n = 0;
  auto with = [&](size_t off, const std::string& bytes) {
    std::string copy = good;
    copy.replace(off, bytes.size(), bytes);
    const std::string bad = path_ + ".bad" + std::to_string(++n);
    WriteFile(bad, copy);
    return bad;
  };
  struct Case {
    std::string file;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {with(0, "NOTMAGIC"), "not a poolftpd scoreboard (bad magic"},
      {with(offsetof(sb::Header, layout_version), std::string("\x01\0\0\0", 4)),
       "layout version 1, but this program reads version 2"},
      {with(offsetof(sb::Header, layout_version), std::string("\x03\0\0\0", 4)),
       "layout version 3, but this program reads version 2"},
      {[&] {
         WriteFile(path_ + ".short", good.substr(0, good.size() - 100));
         return path_ + ".short";
       }(),
       "corrupt or truncated"},
      {[&] {
         WriteFile(path_ + ".tiny", "x");
         return path_ + ".tiny";
       }(),
       "shorter than the 768-byte header"},
      {dir_.File("scratch"), "not a regular file"},
  };
  for (const Case& c : cases) {
    for (auto run : {&Binaries::Who, &Binaries::Count}) {
      RunResult r = (this->*run)({"-f", c.file});
      EXPECT_EQ(r.status, 1) << c.file;
      EXPECT_EQ(r.out, "");
      EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
    }
  }
}

TEST_F(Binaries, GarbageSlotsNeverReachTheTerminal) {
  auto board = sb::Scoreboard::Create(path_, 4, "x", 1);
  ASSERT_TRUE(board);
  // A plausible session whose every text field is hostile bytes.
  std::string slot(sizeof(sb::Slot), '\x1b');
  std::memset(slot.data(), 0, 4);  // seq even
  const int32_t pid = 777;
  std::memcpy(slot.data() + offsetof(sb::Slot, pid), &pid, 4);
  slot[offsetof(sb::Slot, state)] = static_cast<char>(SlotState::kLoggedIn);
  slot[offsetof(sb::Slot, xfer_dir)] = 0;
  std::memset(slot.data() + offsetof(sb::Slot, session_start_ns), 0, 64);  // numbers sane
  std::memset(slot.data() + offsetof(sb::Slot, owner), 0, 8);              // master-managed
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, slot.data(), slot.size(), sizeof(sb::Header) + sizeof(sb::Slot)),
            static_cast<ssize_t>(slot.size()));
  // And one with an impossible state.
  slot[offsetof(sb::Slot, state)] = 42;
  ASSERT_EQ(::pwrite(fd, slot.data(), slot.size(), sizeof(sb::Header) + 2 * sizeof(sb::Slot)),
            static_cast<ssize_t>(slot.size()));
  // And one whose owner word is garbage: a claimant that cannot be alive.
  slot[offsetof(sb::Slot, state)] = static_cast<char>(SlotState::kLoggedIn);
  const int32_t pid3 = 778;
  std::memcpy(slot.data() + offsetof(sb::Slot, pid), &pid3, 4);
  std::memset(slot.data() + offsetof(sb::Slot, owner), 0x1b, 8);
  ASSERT_EQ(::pwrite(fd, slot.data(), slot.size(), sizeof(sb::Header) + 3 * sizeof(sb::Slot)),
            static_cast<ssize_t>(slot.size()));
  // Slots written behind the library's back: raise the high-water mark over
  // them, as a writer would have.
  const uint32_t hwm = 4;
  ASSERT_EQ(::pwrite(fd, &hwm, sizeof hwm, offsetof(sb::Header, slot_hwm)),
            static_cast<ssize_t>(sizeof hwm));
  ::close(fd);
  for (const auto& args :
       {std::vector<std::string>{"-f", path_}, std::vector<std::string>{"-f", path_, "-v"},
        std::vector<std::string>{"-f", path_, "--json"}}) {
    RunResult r = Who(args);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("777"), std::string::npos) << r.out;
    if (args.back() == "-v") {
      EXPECT_NE(r.out.find("  778 \\x1b"), std::string::npos) << r.out;
      EXPECT_NE(r.out.find("(stale: process gone)\n"), std::string::npos) << r.out;
      EXPECT_NE(r.out.find("1 stale slot (session process gone)\n"), std::string::npos) << r.out;
    } else {
      EXPECT_EQ(r.out.find("778"), std::string::npos) << "a stale slot listed:\n" << r.out;
    }
    if (args.back() == "--json") {
      EXPECT_TRUE(IsValidJson(r.out)) << r.out;
    }
  }
  RunResult c = Count({"-f", path_});
  EXPECT_EQ(c.status, 0) << c.err;
  EXPECT_NE(c.out.find("-   1 user\n"), std::string::npos) << c.out;
}

TEST_F(Binaries, UsageHelpAndVersion) {
  RunResult h = Who({"-h"});
  EXPECT_EQ(h.status, 0);
  EXPECT_NE(h.out.find("usage: ftpwho"), std::string::npos);
  EXPECT_NE(h.out.find("--json"), std::string::npos);
  RunResult hc = Count({"--help"});
  EXPECT_EQ(hc.status, 0);
  EXPECT_NE(hc.out.find("usage: ftpcount"), std::string::npos);
  RunResult v = Who({"-V"});
  EXPECT_EQ(v.status, 0);
  EXPECT_EQ(v.out, std::string("ftpwho (poolftpd) ") + POOLFTPD_VERSION + "\n");
  RunResult vc = Count({"--version"});
  EXPECT_EQ(vc.out, std::string("ftpcount (poolftpd) ") + POOLFTPD_VERSION + "\n");

  RunResult bad = Who({"-x"});
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("ftpwho: unknown option '-x'"), std::string::npos) << bad.err;
  RunResult badlong = Count({"--bogus"});
  EXPECT_EQ(badlong.status, 2);
  EXPECT_NE(badlong.err.find("unknown option '--bogus'"), std::string::npos) << badlong.err;
  RunResult noarg = Who({"-f"});
  EXPECT_EQ(noarg.status, 2);
  EXPECT_NE(noarg.err.find("needs an argument"), std::string::npos) << noarg.err;
  RunResult form = Who({"-o", "fancy\x1b"});
  EXPECT_EQ(form.status, 2);
  EXPECT_NE(form.err.find("unknown outform value 'fancy\\x1b'"), std::string::npos) << form.err;
  RunResult extra = Count({"stray"});
  EXPECT_EQ(extra.status, 2);
  EXPECT_NE(extra.err.find("unexpected argument 'stray'"), std::string::npos) << extra.err;
}

}  // namespace
}  // namespace poolftpd::tools
