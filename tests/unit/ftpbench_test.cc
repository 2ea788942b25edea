// Unit tests of ftpbench (tools/ftpbench): the pure parts (line buffer,
// reply framing, EPSV/PASV parsing, listing counting, percentiles, failure
// tally, /proc parsers, command line, JSON and text reports), then the
// engine itself against a scripted FTP server running in this process on a
// loopback port: every mode, and the failures a user would see (wrong
// reply, bad size, timeout, refused connection, malformed reply, EOF).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "../../tools/ftpbench/bench.h"
#include "../../tools/ftpbench/options.h"
#include "../../tools/ftpbench/procfs.h"
#include "../../tools/ftpbench/protocol.h"
#include "../../tools/ftpbench/report.h"
#include "../../tools/ftpbench/stats.h"

namespace poolftpd::ftpbench {
namespace {

// ---------------------------------------------------------------------------
// LineBuffer

// Feeds `s` the way the engine does: whatever fits, then every complete
// line, until all of `s` is in.
std::vector<std::string> Feed(LineBuffer* b, std::string_view s) {
  std::vector<std::string> lines;
  do {
    auto space = b->Space();
    EXPECT_FALSE(space.empty());
    if (space.empty()) break;
    const std::size_t n = std::min(space.size(), s.size());
    std::memcpy(space.data(), s.data(), n);
    b->Commit(n);
    s.remove_prefix(n);
    while (auto l = b->NextLine()) lines.emplace_back(*l);
  } while (!s.empty());
  return lines;
}

TEST(LineBufferTest, SplitsCrlfAndBareLfLines) {
  LineBuffer b(64);
  EXPECT_EQ(Feed(&b, "220 hi\r\n331 x\n"), (std::vector<std::string>{"220 hi", "331 x"}));
  EXPECT_EQ(b.buffered(), 0u);
}

TEST(LineBufferTest, KeepsPartialLineUntilItsNewlineArrives) {
  LineBuffer b(64);
  EXPECT_TRUE(Feed(&b, "230 lo").empty());
  EXPECT_TRUE(Feed(&b, "gged in\r").empty());
  EXPECT_EQ(Feed(&b, "\n"), (std::vector<std::string>{"230 logged in"}));
}

TEST(LineBufferTest, CompactsSoLongStreamsFitASmallBuffer) {
  LineBuffer b(16);
  std::vector<std::string> got;
  for (int i = 0; i < 100; ++i) {
    // One byte at a time so consumed lines must be compacted away.
    for (char ch : std::string("200 n" + std::to_string(i) + "\r\n")) {
      for (auto& l : Feed(&b, std::string_view(&ch, 1))) got.push_back(l);
    }
  }
  ASSERT_EQ(got.size(), 100u);
  EXPECT_EQ(got[99], "200 n99");
}

TEST(LineBufferTest, CutsAnOverlongLineAndDropsItsTail) {
  LineBuffer b(16);
  auto lines = Feed(&b, "550 " + std::string(40, 'a'));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "550 " + std::string(12, 'a'));
  EXPECT_EQ(Feed(&b, "aaaa\r\n226 ok\r\n"), (std::vector<std::string>{"226 ok"}));
}

TEST(LineBufferTest, ClearForgetsEverything) {
  LineBuffer b(16);
  (void)Feed(&b, "550 " + std::string(40, 'a'));  // now skipping the tail
  b.Clear();
  EXPECT_EQ(Feed(&b, "220 fresh\n"), (std::vector<std::string>{"220 fresh"}));
}

// ---------------------------------------------------------------------------
// ReplyParser

using Status = ReplyParser::Status;

TEST(ReplyParserTest, SingleLineReply) {
  ReplyParser p;
  EXPECT_EQ(p.Feed("220 Service ready"), Status::kDone);
  EXPECT_EQ(p.code(), 220);
  EXPECT_EQ(p.text(), "220 Service ready");
}

TEST(ReplyParserTest, BareCodeIsAReply) {
  ReplyParser p;
  EXPECT_EQ(p.Feed("200"), Status::kDone);
  EXPECT_EQ(p.code(), 200);
}

TEST(ReplyParserTest, MultiLineReplyEndsAtSameCodeAndSpace) {
  ReplyParser p;
  EXPECT_EQ(p.Feed("230-Welcome"), Status::kMore);
  EXPECT_EQ(p.Feed("   indented text"), Status::kMore);
  EXPECT_EQ(p.Feed("220 another code is just text"), Status::kMore);
  EXPECT_EQ(p.Feed("230-still going"), Status::kMore);
  EXPECT_EQ(p.Feed(" 230 leading space is text"), Status::kMore);
  EXPECT_EQ(p.Feed("garbage is fine inside"), Status::kMore);
  EXPECT_EQ(p.Feed("230 Logged in"), Status::kDone);
  EXPECT_EQ(p.code(), 230);
  EXPECT_EQ(p.text(), "230-Welcome");  // the first line
  // The parser is ready for the next reply.
  EXPECT_EQ(p.Feed("221 bye"), Status::kDone);
  EXPECT_EQ(p.code(), 221);
}

TEST(ReplyParserTest, RejectsLinesThatAreNotReplies) {
  for (std::string_view bad :
       {"", "22", "hello", "2x0 no", "600 out of range", "099 low", "220x", "220_x", " 220 lead"}) {
    ReplyParser p;
    EXPECT_EQ(p.Feed(bad), Status::kMalformed) << bad;
  }
}

TEST(ReplyParserTest, KeepsOnlyTheStartOfALongText) {
  ReplyParser p;
  const std::string line = "550 " + std::string(1000, 'p');
  EXPECT_EQ(p.Feed(line), Status::kDone);
  EXPECT_EQ(p.text().size(), kReplyTextKept);
  EXPECT_EQ(p.text(), std::string_view(line).substr(0, kReplyTextKept));
}

TEST(ReplyParserTest, ResetAbandonsAMultiLineReply) {
  ReplyParser p;
  EXPECT_EQ(p.Feed("230-Welcome"), Status::kMore);
  p.Reset();
  EXPECT_EQ(p.Feed("220 new session"), Status::kDone);
  EXPECT_EQ(p.code(), 220);
}

// ---------------------------------------------------------------------------
// EPSV / PASV

TEST(EpsvTest, ParsesThePort) {
  EXPECT_EQ(ParseEpsvPort("229 Entering Extended Passive Mode (|||49152|)"), 49152);
  EXPECT_EQ(ParseEpsvPort("229 EPSV ok (!!!1!)"), 1);
  EXPECT_EQ(ParseEpsvPort("229 (###65535#) trailing text"), 65535);
}

TEST(EpsvTest, RejectsBadForms) {
  for (std::string_view bad :
       {"229 Entering Extended Passive Mode", "229 (|||49152|", "229 (||49152|)", "229 (|||49152!)",
        "229 (|||0|)", "229 (|||65536|)", "229 (||||)", "229 (|||12a|)", "229 (111491521)",
        "229 (   4915 )", "229 (|||-1|)", "229 (|1|49152|)", "229 ("}) {
    EXPECT_FALSE(ParseEpsvPort(bad).has_value()) << bad;
  }
}

TEST(PasvTest, ParsesAddressAndPort) {
  auto a = ParsePasv("227 Entering Passive Mode (127,0,0,1,192,1).");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->ip, (std::array<uint8_t, 4>{127, 0, 0, 1}));
  EXPECT_EQ(a->port, 192 * 256 + 1);
  auto b = ParsePasv("227 =10,1,2,3,0,21");  // no parentheses (RFC 1123)
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->port, 21);
}

TEST(PasvTest, RejectsBadForms) {
  for (std::string_view bad :
       {"227", "227 Entering Passive Mode", "227 (127,0,0,1,192)", "227 (256,0,0,1,1,1)",
        "227 (127,0,0,1,1,256)", "227 (127,0,0,1,0,0)", "227 (127,0,0,1,,1)", "227 (127;0;0;1;1;1)",
        "227 (1,2,3,4,5,67890)"}) {
    EXPECT_FALSE(ParsePasv(bad).has_value()) << bad;
  }
}

// ---------------------------------------------------------------------------
// ListingCounter

uint64_t Count(ListingCounter::Kind kind, std::string_view data, std::size_t chunk) {
  ListingCounter c;
  c.Reset(kind);
  for (std::size_t i = 0; i < data.size(); i += chunk) c.Feed(data.substr(i, chunk));
  c.Finish();
  return c.entries();
}

TEST(ListingCounterTest, ListSkipsALeadingTotalLine) {
  const std::string list =
      "total 12\r\n"
      "-rw-r--r--   1 ftp ftp  10 Jan  1 00:00 a\r\n"
      "drwxr-xr-x   2 ftp ftp  40 Jan  1 00:00 total 3\r\n";
  for (std::size_t chunk : {1u, 3u, 1000u}) {
    EXPECT_EQ(Count(ListingCounter::Kind::kList, list, chunk), 2u) << chunk;
  }
}

TEST(ListingCounterTest, ListCountsEveryLineWithoutTotal) {
  EXPECT_EQ(Count(ListingCounter::Kind::kList, "a\nb\n\nc", 2), 3u);  // blank skipped, last counted
  EXPECT_EQ(Count(ListingCounter::Kind::kList, "", 1), 0u);
  // "total" that is not "total N" and a total line that is not first count.
  EXPECT_EQ(Count(ListingCounter::Kind::kList, "totally\nx\n", 4), 2u);
  EXPECT_EQ(Count(ListingCounter::Kind::kList, "x\ntotal 5\n", 4), 2u);
}

TEST(ListingCounterTest, MlsdSkipsCdirAndPdir) {
  const std::string mlsd =
      "type=cdir;size=4096;perm=el; .\r\n"
      "type=pdir;size=4096;perm=el; ..\r\n"
      "Type=CDIR;perm=el; /pub\r\n"
      "size=1;type=file;modify=20240101000000; a file\r\n"
      "type=dir;perm=el; sub\r\n"
      "type=OS.unix=slink:/x; link\r\n"
      "size=3; type=cdir name-with-type-in-it\r\n";
  for (std::size_t chunk : {1u, 7u, 4096u}) {
    EXPECT_EQ(Count(ListingCounter::Kind::kMlsd, mlsd, chunk), 4u) << chunk;
  }
}

TEST(ListingCounterTest, VeryLongLinesCountOnce) {
  const std::string list = std::string(5000, 'x') + "\n" + std::string(3000, 'y') + "\n";
  EXPECT_EQ(Count(ListingCounter::Kind::kList, list, 333), 2u);
}

// ---------------------------------------------------------------------------
// Stats

TEST(StatsTest, NearestRankPercentiles) {
  std::vector<uint32_t> v;
  for (uint32_t i = 1; i <= 100; ++i) v.push_back(i);
  EXPECT_EQ(PercentileNearestRank(v, 50), 50u);
  EXPECT_EQ(PercentileNearestRank(v, 99), 99u);
  EXPECT_EQ(PercentileNearestRank(v, 100), 100u);
  EXPECT_EQ(PercentileNearestRank(v, 1), 1u);
  EXPECT_EQ(PercentileNearestRank(v, 0.5), 1u);
  EXPECT_EQ(PercentileNearestRank({7}, 50), 7u);
  EXPECT_EQ(PercentileNearestRank({}, 50), 0u);
  std::vector<uint32_t> three{10, 20, 30};
  EXPECT_EQ(PercentileNearestRank(three, 50), 20u);
  EXPECT_EQ(PercentileNearestRank(three, 99), 30u);
}

TEST(StatsTest, SummarizeSortsAndConvertsToMilliseconds) {
  std::vector<uint32_t> us{3000, 1000, 2000, 250000};
  const LatencySummary s = SummarizeLatencies(us);
  EXPECT_DOUBLE_EQ(s.p50_ms, 2.0);
  EXPECT_DOUBLE_EQ(s.p99_ms, 250.0);
  EXPECT_DOUBLE_EQ(s.max_ms, 250.0);
  std::vector<uint32_t> none;
  EXPECT_DOUBLE_EQ(SummarizeLatencies(none).max_ms, 0.0);
}

TEST(StatsTest, Median) {
  EXPECT_DOUBLE_EQ(Median({}), 0.0);
  EXPECT_DOUBLE_EQ(Median({5}), 5.0);
  EXPECT_DOUBLE_EQ(Median({9, 1, 5}), 5.0);
  EXPECT_DOUBLE_EQ(Median({4, 1, 3, 2}), 2.5);
}

TEST(StatsTest, FailureTallyCountsAndRanks) {
  FailureTally t;
  for (int i = 0; i < 3; ++i) t.Add("PASS: 530 Login incorrect.");
  t.Add("connect: Connection refused");
  for (int i = 0; i < 5; ++i) t.Add("RETR: timed out after 10 s");
  EXPECT_EQ(t.total(), 9u);
  auto top = t.Top(2);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].text, "RETR: timed out after 10 s");
  EXPECT_EQ(top[0].count, 5u);
  EXPECT_EQ(top[1].count, 3u);
  EXPECT_EQ(t.Top(10).size(), 3u);
}

TEST(StatsTest, FailureTallyBoundsDistinctTexts) {
  FailureTally t;
  for (std::size_t i = 0; i < FailureTally::kMaxDistinct + 50; ++i) {
    t.Add("RETR: received " + std::to_string(i) + " bytes");
  }
  EXPECT_EQ(t.total(), FailureTally::kMaxDistinct + 50);
  auto top = t.Top(1);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].text, FailureTally::kOtherText);
  EXPECT_EQ(top[0].count, 50u);
}

// ---------------------------------------------------------------------------
// /proc parsing

TEST(ProcfsTest, ParsesStatWithAWeirdCommandName) {
  const std::string line =
      "4242 (poo) l (ftpd)) S 4200 4242 4242 0 -1 4194560 100 0 0 0 "
      "123 45 6 7 20 0 1 0 100 1000 10 18446744073709551615\n";
  auto st = ParseProcStat(line);
  ASSERT_TRUE(st.has_value()) << st.error().message();
  EXPECT_EQ(st->pid, 4242);
  EXPECT_EQ(st->ppid, 4200);
  EXPECT_EQ(st->utime, 123u);
  EXPECT_EQ(st->stime, 45u);
  EXPECT_EQ(st->cutime, 6u);
  EXPECT_EQ(st->cstime, 7u);
}

TEST(ProcfsTest, RejectsBrokenStat) {
  EXPECT_FALSE(ParseProcStat("").has_value());
  EXPECT_FALSE(ParseProcStat("12 no parens S 1").has_value());
  EXPECT_FALSE(ParseProcStat("x (a) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14").has_value());
  EXPECT_FALSE(ParseProcStat("12 (a) S 1 2 3 4 5 6 7 8 9 10").has_value());  // too short
  EXPECT_FALSE(ParseProcStat("12 (a) S 1 2 3 4 5 6 7 8 9 10 -5 12 13 14").has_value());
}

TEST(ProcfsTest, ParsesOwnStat) {
  auto st = ParseProcStat(std::to_string(getpid()) + " (t) R " + std::to_string(getppid()) +
                          " 1 1 0 -1 0 0 0 0 0 1 2 3 4 20 0 1 0");
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->ppid, getppid());
}

TEST(ProcfsTest, ParsesSmapsRollup) {
  const std::string text =
      "55d0c0a00000-7ffd1b7f1000 ---p 00000000 00:00 0                          [rollup]\n"
      "Rss:                2048 kB\n"
      "Pss:                 512 kB\n"
      "Pss_Anon:            256 kB\n"
      "Shared_Clean:       1024 kB\n"
      "Private_Clean:       100 kB\n"
      "Private_Dirty:       300 kB\n"
      "Swap:                  0 kB\n";
  auto m = ParseSmapsRollup(text);
  ASSERT_TRUE(m.has_value()) << m.error().message();
  EXPECT_EQ(m->rss_kb, 2048u);
  EXPECT_EQ(m->pss_kb, 512u);
  EXPECT_EQ(m->uss_kb, 400u);
}

TEST(ProcfsTest, RejectsBrokenSmapsRollup) {
  EXPECT_FALSE(ParseSmapsRollup("").has_value());
  EXPECT_FALSE(ParseSmapsRollup("Rss: 1 kB\n").has_value());             // no Pss
  EXPECT_FALSE(ParseSmapsRollup("Rss: 1 MB\nPss: 1 kB\n").has_value());  // unit
  EXPECT_FALSE(ParseSmapsRollup("Rss: x kB\nPss: 1 kB\n").has_value());
}

TEST(ProcfsTest, SelectTreeFollowsParents) {
  const std::vector<ProcStat> all = {
      {1, 0, 1, 1, 0, 0},     {100, 1, 10, 5, 50, 50}, {101, 100, 1, 1, 0, 0},
      {102, 100, 2, 2, 0, 0}, {103, 102, 3, 3, 0, 0},  {200, 1, 1000, 1000, 0, 0},
  };
  auto tree = SelectTree(all, 100);
  std::set<int> pids;
  for (const auto& p : tree) pids.insert(p.pid);
  EXPECT_EQ(pids, (std::set<int>{100, 101, 102, 103}));
  EXPECT_EQ(tree.front().pid, 100);
  EXPECT_EQ(TreeCpuTicks(tree), 10u + 5 + 50 + 50 + 2 + 4 + 6);
  EXPECT_TRUE(SelectTree(all, 999).empty());
  // A pid that claims to be its own parent's parent does not loop.
  const std::vector<ProcStat> loop = {{5, 6, 1, 0, 0, 0}, {6, 5, 1, 0, 0, 0}};
  EXPECT_EQ(SelectTree(loop, 5).size(), 2u);
}

TEST(ProcfsTest, ReadsALiveProcessTree) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    pause();
    _exit(0);
  }
  auto tree = ReadProcessTree(getpid());
  ASSERT_TRUE(tree.has_value()) << tree.error().message();
  bool found = false;
  for (const auto& p : *tree) found |= p.pid == child;
  EXPECT_TRUE(found);
  EXPECT_EQ(tree->front().pid, getpid());
  int vanished = 0;
  auto mem = ReadTreeMemory(*tree, &vanished);
  ASSERT_TRUE(mem.has_value()) << mem.error().message();
  EXPECT_GT(mem->rss_kb, 0u);
  EXPECT_GE(mem->rss_kb, mem->uss_kb);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_GT(MillisPerTick(), 0);
}

TEST(ProcfsTest, MissingProcessIsAnError) {
  auto tree = ReadProcessTree(1 << 30);
  ASSERT_FALSE(tree.has_value());
  EXPECT_NE(tree.error().message().find("does not exist"), std::string::npos);
}

// ---------------------------------------------------------------------------
// Options

Result<Options> Parse(std::vector<std::string_view> args) { return ParseOptions(args); }

std::string UsageError(std::vector<std::string_view> args) {
  auto o = ParseOptions(args);
  if (o) return "";
  EXPECT_EQ(o.error().code(), ErrorCode::kInvalid);
  return o.error().message();
}

TEST(OptionsTest, Defaults) {
  auto o = Parse({"login"});
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->mode, Mode::kLogin);
  EXPECT_EQ(o->host, "127.0.0.1");
  EXPECT_EQ(o->port, 21);
  EXPECT_EQ(o->clients, 32);
  EXPECT_DOUBLE_EQ(o->duration_s, 10);
  EXPECT_EQ(o->user, "anonymous");
  EXPECT_EQ(o->password, "ftpbench@example.org");
  EXPECT_EQ(o->sessions, 1000);
  EXPECT_DOUBLE_EQ(o->hold_s, 2);
  EXPECT_EQ(o->repeat, 1);
  EXPECT_DOUBLE_EQ(o->timeout_s, 10);
  EXPECT_FALSE(o->json);
  EXPECT_FALSE(o->server_pid.has_value());
  EXPECT_FALSE(o->size.has_value());
  EXPECT_FALSE(o->entries.has_value());
  EXPECT_FALSE(o->rcvlowat.has_value());
}

TEST(OptionsTest, EveryOptionShortAndLong) {
  auto o = Parse(
      {"-H",  "::1",    "-p",        "2121", "-c",         "8",      "-d",   "0.5", "-u",
       "bob", "-P",     "pw",        "-f",   "/pub/f",     "-s",     "1024", "-D",  "/pub",
       "-e",  "7",      "-n",        "50",   "-t",         "1.5",    "-r",   "3",   "--server-pid",
       "123", "--json", "--timeout", "2.5",  "--rcvlowat", "262144", "big"});
  ASSERT_TRUE(o.has_value()) << o.error().message();
  EXPECT_EQ(o->mode, Mode::kBig);
  EXPECT_EQ(o->host, "::1");
  EXPECT_EQ(o->port, 2121);
  EXPECT_EQ(o->clients, 8);
  EXPECT_DOUBLE_EQ(o->duration_s, 0.5);
  EXPECT_EQ(o->user, "bob");
  EXPECT_EQ(o->password, "pw");
  EXPECT_EQ(o->file, "/pub/f");
  EXPECT_EQ(o->size, 1024u);
  EXPECT_EQ(o->dir, "/pub");
  EXPECT_EQ(o->entries, 7u);
  EXPECT_EQ(o->sessions, 50);
  EXPECT_DOUBLE_EQ(o->hold_s, 1.5);
  EXPECT_EQ(o->repeat, 3);
  EXPECT_EQ(o->server_pid, 123);
  EXPECT_TRUE(o->json);
  EXPECT_DOUBLE_EQ(o->timeout_s, 2.5);
  EXPECT_EQ(o->rcvlowat, 262144);

  auto l = Parse({"small", "--host=10.0.0.1", "--port", "21", "--clients=4", "--duration=2",
                  "--user=u", "--password=", "--file=/x", "--size=0", "--dir=/d", "--entries=0",
                  "--sessions=2", "--hold=0", "--repeat=1", "-c16", "-p2200"});
  ASSERT_TRUE(l.has_value()) << l.error().message();
  EXPECT_EQ(l->mode, Mode::kSmall);
  EXPECT_EQ(l->host, "10.0.0.1");
  EXPECT_EQ(l->clients, 16);
  EXPECT_EQ(l->port, 2200);
  EXPECT_EQ(l->password, "");
  EXPECT_EQ(l->size, 0u);
  EXPECT_DOUBLE_EQ(l->hold_s, 0);
}

TEST(OptionsTest, ModesAndHelp) {
  EXPECT_EQ(Parse({"idle"})->mode, Mode::kIdle);
  auto list = Parse({"list", "-c", "9"});
  EXPECT_EQ(list->mode, Mode::kList);
  EXPECT_EQ(list->clients, 1);  // list mode is one client
  EXPECT_TRUE(Parse({"-h"})->help);
  EXPECT_TRUE(Parse({"--help", "bogus-mode"})->help);
  EXPECT_EQ(Parse({"--", "login"})->mode, Mode::kLogin);
  EXPECT_NE(HelpText().find("--server-pid PID"), std::string::npos);
  EXPECT_EQ(ModeName(Mode::kSmall), "small");
}

TEST(OptionsTest, UsageErrors) {
  EXPECT_NE(UsageError({}).find("no MODE"), std::string::npos);
  EXPECT_NE(UsageError({"fast"}).find("unknown MODE 'fast'"), std::string::npos);
  EXPECT_NE(UsageError({"login", "extra"}).find("unexpected argument 'extra'"), std::string::npos);
  EXPECT_NE(UsageError({"-x", "login"}).find("unknown option '-x'"), std::string::npos);
  EXPECT_NE(UsageError({"--clientz=3", "login"}).find("unknown option '--clientz'"),
            std::string::npos);
  EXPECT_NE(UsageError({"login", "-c"}).find("needs a value"), std::string::npos);
  EXPECT_NE(UsageError({"--json=1", "login"}).find("takes no value"), std::string::npos);
  EXPECT_NE(UsageError({"small"}).find("small mode needs -f PATH"), std::string::npos);
  EXPECT_NE(UsageError({"big", "-s", "1"}).find("big mode needs -f PATH"), std::string::npos);
  for (std::vector<std::string_view> bad :
       std::vector<std::vector<std::string_view>>{{"-c", "0", "login"},
                                                  {"-c", "-1", "login"},
                                                  {"-c", "1x", "login"},
                                                  {"-p", "0", "login"},
                                                  {"-p", "65536", "login"},
                                                  {"-d", "0", "login"},
                                                  {"-d", "-1", "login"},
                                                  {"-d", "nan", "login"},
                                                  {"-d", "1e3", "login"},
                                                  {"-s", "-5", "small"},
                                                  {"-n", "0", "idle"},
                                                  {"-t", "-1", "idle"},
                                                  {"-r", "0", "list"},
                                                  {"--timeout", "0", "login"},
                                                  {"--server-pid", "0", "login"},
                                                  {"--rcvlowat", "0", "big"},
                                                  {"--rcvlowat", "67108865", "big"},
                                                  {"--rcvlowat", "1k", "big"},
                                                  {"-H", "", "login"},
                                                  {"-u", "", "login"},
                                                  {"-f", "", "small"},
                                                  {"-f", "/a\r\nDELE /b", "small"},
                                                  {"-u", "x\ny", "login"},
                                                  {"-D", "/a\rb", "list"},
                                                  {"-e", "x", "list"}}) {
    const std::string msg = UsageError(bad);
    EXPECT_NE(msg.find("invalid value"), std::string::npos) << bad[0] << " " << bad[1];
  }
}

// ---------------------------------------------------------------------------
// Reports

// True iff `s` is exactly one JSON value (RFC 8259) plus whitespace.
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
    while (i_ < s_.size() && std::strchr(" \t\r\n", s_[i_]) != nullptr) ++i_;
  }
  bool Lit(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  bool Value() {
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '{') return Object();
    if (c == '[') return Array();
    if (c == '"') return String();
    if (c == 't') return Lit("true");
    if (c == 'f') return Lit("false");
    if (c == 'n') return Lit("null");
    return Number();
  }
  bool Object() {
    ++i_;
    Ws();
    if (i_ < s_.size() && s_[i_] == '}') return ++i_, true;
    for (;;) {
      Ws();
      if (!String()) return false;
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
    if (i_ >= s_.size() || s_[i_] != '"') return false;
    ++i_;
    while (i_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c < 0x20) return false;
      if (c == '"') return ++i_, true;
      if (c == '\\') {
        ++i_;
        if (i_ >= s_.size()) return false;
        if (s_[i_] == 'u') {
          for (int k = 1; k <= 4; ++k) {
            if (i_ + k >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[i_ + k]))) {
              return false;
            }
          }
          i_ += 4;
        } else if (std::strchr("\"\\/bfnrt", s_[i_]) == nullptr) {
          return false;
        }
      }
      ++i_;
    }
    return false;
  }
  bool Number() {
    const std::size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) ||
                              std::strchr(".eE+-", s_[i_]) != nullptr)) {
      ++i_;
    }
    return i_ > start && std::isdigit(static_cast<unsigned char>(s_[i_ - 1]));
  }
  std::string_view s_;
  std::size_t i_ = 0;
};

bool IsJson(std::string_view s) { return JsonChecker(s).Valid(); }

TEST(ReportTest, JsonStringEscapes) {
  EXPECT_EQ(JsonString("plain"), "\"plain\"");
  EXPECT_EQ(JsonString("a\"b\\c\n\r\t\x01\x7f"), "\"a\\\"b\\\\c\\n\\r\\t\\u0001\\u007f\"");
  EXPECT_EQ(JsonString("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
  EXPECT_EQ(JsonString("bad\xff\xc3("), "\"bad\\ufffd\\ufffd(\"");
  EXPECT_EQ(JsonString("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // surrogate
  EXPECT_EQ(JsonString("\xc0\xaf"), "\"\\ufffd\\ufffd\"");             // overlong
  EXPECT_TRUE(IsJson(JsonString(std::string("\0\x1f\xfe", 3))));
}

Report LoginReport() {
  Report r;
  r.mode = "login";
  r.host = "127.0.0.1";
  r.port = 2121;
  r.clients = 32;
  r.duration_s = 10;
  r.sessions = 400000;
  r.sessions_per_sec = 40000;
  r.latency = LatencySummary{0.5, 1.25, 9};
  r.measured_server = true;
  r.server_cpu_ms = 8000;
  r.server_cpu_ms_per_session = 0.02;
  r.failures = 3;
  r.failure_samples = {{"PASS: 530 \"bad\"\x1b[31m", 2}, {"connect: Connection refused", 1}};
  return r;
}

TEST(ReportTest, LoginJsonHasTheAgreedKeys) {
  const std::string j = FormatJson(LoginReport());
  EXPECT_TRUE(IsJson(j)) << j;
  for (std::string_view key :
       {"\"mode\":\"login\"", "\"host\":\"127.0.0.1\"", "\"port\":2121", "\"clients\":32",
        "\"duration_s\":10.000", "\"sessions\":400000", "\"sessions_per_sec\":40000.000",
        "\"latency_ms\":{\"p50\":0.500,\"p99\":1.250,\"max\":9.000}", "\"server_cpu_ms\":8000.000",
        "\"server_cpu_ms_per_session\":0.020", "\"failures\":3",
        "\"failure_samples\":[{\"text\":\"PASS: 530 \\\"bad\\\"\\u001b[31m\",\"count\":2},"
        "{\"text\":\"connect: Connection refused\",\"count\":1}]"}) {
    EXPECT_NE(j.find(key), std::string::npos) << key << "\n" << j;
  }
  EXPECT_EQ(j.find("mb_per_sec"), std::string::npos);
  EXPECT_EQ(j.find("\"idle\""), std::string::npos);
  EXPECT_EQ(j.back(), '\n');
}

TEST(ReportTest, NoCompletedSessionGivesNullLatency) {
  Report r = LoginReport();
  r.latency.reset();
  const std::string j = FormatJson(r);
  EXPECT_TRUE(IsJson(j));
  EXPECT_NE(j.find("\"latency_ms\":null"), std::string::npos);
  EXPECT_NE(FormatText(r).find("no session completed"), std::string::npos);
}

TEST(ReportTest, BigListIdleJson) {
  Report big;
  big.mode = "big";
  big.host = "::1";
  big.port = 21;
  big.clients = 4;
  big.duration_s = 2;
  big.bytes = 4000000000;
  big.transfers = 4;
  big.mb_per_sec = 2000;
  big.mb_per_sec_per_client = 500;
  big.measured_server = true;
  big.server_cpu_ms = 1000;
  big.server_cpu_ms_per_gb = 250;
  const std::string jb = FormatJson(big);
  EXPECT_TRUE(IsJson(jb)) << jb;
  EXPECT_NE(jb.find("\"bytes\":4000000000"), std::string::npos);
  EXPECT_NE(jb.find("\"mb_per_sec\":2000.000"), std::string::npos);
  EXPECT_NE(jb.find("\"server_cpu_ms_per_gb\":250.000"), std::string::npos);
  EXPECT_EQ(jb.find("per_session"), std::string::npos);

  Report list;
  list.mode = "list";
  list.clients = 1;
  list.list = ListFigures{12.5, 13.25, 1000, 1000, 5};
  const std::string jl = FormatJson(list);
  EXPECT_TRUE(IsJson(jl)) << jl;
  EXPECT_NE(jl.find("\"list\":{\"list_ms\":12.500,\"mlsd_ms\":13.250,\"list_entries\":1000,"
                    "\"mlsd_entries\":1000,\"repeat\":5}"),
            std::string::npos)
      << jl;

  Report idle;
  idle.mode = "idle";
  idle.sessions = 1000;
  IdleFigures f;
  f.requested = 1000;
  f.sessions = 1000;
  f.login_s = 1.5;
  f.hold_s = 2;
  f.server_processes = 1033;
  f.memory = MemoryUsage{2000000, 150000, 120000};
  idle.idle = f;
  const std::string ji = FormatJson(idle);
  EXPECT_TRUE(IsJson(ji)) << ji;
  for (std::string_view key :
       {"\"server_processes\":1033", "\"login_s\":1.500", "\"rss_kb_per_session\":2000.000",
        "\"pss_kb_per_session\":150.000", "\"uss_kb_per_session\":120.000", "\"uss_kb\":120000"}) {
    EXPECT_NE(ji.find(key), std::string::npos) << key << "\n" << ji;
  }
  // Without --server-pid the memory figures are null, not zero.
  idle.idle->memory.reset();
  idle.idle->server_processes.reset();
  const std::string jn = FormatJson(idle);
  EXPECT_TRUE(IsJson(jn)) << jn;
  EXPECT_NE(jn.find("\"rss_kb_per_session\":null"), std::string::npos);
  EXPECT_NE(jn.find("\"server_processes\":null"), std::string::npos);
  EXPECT_EQ(jn.find("server_cpu"), std::string::npos);
}

TEST(ReportTest, TextIsReadableAndEscapesServerText) {
  const std::string t = FormatText(LoginReport());
  EXPECT_NE(t.find("====== ftpbench login ======"), std::string::npos);
  EXPECT_NE(t.find("400000 sessions, 40000.0 sessions/s"), std::string::npos);
  EXPECT_NE(t.find("p50 0.500 ms, p99 1.250 ms, max 9.000 ms"), std::string::npos);
  EXPECT_NE(t.find("server CPU: 8000.0 ms, 0.020 ms/session"), std::string::npos);
  EXPECT_NE(t.find("failures: 3"), std::string::npos);
  EXPECT_NE(t.find("2x PASS: 530 \"bad\"\\x1b[31m"), std::string::npos) << t;
  EXPECT_EQ(t.find('\x1b'), std::string::npos);
}

// ---------------------------------------------------------------------------
// The engine against a scripted server

struct Script {
  std::string greeting = "220 fake ready\r\n";
  std::string user_reply = "331 send password\r\n";
  std::string pass_reply = "230-Welcome\r\n230-to the fake\r\n230 Logged in\r\n";
  bool close_after_user = false;
  bool epsv = true;
  std::string retr_reply;  // non-empty: answer RETR with this instead
  bool send_mark = true;
  std::string file = std::string(1000, 'x');
  std::string list =
      "total 2\r\n-rw-r--r-- 1 a a 1 Jan 1 00:00 x\r\ndrwxr-xr-x 2 a a 1 Jan 1 00:00 d\r\n";
  std::string mlsd = "type=cdir; .\r\ntype=pdir; ..\r\ntype=file; x\r\ntype=dir; d\r\n";
};

// One thread per connection, blocking I/O; enough for tests.
class FakeFtpServer {
 public:
  explicit FakeFtpServer(Script script) : s_(std::move(script)) {
    listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listen_, 512), 0);
    socklen_t len = sizeof a;
    ::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~FakeFtpServer() {
    stop_ = true;
    ::shutdown(listen_, SHUT_RDWR);
    acceptor_.join();
    std::unique_lock<std::mutex> lock(mu_);
    for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
    done_.wait(lock, [this] { return live_ == 0; });
    ::close(listen_);
  }
  uint16_t port() const { return port_; }
  int quits() const { return quits_; }

 private:
  void AcceptLoop() {
    for (;;) {
      const int c = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (stop_) return;
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        open_.insert(c);
        ++live_;
      }
      std::thread([this, c] {
        Serve(c);
        std::lock_guard<std::mutex> lock(mu_);
        open_.erase(c);
        ::close(c);
        if (--live_ == 0) done_.notify_all();
      }).detach();
    }
  }

  static void SendAll(int fd, std::string_view s) {
    while (!s.empty()) {
      const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      s.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  static bool ReadLine(int fd, std::string* buf, std::string* line) {
    for (;;) {
      const std::size_t nl = buf->find('\n');
      if (nl != std::string::npos) {
        *line = buf->substr(0, nl);
        if (!line->empty() && line->back() == '\r') line->pop_back();
        buf->erase(0, nl + 1);
        return true;
      }
      char tmp[512];
      const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) return false;
      buf->append(tmp, static_cast<std::size_t>(n));
    }
  }

  // A passive data listener on an ephemeral loopback port.
  static int DataListener(uint16_t* port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd, 1);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    *port = ntohs(a.sin_port);
    return fd;
  }

  void Serve(int fd) {
    if (s_.greeting.empty()) {  // never greet: wait for the client to give up
      char b;
      (void)::recv(fd, &b, 1, 0);
      return;
    }
    SendAll(fd, s_.greeting);
    std::string buf, line;
    int pasv = -1;
    while (ReadLine(fd, &buf, &line)) {
      const std::string verb = line.substr(0, line.find(' '));
      if (verb == "USER") {
        SendAll(fd, s_.user_reply);
        if (s_.close_after_user) break;
      } else if (verb == "PASS") {
        SendAll(fd, s_.pass_reply);
      } else if (verb == "TYPE") {
        SendAll(fd, "200 Type set to I\r\n");
      } else if (verb == "EPSV" || verb == "PASV") {
        if (verb == "EPSV" && !s_.epsv) {
          SendAll(fd, "502 EPSV not implemented\r\n");
          continue;
        }
        uint16_t port = 0;
        if (pasv >= 0) ::close(pasv);
        pasv = DataListener(&port);
        SendAll(fd,
                verb == "EPSV"
                    ? "229 Entering Extended Passive Mode (|||" + std::to_string(port) + "|)\r\n"
                    : "227 Entering Passive Mode (127,0,0,1," + std::to_string(port / 256) + "," +
                          std::to_string(port % 256) + ")\r\n");
      } else if (verb == "RETR" || verb == "LIST" || verb == "MLSD") {
        if (verb == "RETR" && !s_.retr_reply.empty()) {
          SendAll(fd, s_.retr_reply);
          continue;
        }
        pollfd p{pasv, POLLIN, 0};
        if (pasv < 0 || ::poll(&p, 1, 2000) != 1) {
          SendAll(fd, "425 no data connection\r\n");
          continue;
        }
        const int data = ::accept4(pasv, nullptr, nullptr, SOCK_CLOEXEC);
        ::close(pasv);
        pasv = -1;
        if (s_.send_mark) SendAll(fd, "150 Opening data connection\r\n");
        SendAll(data, verb == "RETR" ? s_.file : verb == "LIST" ? s_.list : s_.mlsd);
        ::close(data);
        SendAll(fd, "226 Transfer complete\r\n");
      } else if (verb == "QUIT") {
        ++quits_;
        SendAll(fd, "221 Goodbye\r\n");
        break;
      } else {
        SendAll(fd, "500 unknown\r\n");
      }
    }
    if (pasv >= 0) ::close(pasv);
  }

  Script s_;
  int listen_ = -1;
  uint16_t port_ = 0;
  std::thread acceptor_;
  std::atomic<bool> stop_{false};
  std::atomic<int> quits_{0};
  std::mutex mu_;
  std::condition_variable done_;
  std::set<int> open_;
  int live_ = 0;
};

Options BaseOptions(Mode mode, uint16_t port) {
  Options o;
  o.mode = mode;
  o.port = port;
  o.clients = 2;
  o.duration_s = 0.2;
  o.timeout_s = 2;
  return o;
}

std::string Samples(const Report& r) {
  std::string s;
  for (const auto& f : r.failure_samples) s += std::to_string(f.count) + "x " + f.text + "\n";
  return s;
}

bool HasSample(const Report& r, std::string_view text) {
  for (const auto& f : r.failure_samples) {
    if (f.text == text) return true;
  }
  return false;
}

TEST(EngineTest, LoginLoopsCleanSessions) {
  FakeFtpServer server{Script{}};
  auto r = RunBenchmark(BaseOptions(Mode::kLogin, server.port()));
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->failures, 0u) << Samples(*r);
  ASSERT_TRUE(r->sessions.has_value());
  EXPECT_GT(*r->sessions, 0u);
  EXPECT_GE(static_cast<uint64_t>(server.quits()), *r->sessions);
  ASSERT_TRUE(r->latency.has_value());
  EXPECT_GE(r->latency->max_ms, r->latency->p50_ms);
  EXPECT_GT(*r->sessions_per_sec, 0);
  EXPECT_DOUBLE_EQ(r->duration_s, 0.2);
}

TEST(EngineTest, WrongPasswordIsAFailureWithTheReplyText) {
  Script s;
  s.pass_reply = "530 Login incorrect.\r\n";
  FakeFtpServer server{s};
  auto r = RunBenchmark(BaseOptions(Mode::kLogin, server.port()));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r->sessions, 0u);
  EXPECT_GT(r->failures, 0u);
  EXPECT_TRUE(HasSample(*r, "PASS: 530 Login incorrect.")) << Samples(*r);
  EXPECT_FALSE(r->latency.has_value());
}

TEST(EngineTest, UserWithoutPasswordIsAccepted) {
  Script s;
  s.user_reply = "230 no password needed\r\n";
  FakeFtpServer server{s};
  auto r = RunBenchmark(BaseOptions(Mode::kLogin, server.port()));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->failures, 0u) << Samples(*r);
  EXPECT_GT(*r->sessions, 0u);
}

TEST(EngineTest, ServerClosingMidSessionIsAFailure) {
  Script s;
  s.close_after_user = true;
  s.user_reply = "";
  FakeFtpServer server{s};
  auto r = RunBenchmark(BaseOptions(Mode::kLogin, server.port()));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(HasSample(*r, "USER: connection closed by the server")) << Samples(*r);
}

TEST(EngineTest, MalformedReplyIsAFailure) {
  Script s;
  s.greeting = "hello there\r\n";
  FakeFtpServer server{s};
  auto r = RunBenchmark(BaseOptions(Mode::kLogin, server.port()));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(HasSample(*r, "greeting: malformed reply: hello there")) << Samples(*r);
}

TEST(EngineTest, SilentServerTimesOut) {
  Script s;
  s.greeting.clear();
  FakeFtpServer server{s};
  Options o = BaseOptions(Mode::kLogin, server.port());
  o.timeout_s = 0.1;
  o.duration_s = 0.25;
  auto r = RunBenchmark(o);
  ASSERT_TRUE(r.has_value());
  EXPECT_GT(r->failures, 0u);
  EXPECT_TRUE(HasSample(*r, "greeting: timed out after 0.1 s")) << Samples(*r);
}

TEST(EngineTest, RefusedConnectionIsAFailure) {
  uint16_t port;
  {
    FakeFtpServer server{Script{}};  // take a port, then free it
    port = server.port();
  }
  auto r = RunBenchmark(BaseOptions(Mode::kLogin, port));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(HasSample(*r, "connect: Connection refused")) << Samples(*r);
}

TEST(EngineTest, SmallDownloadsAndChecksTheSize) {
  FakeFtpServer server{Script{}};
  Options o = BaseOptions(Mode::kSmall, server.port());
  o.file = "/pub/f";
  o.size = 1000;
  auto r = RunBenchmark(o);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->failures, 0u) << Samples(*r);
  EXPECT_GT(*r->sessions, 0u);
  EXPECT_EQ(*r->bytes, *r->transfers * 1000);

  o.size = 999;
  auto bad = RunBenchmark(o);
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(*bad->sessions, 0u);
  EXPECT_TRUE(HasSample(*bad, "RETR: received 1000 bytes, expected 999")) << Samples(*bad);
}

TEST(EngineTest, SmallReportsRetrErrors) {
  Script s;
  s.retr_reply = "550 /pub/f: No such file or directory\r\n";
  FakeFtpServer server{s};
  Options o = BaseOptions(Mode::kSmall, server.port());
  o.file = "/pub/f";
  auto r = RunBenchmark(o);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(HasSample(*r, "RETR: 550 /pub/f: No such file or directory")) << Samples(*r);
}

TEST(EngineTest, FinalReplyWithoutMarkIsAFailure) {
  Script s;
  s.send_mark = false;
  FakeFtpServer server{s};
  Options o = BaseOptions(Mode::kSmall, server.port());
  o.file = "/pub/f";
  auto r = RunBenchmark(o);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(HasSample(*r, "RETR: final reply without 150: 226 Transfer complete")) << Samples(*r);
}

TEST(EngineTest, FallsBackToPasvWithoutEpsv) {
  Script s;
  s.epsv = false;
  FakeFtpServer server{s};
  Options o = BaseOptions(Mode::kSmall, server.port());
  o.file = "/pub/f";
  o.size = 1000;
  auto r = RunBenchmark(o);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->failures, 0u) << Samples(*r);
  EXPECT_GT(*r->transfers, 0u);
}

TEST(EngineTest, BigRepeatsAndMeasuresThroughput) {
  Script s;
  s.file = std::string(3 * 1024 * 1024, 'b');  // several reads per transfer
  FakeFtpServer server{s};
  Options o = BaseOptions(Mode::kBig, server.port());
  o.file = "/pub/big";
  o.size = s.file.size();
  o.repeat = 3;
  auto r = RunBenchmark(o);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->failures, 0u) << Samples(*r);
  EXPECT_EQ(*r->transfers, 6u);
  EXPECT_EQ(*r->bytes, 6 * s.file.size());
  ASSERT_TRUE(r->mb_per_sec.has_value());
  EXPECT_GT(*r->mb_per_sec, 0);
  EXPECT_DOUBLE_EQ(*r->mb_per_sec_per_client, *r->mb_per_sec / 2);
}

// With SO_RCVLOWAT above what is left of a file (and above the whole of a
// small one) the end of the data still wakes the client: nothing hangs,
// every byte is counted.
TEST(EngineTest, RcvLowatStillDeliversTheTailAndSmallFiles) {
  Script s;
  s.file = std::string(3 * 1024 * 1024 + 5, 'b');
  FakeFtpServer server{s};
  Options o = BaseOptions(Mode::kBig, server.port());
  o.file = "/pub/big";
  o.size = s.file.size();
  o.repeat = 2;
  o.rcvlowat = 256 * 1024;
  auto r = RunBenchmark(o);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->failures, 0u) << Samples(*r);
  EXPECT_EQ(*r->transfers, 4u);
  EXPECT_EQ(*r->bytes, 4 * s.file.size());
  EXPECT_EQ(r->rcvlowat, 256 * 1024);
  EXPECT_NE(FormatJson(*r).find("\"rcvlowat\":262144"), std::string::npos) << FormatJson(*r);

  FakeFtpServer small_server{Script{}};
  Options so = BaseOptions(Mode::kSmall, small_server.port());
  so.file = "/pub/f";
  so.size = 1000;
  so.rcvlowat = 1 << 20;
  auto sr = RunBenchmark(so);
  ASSERT_TRUE(sr.has_value());
  EXPECT_EQ(sr->failures, 0u) << Samples(*sr);
  EXPECT_GT(*sr->sessions, 0u);
  EXPECT_EQ(*sr->bytes, *sr->transfers * 1000);
}

TEST(EngineTest, ListCountsEntriesAndChecksThem) {
  FakeFtpServer server{Script{}};
  Options o = BaseOptions(Mode::kList, server.port());
  o.clients = 1;
  o.dir = "/pub";
  o.repeat = 3;
  o.entries = 2;
  auto r = RunBenchmark(o);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->failures, 0u) << Samples(*r);
  ASSERT_TRUE(r->list.has_value());
  EXPECT_EQ(r->list->list_entries, 2u);
  EXPECT_EQ(r->list->mlsd_entries, 2u);
  EXPECT_EQ(r->list->repeat, 3);
  EXPECT_GT(r->list->list_ms, 0);

  o.entries = 5;
  auto bad = RunBenchmark(o);
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->failures, 1u);
  EXPECT_TRUE(HasSample(*bad, "LIST: 2 entries, expected 5")) << Samples(*bad);
}

TEST(EngineTest, IdleHoldsSessionsAndMeasuresTheServer) {
  FakeFtpServer server{Script{}};
  Options o = BaseOptions(Mode::kIdle, server.port());
  o.sessions = 20;
  o.clients = 3;
  o.hold_s = 0.1;
  o.server_pid = getpid();  // the fake server lives in this process
  auto r = RunBenchmark(o);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->failures, 0u) << Samples(*r);
  ASSERT_TRUE(r->idle.has_value());
  EXPECT_EQ(r->idle->requested, 20u);
  EXPECT_EQ(r->idle->sessions, 20u);
  EXPECT_GE(*r->idle->server_processes, 1u);
  ASSERT_TRUE(r->idle->memory.has_value());
  EXPECT_GT(r->idle->memory->rss_kb, 0u);
  EXPECT_EQ(server.quits(), 20);
  EXPECT_TRUE(r->server_cpu_ms.has_value());
}

TEST(EngineTest, IdleReportsSessionsThatCouldNotLogIn) {
  Script s;
  s.pass_reply = "421 Too many users\r\n";
  FakeFtpServer server{s};
  Options o = BaseOptions(Mode::kIdle, server.port());
  o.sessions = 5;
  o.hold_s = 0;
  auto r = RunBenchmark(o);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->failures, 5u);
  EXPECT_EQ(r->idle->sessions, 0u);
  EXPECT_TRUE(HasSample(*r, "PASS: 421 Too many users")) << Samples(*r);
  EXPECT_FALSE(r->notes.empty());
}

TEST(EngineTest, SetupErrors) {
  Options o = BaseOptions(Mode::kLogin, 21);
  o.host = "no-such-host.invalid";
  EXPECT_FALSE(RunBenchmark(o).has_value());
  o.host = "127.0.0.1";
  o.server_pid = 1 << 30;
  auto r = RunBenchmark(o);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("--server-pid"), std::string::npos);
  rlimit rl{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < static_cast<rlim_t>(kMaxClients)) {
    o.server_pid.reset();
    o.mode = Mode::kIdle;
    o.sessions = kMaxClients;  // more than the fd limit allows
    r = RunBenchmark(o);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message().find("file descriptors"), std::string::npos);
  }
}

}  // namespace
}  // namespace poolftpd::ftpbench
