// Unit tests for log: the ProFTPD-shaped SystemLog line (and that the stock
// fail2ban proftpd filter still matches our failure lines), the xferlog(5)
// TransferLog line, and the process-wide Logs state: Open, Reopen after a
// logrotate-style rename, SetClient and the debug level.
// g++ 12 with -fsanitize=address reports a false -Wmaybe-uninitialized
// inside libstdc++'s std::function as instantiated by <regex>; the pragma
// must precede every include to cover the inlined header code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "poolftpd/log/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace poolftpd::log {
namespace {

// Every expected timestamp below is UTC; the formatters use local time.
const bool kUtc = [] {
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  return true;
}();

// 2026-11-21 11:39:26 UTC, a Saturday.
constexpr int64_t kWhen = 1795261166;

class TempDir {
 public:
  TempDir() {
    const char* tmp = ::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/log_test.XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) std::abort();
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> Tokens(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  std::string t;
  while (in >> t) out.push_back(t);
  return out;
}

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + 1))
    ++n;
  return n;
}

// ---------------------------------------------------------------------------
// FormatSystemLine

TEST(SystemLineTest, WithClient) {
  ASSERT_TRUE(kUtc);
  const std::string line =
      FormatSystemLine(kWhen * 1000000000 + 123456789, "ftp.example.org", 4242,
                       "client.example.net", "192.0.2.7", "FTP session opened.");
  EXPECT_EQ(line,
            "2026-11-21 11:39:26,123 poolftpd[4242] ftp.example.org "
            "(client.example.net[192.0.2.7]): FTP session opened.\n");
}

TEST(SystemLineTest, ClientWithoutNameShowsIpTwice) {
  const std::string line =
      FormatSystemLine(kWhen * 1000000000, "host", 7, "", "127.0.0.1", "hello");
  EXPECT_EQ(line, "2026-11-21 11:39:26,000 poolftpd[7] host (127.0.0.1[127.0.0.1]): hello\n");
}

TEST(SystemLineTest, WithoutClient) {
  const std::string line = FormatSystemLine(kWhen * 1000000000 + 5000000, "host", 1, "", "",
                                            "ProFTPD-compatible master started");
  EXPECT_EQ(line, "2026-11-21 11:39:26,005 poolftpd[1] host: ProFTPD-compatible master started\n");
}

TEST(SystemLineTest, ZeroPadsDateAndTime) {
  // 2026-03-05 07:08:09.045 UTC
  const std::string line =
      FormatSystemLine(1772694489LL * 1000000000 + 45000000, "h", 99, "", "", "m");
  EXPECT_EQ(line, "2026-03-05 07:08:09,045 poolftpd[99] h: m\n");
}

// The stock Debian fail2ban (1.0.2) proftpd filter, simplified to what our
// lines must satisfy: date, time, host, "poolftpd[pid]", then "(name[ip])".
const std::regex kFail2banProftpd(
    R"(^\S+ \S+ \S+ \S+ \(\S+\[127\.0\.0\.1\]\)[: -]+ )"
    R"((USER \S+(?: \(Login failed\))?: ([nN]o such user found|[lL]imit access denies login))"
    R"(|Maximum login attempts \(\d+\) exceeded))");

bool Fail2banMatches(const std::string& line) {
  std::string l = line;
  if (!l.empty() && l.back() == '\n') l.pop_back();
  return std::regex_search(l, kFail2banProftpd);
}

TEST(SystemLineTest, Fail2banFilterMatchesLoginFailures) {
  const int64_t now = kWhen * 1000000000;
  for (const char* msg : {"USER bob: no such user found from 127.0.0.1 [127.0.0.1] to 127.0.0.1:21",
                          "USER bob (Login failed): Limit access denies login",
                          "Maximum login attempts (3) exceeded"}) {
    const std::string unnamed = FormatSystemLine(now, "ftphost", 3131, "", "127.0.0.1", msg);
    EXPECT_TRUE(Fail2banMatches(unnamed)) << unnamed;
    const std::string named =
        FormatSystemLine(now, "ftphost.example.org", 3131, "localhost", "127.0.0.1", msg);
    EXPECT_TRUE(Fail2banMatches(named)) << named;
  }
}

TEST(SystemLineTest, Fail2banFilterIgnoresOtherLines) {
  const int64_t now = kWhen * 1000000000;
  EXPECT_FALSE(Fail2banMatches(
      FormatSystemLine(now, "ftphost", 1, "", "127.0.0.1", "ANON ftp: Login successful.")));
  EXPECT_FALSE(Fail2banMatches(
      FormatSystemLine(now, "ftphost", 1, "", "127.0.0.2", "Maximum login attempts (3) exceeded")));
  // Without a client part there is no <HOST> to ban.
  EXPECT_FALSE(Fail2banMatches(
      FormatSystemLine(now, "ftphost", 1, "", "", "Maximum login attempts (3) exceeded")));
}

// ---------------------------------------------------------------------------
// FormatXferLine (xferlog(5))

XferRecord SampleXfer() {
  XferRecord r;
  r.now_s = kWhen;
  r.seconds = 3;
  r.remote_host = "192.0.2.7";
  r.bytes = 1234567;
  r.filename = "/srv/ftp/pub/file.iso";
  r.ascii = false;
  r.direction = 'o';
  r.access_mode = 'a';
  r.username = "guest@example.org";
  r.complete = true;
  return r;
}

TEST(XferLineTest, ExactLine) {
  EXPECT_EQ(FormatXferLine(SampleXfer()),
            "Sat Nov 21 11:39:26 2026 3 192.0.2.7 1234567 /srv/ftp/pub/file.iso b _ o a "
            "guest@example.org ftp 0 * c\n");
}

TEST(XferLineTest, HasEighteenTokensAndFieldsInPlace) {
  const std::string line = FormatXferLine(SampleXfer());
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(Count(line, "\n"), 1u);
  const auto t = Tokens(line);
  // current-time is 5 tokens; then 13 more fields (14 fields in all).
  ASSERT_EQ(t.size(), 18u) << line;
  EXPECT_EQ(t[0], "Sat");
  EXPECT_EQ(t[1], "Nov");
  EXPECT_EQ(t[2], "21");
  EXPECT_EQ(t[3], "11:39:26");
  EXPECT_EQ(t[4], "2026");
  EXPECT_EQ(t[5], "3");          // transfer-time
  EXPECT_EQ(t[6], "192.0.2.7");  // remote-host
  EXPECT_EQ(t[7], "1234567");    // file-size
  EXPECT_EQ(t[8], "/srv/ftp/pub/file.iso");
  EXPECT_EQ(t[9], "b");                   // transfer-type
  EXPECT_EQ(t[10], "_");                  // special-action-flag
  EXPECT_EQ(t[11], "o");                  // direction
  EXPECT_EQ(t[12], "a");                  // access-mode
  EXPECT_EQ(t[13], "guest@example.org");  // username
  EXPECT_EQ(t[14], "ftp");                // service-name
  EXPECT_EQ(t[15], "0");                  // authentication-method
  EXPECT_EQ(t[16], "*");                  // authenticated-user-id
  EXPECT_EQ(t[17], "c");                  // completion-status
}

TEST(XferLineTest, AsciiIncomingRealIncomplete) {
  XferRecord r = SampleXfer();
  r.ascii = true;
  r.direction = 'i';
  r.access_mode = 'r';
  r.complete = false;
  r.username = "alice";
  const auto t = Tokens(FormatXferLine(r));
  ASSERT_EQ(t.size(), 18u);
  EXPECT_EQ(t[9], "a");
  EXPECT_EQ(t[11], "i");
  EXPECT_EQ(t[12], "r");
  EXPECT_EQ(t[13], "alice");
  EXPECT_EQ(t[17], "i");
}

TEST(XferLineTest, SpacesInNamesBecomeUnderscores) {
  XferRecord r = SampleXfer();
  r.filename = "/srv/ftp/my file with  spaces.txt";
  r.username = "a user";
  const std::string line = FormatXferLine(r);
  const auto t = Tokens(line);
  ASSERT_EQ(t.size(), 18u) << line;
  EXPECT_EQ(t[8], "/srv/ftp/my_file_with__spaces.txt");
  EXPECT_EQ(t[13], "a_user");

  // A tab is a separator too: it must not survive (as '_' or as '?').
  r.filename = "/srv/ftp/tab\there";
  const std::string tabbed = FormatXferLine(r);
  EXPECT_EQ(tabbed.find('\t'), std::string::npos);
  EXPECT_EQ(Tokens(tabbed).size(), 18u) << tabbed;
}

TEST(XferLineTest, ControlBytesCannotForgeLines) {
  XferRecord r = SampleXfer();
  r.filename =
      "/srv/ftp/evil\nSat Nov 21 11:39:26 2026 1 6.6.6.6 1 /etc/shadow b _ o a x ftp 0 * c";
  r.username = "x\r\x1b[2J";
  const std::string line = FormatXferLine(r);
  EXPECT_EQ(Count(line, "\n"), 1u);
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\r'), std::string::npos);
  EXPECT_EQ(line.find('\x1b'), std::string::npos);
  EXPECT_EQ(Tokens(line).size(), 18u) << line;
}

TEST(XferLineTest, EmptyFieldsKeepTheFieldCount) {
  XferRecord r = SampleXfer();
  r.username = "";
  r.remote_host = "";
  r.filename = "";
  r.bytes = 0;
  r.seconds = 0;
  const auto t = Tokens(FormatXferLine(r));
  ASSERT_EQ(t.size(), 18u);
  EXPECT_EQ(t[5], "0");
  EXPECT_EQ(t[7], "0");
}

TEST(XferLineTest, SingleDigitDayKeepsTokenCount) {
  XferRecord r = SampleXfer();
  r.now_s = 1772694489;  // Thu Mar  5 07:08:09 2026 UTC
  const auto t = Tokens(FormatXferLine(r));
  ASSERT_EQ(t.size(), 18u);
  EXPECT_EQ(t[0], "Thu");
  EXPECT_EQ(t[1], "Mar");
  EXPECT_EQ(std::stoi(t[2]), 5);
  EXPECT_EQ(t[3], "07:08:09");
  EXPECT_EQ(t[4], "2026");
}

// ---------------------------------------------------------------------------
// Logs: files, reopen, client, debug level. The state is process-wide, so
// each test opens its own files first.

TEST(LogsTest, OpenWritesBothFiles) {
  TempDir dir;
  const std::string sys = dir / "system.log", xfer = dir / "xfer.log";
  ASSERT_TRUE(Logs::Open(sys, xfer, true));
  EXPECT_GE(Logs::system_fd(), 0);
  EXPECT_GE(Logs::transfer_fd(), 0);
  Logs::ClearClient();
  Info("first line");
  Warn("second line");
  Error("third line");
  WriteXfer(SampleXfer());

  const std::string s = ReadFile(sys);
  EXPECT_EQ(Count(s, "\n"), 3u) << s;
  // Every line is "YYYY-MM-DD HH:MM:SS,mmm poolftpd[PID] HOST: message".
  const std::string head = R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} poolftpd\[)" +
                           std::to_string(::getpid()) + R"(\] \S+: )";
  std::istringstream in(s);
  std::string line;
  std::vector<std::string> messages;
  while (std::getline(in, line)) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, std::regex(head + "(.*)"))) << line;
    messages.push_back(m[1]);
  }
  EXPECT_EQ(messages, (std::vector<std::string>{"first line", "second line", "third line"}));

  EXPECT_EQ(ReadFile(xfer), FormatXferLine(SampleXfer()));

  struct stat st {};
  ASSERT_EQ(::stat(sys.c_str(), &st), 0);
  // Created 0640 (less with the umask): never world-readable or executable.
  EXPECT_EQ(st.st_mode & 0777 & ~0640u, 0u) << std::oct << (st.st_mode & 0777);
}

TEST(LogsTest, AppendsToExistingFile) {
  TempDir dir;
  const std::string sys = dir / "system.log";
  {
    std::ofstream f(sys);
    f << "old line\n";
  }
  ASSERT_TRUE(Logs::Open(sys, "", true));
  EXPECT_LT(Logs::transfer_fd(), 0);
  Info("new line");
  WriteXfer(SampleXfer());  // no TransferLog: silently nothing
  const std::string s = ReadFile(sys);
  EXPECT_EQ(s.rfind("old line\n", 0), 0u) << s;
  EXPECT_NE(s.find("new line\n"), std::string::npos);
  EXPECT_EQ(s.find("guest@example.org"), std::string::npos);
}

TEST(LogsTest, ClientPartAppearsAndIsEscaped) {
  TempDir dir;
  const std::string sys = dir / "system.log";
  ASSERT_TRUE(Logs::Open(sys, "", true));
  Logs::SetClient("client.example.net", "192.0.2.7");
  Info("in session");
  Logs::SetClient("evil\nname", "192.0.2.8");
  Info("escaped");
  Logs::ClearClient();
  Info("outside");
  const std::string s = ReadFile(sys);
  EXPECT_NE(s.find(" (client.example.net[192.0.2.7]): in session\n"), std::string::npos) << s;
  EXPECT_NE(s.find(" (evil?name[192.0.2.8]): escaped\n"), std::string::npos) << s;
  EXPECT_TRUE(std::regex_search(s, std::regex(R"(\] \S+: outside\n)"))) << s;
  EXPECT_EQ(s.find("): outside"), std::string::npos) << "no client part outside a session";
  EXPECT_EQ(Count(s, "\n"), 3u) << s;
}

TEST(LogsTest, ReopenAfterRotation) {
  TempDir dir;
  const std::string sys = dir / "system.log", xfer = dir / "xfer.log";
  ASSERT_TRUE(Logs::Open(sys, xfer, true));
  Info("before rotation");
  WriteXfer(SampleXfer());

  // logrotate: rename, then signal the master, which reopens the same paths.
  ASSERT_EQ(::rename(sys.c_str(), (sys + ".1").c_str()), 0);
  ASSERT_EQ(::rename(xfer.c_str(), (xfer + ".1").c_str()), 0);
  Info("between rename and reopen");
  ASSERT_TRUE(Logs::Reopen(sys, xfer));
  Info("after rotation");
  XferRecord r = SampleXfer();
  r.filename = "/after";
  WriteXfer(r);

  const std::string old_sys = ReadFile(sys + ".1"), new_sys = ReadFile(sys);
  EXPECT_NE(old_sys.find("before rotation"), std::string::npos);
  EXPECT_NE(old_sys.find("between rename and reopen"), std::string::npos);
  EXPECT_EQ(old_sys.find("after rotation"), std::string::npos);
  EXPECT_NE(new_sys.find("after rotation"), std::string::npos);
  EXPECT_EQ(new_sys.find("before rotation"), std::string::npos);
  EXPECT_EQ(Count(new_sys, "\n"), 1u);

  EXPECT_EQ(ReadFile(xfer + ".1"), FormatXferLine(SampleXfer()));
  EXPECT_EQ(ReadFile(xfer), FormatXferLine(r));
}

TEST(LogsTest, ReopenToNewPaths) {
  TempDir dir;
  ASSERT_TRUE(Logs::Open(dir / "a.log", "", true));
  Info("to a");
  ASSERT_TRUE(Logs::Reopen(dir / "b.log", dir / "bx.log"));
  Info("to b");
  EXPECT_GE(Logs::transfer_fd(), 0);
  EXPECT_NE(ReadFile(dir / "a.log").find("to a"), std::string::npos);
  EXPECT_EQ(ReadFile(dir / "a.log").find("to b"), std::string::npos);
  EXPECT_NE(ReadFile(dir / "b.log").find("to b"), std::string::npos);
}

// A full disk (/dev/full answers every write with ENOSPC): the lines are
// counted, and the first line that can be written again says how many of
// each log were lost and why, before itself.
TEST(LogsTest, LinesLostToAFullDiskAreReportedOnce) {
  TempDir dir;
  ASSERT_TRUE(Logs::Open("/dev/full", "/dev/full", true));
  Info("lost one");
  Warn("lost two");
  WriteXfer(SampleXfer());
  ASSERT_TRUE(Logs::Reopen(dir / "after.log", ""));
  Info("written again");
  Info("and once more");
  const std::string s = ReadFile(dir / "after.log");
  EXPECT_EQ(Count(s, "\n"), 3u) << s;
  EXPECT_NE(s.find("2 SystemLog line(s) and 1 TransferLog line(s) of this process lost: No space "
                   "left on device\n"),
            std::string::npos)
      << s;
  EXPECT_LT(s.find("lost: No space"), s.find("written again")) << s;
  EXPECT_EQ(Count(s, "of this process lost"), 1u) << s;
}

TEST(LogsTest, FailedReopenKeepsOldFiles) {
  TempDir dir;
  const std::string sys = dir / "system.log", xfer = dir / "xfer.log";
  ASSERT_TRUE(Logs::Open(sys, xfer, true));
  const int old_sys_fd = Logs::system_fd(), old_xfer_fd = Logs::transfer_fd();

  auto r = Logs::Reopen(dir / "missing/dir/system.log", xfer);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kSystem);
  EXPECT_EQ(r.error().sys_errno(), ENOENT);
  EXPECT_NE(r.error().context().find("missing/dir/system.log"), std::string::npos);

  auto r2 = Logs::Reopen(sys, dir / "missing/dir/xfer.log");
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().sys_errno(), ENOENT);

  EXPECT_EQ(Logs::system_fd(), old_sys_fd);
  EXPECT_EQ(Logs::transfer_fd(), old_xfer_fd);
  Info("still logging");
  WriteXfer(SampleXfer());
  EXPECT_NE(ReadFile(sys).find("still logging"), std::string::npos);
  EXPECT_EQ(ReadFile(xfer), FormatXferLine(SampleXfer()));
}

TEST(LogsTest, OpenFailsForUnwritablePath) {
  TempDir dir;
  auto r = Logs::Open(dir / "nope/system.log", "", true);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().sys_errno(), ENOENT);
}

TEST(LogsTest, LogFdsAreCloseOnExec) {
  TempDir dir;
  ASSERT_TRUE(Logs::Open(dir / "s.log", dir / "x.log", true));
  EXPECT_NE(::fcntl(Logs::system_fd(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_NE(::fcntl(Logs::transfer_fd(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_NE(::fcntl(Logs::system_fd(), F_GETFL) & O_APPEND, 0);
}

TEST(LogsTest, DebugObeysLevel) {
  TempDir dir;
  const std::string sys = dir / "system.log";
  ASSERT_TRUE(Logs::Open(sys, "", true));

  Logs::SetDebugLevel(0);
  EXPECT_EQ(Logs::debug_level(), 0);
  Debug(1, "d1 at level 0");
  Write(Level::kDebug, "kDebug at level 0");

  Logs::SetDebugLevel(2);
  EXPECT_EQ(Logs::debug_level(), 2);
  Debug(1, "d1 at level 2");
  Debug(2, "d2 at level 2");
  Debug(3, "d3 at level 2");
  Write(Level::kDebug, "kDebug at level 2");

  Logs::SetDebugLevel(0);
  Debug(1, "d1 back at level 0");

  const std::string s = ReadFile(sys);
  EXPECT_EQ(s.find("d1 at level 0"), std::string::npos);
  EXPECT_EQ(s.find("kDebug at level 0"), std::string::npos);
  EXPECT_NE(s.find("d1 at level 2"), std::string::npos);
  EXPECT_NE(s.find("d2 at level 2"), std::string::npos);
  EXPECT_EQ(s.find("d3 at level 2"), std::string::npos);
  EXPECT_NE(s.find("kDebug at level 2"), std::string::npos);
  EXPECT_EQ(s.find("d1 back at level 0"), std::string::npos);
  EXPECT_EQ(Count(s, "\n"), 3u) << s;
}

TEST(LogsTest, DebugEnabledGatesEachLevel) {
  for (int level = 0; level <= 9; ++level) {
    Logs::SetDebugLevel(level);
    EXPECT_EQ(Logs::debug_level(), level);
    for (int want = 1; want <= 9; ++want)
      EXPECT_EQ(DebugEnabled(want), want <= level) << level << " " << want;
  }
  SetDebugLevelFromSignal(7);  // what the worker's handler does
  EXPECT_EQ(Logs::debug_level(), 7);
  EXPECT_TRUE(DebugEnabled(7));
  EXPECT_FALSE(DebugEnabled(8));
  Logs::SetDebugLevel(0);
  EXPECT_FALSE(DebugEnabled(1));
}

// The macro is what makes debug logging free when off: its arguments (which
// build strings) are not evaluated at all below the level.
TEST(LogsTest, DebugMacroEvaluatesNothingWhenOff) {
  TempDir dir;
  const std::string sys = dir / "system.log";
  ASSERT_TRUE(Logs::Open(sys, "", true));
  int built = 0;
  auto text = [&built] {
    ++built;
    return std::string("built text");
  };
  Logs::SetDebugLevel(4);
  POOLFTPD_DEBUG(5, "never ", text());
  EXPECT_EQ(built, 0);
  Logs::SetDebugLevel(5);
  POOLFTPD_DEBUG(5, "n=", 42, ' ', uint64_t{18446744073709551615u}, " ", int64_t{-3}, " ", text());
  EXPECT_EQ(built, 1);
  POOLFTPD_DEBUG(6, "above ", text());
  EXPECT_EQ(built, 1);
  Logs::SetDebugLevel(0);
  const std::string s = ReadFile(sys);
  EXPECT_NE(s.find(": debug: n=42 18446744073709551615 -3 built text\n"), std::string::npos) << s;
  EXPECT_EQ(s.find("never"), std::string::npos);
  EXPECT_EQ(s.find("above"), std::string::npos);
  EXPECT_EQ(Count(s, "\n"), 1u) << s;
}

TEST(LogsTest, DebugLinesKeepErrno) {
  TempDir dir;
  ASSERT_TRUE(Logs::Open(dir / "system.log", "", true));
  Logs::SetDebugLevel(9);
  errno = EPIPE;
  POOLFTPD_DEBUG(9, "a line");
  EXPECT_EQ(errno, EPIPE);
  errno = ECONNRESET;
  Debug(9, "another");
  EXPECT_EQ(errno, ECONNRESET);
  Logs::SetDebugLevel(0);
}

}  // namespace
}  // namespace poolftpd::log
