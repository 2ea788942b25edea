// Unit tests of the shutdown file (scoreboard/shutdown.cc: ProFTPD's
// /etc/shutmsg format, atomic writes, cookies), of ftpshut's pure logic
// (tools/ftpshut/schedule.cc: command line, time argument, offsets) and of
// the ShutdownFile lookup (tools/common/shutdown_paths.cc); then the built
// ftpshut binary against live, missing, stale and corrupt scoreboards
// (skipped when build/ftpshut has not been built next to this test).
#include "poolftpd/scoreboard/shutdown.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "../../tools/common/shutdown_paths.h"
#include "../../tools/ftpshut/schedule.h"
#include "poolftpd/scoreboard/scoreboard.h"

namespace poolftpd {
namespace {

using sb::CookieContext;
using sb::ShutdownInfo;
namespace fs = tools::ftpshut;

// 2026-11-21 14:00:00 UTC, a Saturday.
constexpr int64_t kShut = 1795269600;
// 2026-11-21 12:22:02 UTC.
constexpr int64_t kNow = 1795263722;

// Sets TZ for the life of the object (the format is local time).
class ScopedTz {
 public:
  explicit ScopedTz(const char* tz) {
    if (const char* old = std::getenv("TZ")) old_ = old;
    ::setenv("TZ", tz, 1);
    ::tzset();
  }
  ~ScopedTz() {
    if (old_) {
      ::setenv("TZ", old_->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }

 private:
  std::optional<std::string> old_;
};

bool HaveZone(const char* name) {
  return ::access((std::string("/usr/share/zoneinfo/") + name).c_str(), R_OK) == 0;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/shutdown_test.XXXXXX";
    const char* d = ::mkdtemp(tmpl);
    if (d != nullptr) path_ = d;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> DirEntries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Parses `text` expecting an error whose context contains `want`.
void ExpectParseError(const std::string& text, const std::string& want) {
  auto r = sb::ParseShutdownFile(text);
  ASSERT_FALSE(r) << "accepted: " << text;
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalid) << text;
  EXPECT_NE(r.error().context().find(want), std::string::npos)
      << "for " << text << " got: " << r.error().context();
}

// ---------------------------------------------------------------------------
// Parsing and formatting

TEST(ShutdownFile, ParsesProftpdFixture) {
  ScopedTz tz("UTC");
  // What ProFTPD's ftpshut writes for "ftpshut 1400" with the default offsets.
  auto r = sb::ParseShutdownFile("2026 11 21 14 0 0 0010 0005\ngoing down at %s\n");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->shutdown_time, kShut);
  EXPECT_EQ(r->deny_time, kShut - 600);
  EXPECT_EQ(r->disconnect_time, kShut - 300);
  EXPECT_EQ(r->message, "going down at %s");
}

TEST(ShutdownFile, ParsesHoursInOffsetsAndSeconds) {
  ScopedTz tz("UTC");
  // ProFTPD keeps the current seconds for +N; -l 90 is written "0130".
  auto r = sb::ParseShutdownFile("2026 11 21 14 7 33 0130 0000\nback soon, %U\n");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->shutdown_time, kShut + 7 * 60 + 33);
  EXPECT_EQ(r->deny_time, r->shutdown_time - 90 * 60);
  EXPECT_EQ(r->disconnect_time, r->shutdown_time);
  EXPECT_EQ(r->message, "back soon, %U");
}

TEST(ShutdownFile, MissingOffsetsMeanTheShutdownTime) {
  ScopedTz tz("UTC");
  auto six = sb::ParseShutdownFile("2026 11 21 14 0 0\nmsg\n");
  ASSERT_TRUE(six);
  EXPECT_EQ(six->deny_time, kShut);
  EXPECT_EQ(six->disconnect_time, kShut);
  auto seven = sb::ParseShutdownFile("2026 11 21 14 0 0 0015\nmsg\n");
  ASSERT_TRUE(seven);
  EXPECT_EQ(seven->deny_time, kShut - 900);
  EXPECT_EQ(seven->disconnect_time, kShut);
}

TEST(ShutdownFile, LenientLayout) {
  ScopedTz tz("UTC");
  // CRLF, tabs and runs of blanks, no final newline, extra lines ignored.
  auto crlf = sb::ParseShutdownFile("2026\t11  21 14 0 0 0010 0005\r\nmaintenance\r\n");
  ASSERT_TRUE(crlf) << crlf.error().message();
  EXPECT_EQ(crlf->shutdown_time, kShut);
  EXPECT_EQ(crlf->message, "maintenance");
  auto no_nl = sb::ParseShutdownFile("2026 11 21 14 0 0 0010 0005\nlast line");
  ASSERT_TRUE(no_nl);
  EXPECT_EQ(no_nl->message, "last line");
  auto extra = sb::ParseShutdownFile("2026 11 21 14 0 0 0010 0005\nfirst\nsecond\n");
  ASSERT_TRUE(extra);
  EXPECT_EQ(extra->message, "first");
  auto tab = sb::ParseShutdownFile("2026 11 21 14 0 0 0010 0005\na\tb\n");
  ASSERT_TRUE(tab);
  EXPECT_EQ(tab->message, "a\tb");
}

TEST(ShutdownFile, MissingMessageIsEmpty) {
  ScopedTz tz("UTC");
  auto a = sb::ParseShutdownFile("2026 11 21 14 0 0 0010 0005\n");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->message, "");
  auto b = sb::ParseShutdownFile("2026 11 21 14 0 0 0010 0005");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->message, "");
  EXPECT_EQ(b->shutdown_time, kShut);
}

TEST(ShutdownFile, LeapDay) {
  ScopedTz tz("UTC");
  EXPECT_TRUE(sb::ParseShutdownFile("2028 2 29 0 0 0 0000 0000\nx\n"));
  ExpectParseError("2026 2 29 0 0 0 0000 0000\nx\n", "line 1: bad day \"29\"");
  ExpectParseError("2100 2 29 0 0 0 0000 0000\nx\n", "bad day");
  EXPECT_TRUE(sb::ParseShutdownFile("2000 2 29 0 0 0 0000 0000\nx\n"));
}

TEST(ShutdownFile, GarbageAndTruncatedFilesAreErrors) {
  ScopedTz tz("UTC");
  ExpectParseError("", "line 1: empty");
  ExpectParseError("\n", "line 1: empty");
  ExpectParseError("   \t \nmessage\n", "line 1: empty");
  ExpectParseError("garbage\n", "truncated");
  ExpectParseError("hello world this is not a shutdown file\n", "bad year \"hello\"");
  ExpectParseError("2026 11 21 14 0\nmsg\n", "found 5 field(s)");
  ExpectParseError("2026", "found 1 field(s)");
  ExpectParseError("2026 11 21 14 0 0 0010 0005 extra\nmsg\n", "unexpected text \"extra\"");
  ExpectParseError(std::string("\x7f"
                               "ELF\x02\x01\x01",
                               7),
                   "truncated");
}

TEST(ShutdownFile, BadNumbersAreErrors) {
  ScopedTz tz("UTC");
  const std::string tail = " 0010 0005\nm\n";
  ExpectParseError("1969 12 31 23 59 59" + tail, "bad year \"1969\"");
  ExpectParseError("10000 1 1 0 0 0" + tail, "bad year");
  ExpectParseError("2026x 11 21 14 0 0" + tail, "bad year \"2026x\"");
  ExpectParseError("-2026 11 21 14 0 0" + tail, "bad year");
  ExpectParseError("+2026 11 21 14 0 0" + tail, "bad year");
  ExpectParseError("2026 0 21 14 0 0" + tail, "bad month \"0\"");
  ExpectParseError("2026 13 21 14 0 0" + tail, "bad month \"13\"");
  ExpectParseError("2026 11 0 14 0 0" + tail, "bad day");
  ExpectParseError("2026 11 31 14 0 0" + tail, "bad day \"31\"");
  ExpectParseError("2026 11 21 24 0 0" + tail, "bad hour \"24\"");
  ExpectParseError("2026 11 21 14 60 0" + tail, "bad minute \"60\"");
  ExpectParseError("2026 11 21 14 0 61" + tail, "bad second \"61\"");
  ExpectParseError("2026 11 21 14 0 1.5" + tail, "bad second");
  ExpectParseError("2026 11 21 14 0 99999999999999999999" + tail, "bad second");
  ExpectParseError("2026 11 21 14 0 0 010 0005\nm\n", "bad deny offset \"010\"");
  ExpectParseError("2026 11 21 14 0 0 00100 0005\nm\n", "bad deny offset");
  ExpectParseError("2026 11 21 14 0 0 0060 0005\nm\n", "bad deny offset \"0060\"");
  ExpectParseError("2026 11 21 14 0 0 0010 00x5\nm\n", "bad disconnect offset \"00x5\"");
  ExpectParseError("2026 11 21 14 0 0 0010 -005\nm\n", "bad disconnect offset");
  ExpectParseError("2026 11 21 14 -0 0" + tail, "bad minute \"-0\"");
  // A leap second is accepted (mktime normalises it).
  EXPECT_TRUE(sb::ParseShutdownFile("2026 11 21 14 0 60" + tail));
}

// Found by tests/fuzz/shutdown_fuzz.cc (regressions/shutdown/): a file
// that parsed into times the scoreboard calls damage (PlausibleShutdown),
// so the master announced a shutdown that every reader then ignored. POSIX
// TZ rules, so no tzdata is needed.
TEST(ShutdownFile, OnlyTimesTheScoreboardAcceptsParse) {
  {
    ScopedTz tz("UTC0");
    // An offset reaching back before the epoch (deny -71690).
    ExpectParseError("1970 1 1 0 10 10 2005 0005\nSystem going down\n",
                     "line 1: the deny offset reaches back before 1970");
    ExpectParseError("1970 1 1 0 10 10 0001 0011\nm\n",
                     "line 1: the disconnect offset reaches back before 1970");
    // 1970-01-01 00:00:00 UTC is time 0, "no shutdown" in the header.
    ExpectParseError("1970 1 1 0 0 0\nm\n", "line 1: the shutdown time is not after 1970");
    // A second 60 carries the last minute of 9999 into 10000.
    ExpectParseError("9999 12 31 23 59 60\nm\n", "line 1: the shutdown time is after 9999");
    // The first and last seconds the scoreboard takes still parse.
    auto first = sb::ParseShutdownFile("1970 1 1 0 0 1\nm\n");
    ASSERT_TRUE(first) << first.error().message();
    EXPECT_EQ(first->shutdown_time, 1);
    auto last = sb::ParseShutdownFile("9999 12 31 23 59 59 0000 0000\nm\n");
    ASSERT_TRUE(last) << last.error().message();
    EXPECT_TRUE(sb::PlausibleShutdown(last->shutdown_time, last->deny_time, last->disconnect_time,
                                      last->message));
  }
  {
    ScopedTz tz("EST5");  // west of UTC: local 9999-12-31 20:00 is 10000-01-01 01:00 UTC
    ExpectParseError("9999 12 31 20 0 0\nm\n", "line 1: the shutdown time is after 9999");
    EXPECT_TRUE(sb::ParseShutdownFile("9999 12 31 18 0 0\nm\n"));
  }
  {
    ScopedTz tz("CET-1");  // east of UTC: local 1970-01-01 00:30 is 1969-12-31 23:30 UTC
    ExpectParseError("1970 1 1 0 30 0\nm\n", "line 1: the shutdown time is not after 1970");
    // Local 10000-01-01 00:00 is still 9999 in UTC, but the file could not
    // be written back (FormatShutdownFile would write the year 10000).
    ExpectParseError("9999 12 31 23 59 60\nm\n", "line 1: the shutdown time is after 9999");
    auto ok = sb::ParseShutdownFile("1970 1 1 1 0 1\nm\n");
    ASSERT_TRUE(ok) << ok.error().message();
    EXPECT_EQ(ok->shutdown_time, 1);
  }
}

TEST(ShutdownFile, ControlCharactersInTheMessageAreErrors) {
  ScopedTz tz("UTC");
  const std::string head = "2026 11 21 14 0 0 0010 0005\n";
  ExpectParseError(head + std::string("a\0b", 3) + "\n", "line 2: control character");
  ExpectParseError(head + "a\rb\n", "line 2: control character");
  ExpectParseError(head + "\x1b[31mred\n", "line 2: control character");
  ExpectParseError(head + "del\x7f\n", "line 2: control character");
  // UTF-8 is fine.
  auto r = sb::ParseShutdownFile(head + "Wartung \xc3\xa4\xe2\x9c\x93\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->message, "Wartung \xc3\xa4\xe2\x9c\x93");
}

TEST(ShutdownFile, FormatsLikeProftpd) {
  ScopedTz tz("UTC");
  ShutdownInfo info{kShut, kShut - 600, kShut - 300, "going down at %s"};
  EXPECT_EQ(sb::FormatShutdownFile(info), "2026 11 21 14 0 0 0010 0005\ngoing down at %s\n");
  info = {kShut + 7 * 60 + 33, kShut + 7 * 60 + 33 - 90 * 60, kShut + 7 * 60 + 33, "x"};
  EXPECT_EQ(sb::FormatShutdownFile(info), "2026 11 21 14 7 33 0130 0000\nx\n");
  info = {1704067200 + 3661, 1704067200 + 3661, 1704067200 + 3661, ""};  // 2024-01-01 01:01:01
  EXPECT_EQ(sb::FormatShutdownFile(info), "2024 1 1 1 1 1 0000 0000\n\n");
}

TEST(ShutdownFile, FormatRoundsAndClampsOffsets) {
  ScopedTz tz("UTC");
  auto first_line = [](const ShutdownInfo& i) {
    const std::string t = sb::FormatShutdownFile(i);
    return t.substr(0, t.find('\n'));
  };
  // 90 s before: rounded up to 2 minutes, so the deny time never moves later.
  EXPECT_EQ(first_line({kShut, kShut - 90, kShut - 1, "m"}), "2026 11 21 14 0 0 0002 0001");
  // After the shutdown or 0: no offset.
  EXPECT_EQ(first_line({kShut, kShut + 500, 0, "m"}), "2026 11 21 14 0 0 0000 0000");
  // More than 99 h 59 min: clamped to what HHMM holds.
  EXPECT_EQ(first_line({kShut, kShut - 200 * 3600, kShut - 6000 * 60, "m"}),
            "2026 11 21 14 0 0 9959 9959");
  EXPECT_EQ(first_line({kShut, kShut - 5999 * 60, kShut - 60, "m"}), "2026 11 21 14 0 0 9959 0001");
}

TEST(ShutdownFile, FormatKeepsTheFileTwoLines) {
  ScopedTz tz("UTC");
  ShutdownInfo info{kShut, kShut, kShut, std::string("a\nb\rc\0d\x1b", 8)};
  const std::string text = sb::FormatShutdownFile(info);
  EXPECT_EQ(text, "2026 11 21 14 0 0 0000 0000\na b c d \n");
  auto back = sb::ParseShutdownFile(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->message, "a b c d ");
}

TEST(ShutdownFile, RoundTrip) {
  for (const char* zone : {"UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"}) {
    if (std::strcmp(zone, "UTC") != 0 && !HaveZone(zone)) continue;
    ScopedTz tz(zone);
    for (const int64_t shut :
         {kShut, kShut + 59, int64_t{1772953200}, int64_t{1782921600}, int64_t{4102444799}}) {
      for (const int deny_min : {0, 1, 10, 90, 5999}) {
        const ShutdownInfo in{shut, shut - deny_min * 60, shut - (deny_min / 2) * 60,
                              "going down at %s (%r, %d) 100% sure \xe2\x9c\x93"};
        auto out = sb::ParseShutdownFile(sb::FormatShutdownFile(in));
        ASSERT_TRUE(out) << zone << " " << shut << ": " << out.error().message();
        EXPECT_EQ(out->shutdown_time, in.shutdown_time) << zone << " " << shut;
        EXPECT_EQ(out->deny_time, in.deny_time) << zone << " " << shut;
        EXPECT_EQ(out->disconnect_time, in.disconnect_time) << zone << " " << shut;
        EXPECT_EQ(out->message, in.message);
      }
    }
  }
}

TEST(ShutdownFile, LocalTimeZone) {
  if (!HaveZone("America/New_York")) GTEST_SKIP() << "no tzdata";
  ScopedTz tz("America/New_York");
  // Summer: EDT, UTC-4.
  auto summer = sb::ParseShutdownFile("2026 7 1 12 0 0 0010 0005\nm\n");
  ASSERT_TRUE(summer);
  EXPECT_EQ(summer->shutdown_time, 1782921600);
  // 02:30 on 2026-03-08 does not exist (clocks jump from 02:00 to 03:00):
  // normalised like mktime does, to a real instant an hour around it.
  auto gap = sb::ParseShutdownFile("2026 3 8 2 30 0 0000 0000\nm\n");
  ASSERT_TRUE(gap);
  EXPECT_GE(gap->shutdown_time, 1772949600 + 3600);
  EXPECT_LE(gap->shutdown_time, 1772953200 + 1800);
  EXPECT_EQ(sb::FormatShutdownTime(1782921600), "Wed Jul 01 12:00:00 2026");
}

// ---------------------------------------------------------------------------
// Reading, writing, removing

TEST(ShutdownFileIo, ReadMissingIsNullopt) {
  TempDir dir;
  auto r = sb::ReadShutdownFile(dir.File("shutmsg"));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(r->has_value());
}

TEST(ShutdownFileIo, ReadParsesAndNamesThePathInErrors) {
  ScopedTz tz("UTC");
  TempDir dir;
  const std::string path = dir.File("shutmsg");
  WriteFile(path, "2026 11 21 14 0 0 0010 0005\ngoing down at %s\n");
  auto r = sb::ReadShutdownFile(path);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->shutdown_time, kShut);
  EXPECT_EQ((*r)->message, "going down at %s");

  WriteFile(path, "2026 13 21 14 0 0 0010 0005\nm\n");
  auto bad = sb::ReadShutdownFile(path);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalid);
  EXPECT_EQ(bad.error().message(), path + ": line 1: bad month \"13\"");

  WriteFile(path, "");
  auto empty = sb::ReadShutdownFile(path);
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message().find(path + ": line 1: empty"), std::string::npos);
}

TEST(ShutdownFileIo, ReadRefusesDirectoriesFifosAndHugeFiles) {
  TempDir dir;
  const std::string d = dir.File("adir");
  ASSERT_EQ(::mkdir(d.c_str(), 0755), 0);
  auto r = sb::ReadShutdownFile(d);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalid);
  EXPECT_EQ(r.error().message(), d + ": not a regular file");

  // A FIFO with no writer: must not block the reader.
  const std::string fifo = dir.File("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  auto f = sb::ReadShutdownFile(fifo);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code(), ErrorCode::kInvalid);

  const std::string big = dir.File("big");
  WriteFile(big, "2026 11 21 14 0 0 0010 0005\n" + std::string(sb::kMaxShutdownFileSize, 'x'));
  auto b = sb::ReadShutdownFile(big);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code(), ErrorCode::kLimit);
  EXPECT_NE(b.error().message().find(big), std::string::npos);

  // A path through a regular file.
  WriteFile(dir.File("plain"), "x");
  auto nd = sb::ReadShutdownFile(dir.File("plain") + "/shutmsg");
  ASSERT_FALSE(nd);
  EXPECT_EQ(nd.error().sys_errno(), ENOTDIR);
}

TEST(ShutdownFileIo, ReadUnreadableIsPermission) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads everything";
  TempDir dir;
  const std::string path = dir.File("shutmsg");
  WriteFile(path, "2026 11 21 14 0 0 0010 0005\nm\n");
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  auto r = sb::ReadShutdownFile(path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kPermission);
}

TEST(ShutdownFileIo, WriteIsAtomicWithMode0644) {
  ScopedTz tz("UTC");
  TempDir dir;
  const std::string path = dir.File("shutmsg");
  const mode_t old_mask = ::umask(077);
  const ShutdownInfo info{kShut, kShut - 600, kShut - 300, "going down at %s"};
  auto w = sb::WriteShutdownFile(path, info);
  ::umask(old_mask);
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_EQ(Slurp(path), "2026 11 21 14 0 0 0010 0005\ngoing down at %s\n");
  struct stat st = {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_EQ(DirEntries(dir.path()), std::vector<std::string>{"shutmsg"});

  // Replacing: a new inode (rename), never a half-written file.
  const ino_t first = st.st_ino;
  auto w2 = sb::WriteShutdownFile(path, {kShut, kShut, kShut, "now"});
  ASSERT_TRUE(w2);
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_NE(st.st_ino, first);
  EXPECT_EQ(Slurp(path), "2026 11 21 14 0 0 0000 0000\nnow\n");
  EXPECT_EQ(DirEntries(dir.path()), std::vector<std::string>{"shutmsg"});
}

TEST(ShutdownFileIo, WriteReplacesASymlinkNotItsTarget) {
  TempDir dir;
  const std::string target = dir.File("target");
  WriteFile(target, "keep me\n");
  const std::string path = dir.File("shutmsg");
  ASSERT_EQ(::symlink(target.c_str(), path.c_str()), 0);
  ASSERT_TRUE(sb::WriteShutdownFile(path, {kShut, kShut, kShut, "m"}));
  EXPECT_EQ(Slurp(target), "keep me\n");
  struct stat st = {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST(ShutdownFileIo, WriteErrors) {
  TempDir dir;
  auto missing = sb::WriteShutdownFile(dir.File("nodir/shutmsg"), {kShut, kShut, kShut, "m"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find(dir.File("nodir")), std::string::npos);
  EXPECT_EQ(DirEntries(dir.path()), std::vector<std::string>{});

  auto slash = sb::WriteShutdownFile(dir.path() + "/", {kShut, kShut, kShut, "m"});
  ASSERT_FALSE(slash);
  EXPECT_EQ(slash.error().code(), ErrorCode::kInvalid);

  // Renaming onto a directory fails; the temp file is cleaned up.
  const std::string d = dir.File("adir");
  ASSERT_EQ(::mkdir(d.c_str(), 0755), 0);
  auto onto_dir = sb::WriteShutdownFile(d, {kShut, kShut, kShut, "m"});
  ASSERT_FALSE(onto_dir);
  EXPECT_NE(onto_dir.error().message().find("cannot rename"), std::string::npos);
  EXPECT_EQ(DirEntries(dir.path()), std::vector<std::string>{"adir"});

  if (::geteuid() != 0) {
    const std::string ro = dir.File("ro");
    ASSERT_EQ(::mkdir(ro.c_str(), 0555), 0);
    auto denied = sb::WriteShutdownFile(ro + "/shutmsg", {kShut, kShut, kShut, "m"});
    ASSERT_FALSE(denied);
    EXPECT_EQ(denied.error().code(), ErrorCode::kPermission);
  }
}

TEST(ShutdownFileIo, Remove) {
  TempDir dir;
  const std::string path = dir.File("shutmsg");
  WriteFile(path, "x");
  auto first = sb::RemoveShutdownFile(path);
  ASSERT_TRUE(first);
  EXPECT_TRUE(*first);
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
  auto second = sb::RemoveShutdownFile(path);
  ASSERT_TRUE(second);
  EXPECT_FALSE(*second);
  const std::string d = dir.File("adir");
  ASSERT_EQ(::mkdir(d.c_str(), 0755), 0);
  auto on_dir = sb::RemoveShutdownFile(d);
  ASSERT_FALSE(on_dir);
  EXPECT_EQ(on_dir.error().code(), ErrorCode::kInvalid);
}

// ---------------------------------------------------------------------------
// Cookies

CookieContext Ctx() {
  CookieContext c;
  c.local_host = "192.0.2.1";
  c.remote_host = "client.example.org";
  c.user = "alice";
  c.cwd = "/pub/linux";
  c.now = kNow;
  c.server_name = "Mirror";
  return c;
}

TEST(Cookies, EveryCookie) {
  ScopedTz tz("UTC");
  const ShutdownInfo info{kShut, kShut - 600, kShut - 300, ""};
  const CookieContext c = Ctx();
  auto x = [&](const char* m) { return sb::ExpandShutdownMessage(m, info, c); };
  EXPECT_EQ(x("%s"), "Sat Nov 21 14:00:00 2026");
  EXPECT_EQ(x("%r"), "Sat Nov 21 13:50:00 2026");
  EXPECT_EQ(x("%d"), "Sat Nov 21 13:55:00 2026");
  EXPECT_EQ(x("%T"), "Sat Nov 21 12:22:02 2026");
  EXPECT_EQ(x("%L"), "192.0.2.1");
  EXPECT_EQ(x("%R"), "client.example.org");
  EXPECT_EQ(x("%U"), "alice");
  EXPECT_EQ(x("%C"), "/pub/linux");
  EXPECT_EQ(x("%V"), "Mirror");
  EXPECT_EQ(x("100%%"), "100%");
  EXPECT_EQ(x("going down at %s, refusing from %r; bye %U@%R (%C) [%L] %T %%s"),
            "going down at Sat Nov 21 14:00:00 2026, refusing from Sat Nov 21 13:50:00 2026; "
            "bye alice@client.example.org (/pub/linux) [192.0.2.1] Sat Nov 21 12:22:02 2026 %s");
}

TEST(Cookies, DayIsZeroPadded) {
  ScopedTz tz("UTC");
  EXPECT_EQ(sb::FormatShutdownTime(1704067200), "Mon Jan 01 00:00:00 2024");
  EXPECT_EQ(sb::FormatShutdownTime(0), "Thu Jan 01 00:00:00 1970");
}

TEST(Cookies, UnknownAndTrailingPercentStay) {
  ScopedTz tz("UTC");
  const ShutdownInfo info{kShut, kShut, kShut, ""};
  const CookieContext c = Ctx();
  EXPECT_EQ(sb::ExpandShutdownMessage("%x %u %S 50% %", info, c), "%x %u %S 50% %");
  EXPECT_EQ(sb::ExpandShutdownMessage("%%U", info, c), "%U");
  EXPECT_EQ(sb::ExpandShutdownMessage("%%%U", info, c), "%alice");
  EXPECT_EQ(sb::ExpandShutdownMessage("", info, c), "");
}

TEST(Cookies, ProftpdDefaultsForEmptyValues) {
  ScopedTz tz("UTC");
  const ShutdownInfo info{kShut, kShut, kShut, ""};
  CookieContext c;
  c.now = kNow;
  EXPECT_EQ(sb::ExpandShutdownMessage("%U|%R|%C|%L|%V", info, c), "NONE|(unknown)|(none)||");
}

TEST(Cookies, NoRescanOfSubstitutedText) {
  ScopedTz tz("UTC");
  const ShutdownInfo info{kShut, kShut, kShut, ""};
  CookieContext c = Ctx();
  c.user = "%s%U%%";
  c.cwd = "/100%d";
  EXPECT_EQ(sb::ExpandShutdownMessage("%U %C", info, c), "%s%U%% /100%d");
}

TEST(Cookies, ControlCharactersNeverReachTheReply) {
  ScopedTz tz("UTC");
  const ShutdownInfo info{kShut, kShut, kShut, ""};
  CookieContext c = Ctx();
  c.user = "evil\r\n230 fake";
  c.cwd = std::string("/a\0b", 4);
  c.remote_host = "host\x1b[2J";
  const std::string out = sb::ExpandShutdownMessage("%U %C %R\tend\x7f\n", info, c);
  EXPECT_EQ(out, "evil??230 fake /a?b host?[2J end??");
  for (const char ch : out) {
    EXPECT_FALSE(static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) << out;
  }
}

TEST(Cookies, LongOutputIsCutAtAUtf8Boundary) {
  ScopedTz tz("UTC");
  const ShutdownInfo info{kShut, kShut, kShut, ""};
  CookieContext c = Ctx();
  c.cwd = "/" + std::string(5000, 'a');
  const std::string out = sb::ExpandShutdownMessage("%C", info, c);
  EXPECT_EQ(out.size(), sb::kMaxExpandedShutdownMessage);
  // Three-byte characters straddling the limit.
  c.cwd.clear();
  for (int i = 0; i < 600; ++i) c.cwd += "\xe2\x9c\x93";
  const std::string u = sb::ExpandShutdownMessage("%C", info, c);
  EXPECT_LE(u.size(), sb::kMaxExpandedShutdownMessage);
  EXPECT_EQ(u.size() % 3, 0u);
  EXPECT_EQ(u.substr(u.size() - 3), "\xe2\x9c\x93");
}

TEST(Cookies, NowZeroMeansTheClock) {
  ScopedTz tz("UTC");
  const ShutdownInfo info{kShut, kShut, kShut, ""};
  CookieContext c;
  const int64_t before = static_cast<int64_t>(std::time(nullptr));
  const std::string out = sb::ExpandShutdownMessage("%T", info, c);
  const int64_t after = static_cast<int64_t>(std::time(nullptr));
  EXPECT_TRUE(out == sb::FormatShutdownTime(before) || out == sb::FormatShutdownTime(after)) << out;
}

// ---------------------------------------------------------------------------
// ftpshut: time argument, minutes, message, computed shutdown

TEST(FtpshutTime, Now) {
  ScopedTz tz("UTC");
  for (const char* s : {"now", "NOW", "Now"}) {
    auto r = fs::ParseShutdownTime(s, kNow);
    ASSERT_TRUE(r) << s;
    EXPECT_EQ(*r, kNow);
  }
}

TEST(FtpshutTime, PlusMinutes) {
  ScopedTz tz("UTC");
  EXPECT_EQ(*fs::ParseShutdownTime("+0", kNow), kNow);
  EXPECT_EQ(*fs::ParseShutdownTime("+5", kNow), kNow + 300);
  EXPECT_EQ(*fs::ParseShutdownTime("+ 5", kNow), kNow + 300);  // ProFTPD skips blanks
  EXPECT_EQ(*fs::ParseShutdownTime("+0090", kNow), kNow + 5400);
  EXPECT_EQ(*fs::ParseShutdownTime("+527040", kNow), kNow + 527040 * 60);
  auto big = fs::ParseShutdownTime("+527041", kNow);
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().context().find("one year"), std::string::npos);
  for (const char* s : {"+", "+x", "+-5", "+5m", "+5 ", "+1.5", "+99999999999"}) {
    auto r = fs::ParseShutdownTime(s, kNow);
    ASSERT_FALSE(r) << s;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalid);
  }
}

TEST(FtpshutTime, HhmmTodayOrTomorrow) {
  ScopedTz tz("UTC");
  const int64_t today = kShut - 14 * 3600;  // 2026-11-21 00:00:00
  // Now is 12:22:02.
  EXPECT_EQ(*fs::ParseShutdownTime("1400", kNow), kShut);
  EXPECT_EQ(*fs::ParseShutdownTime("1223", kNow), today + 12 * 3600 + 23 * 60);
  EXPECT_EQ(*fs::ParseShutdownTime("2359", kNow), today + 86400 - 60);
  // The current minute and earlier ones are tomorrow (ProFTPD's rule).
  EXPECT_EQ(*fs::ParseShutdownTime("1222", kNow), today + 86400 + 12 * 3600 + 22 * 60);
  EXPECT_EQ(*fs::ParseShutdownTime("0000", kNow), today + 86400);
  EXPECT_EQ(*fs::ParseShutdownTime("0930", kNow), today + 86400 + 9 * 3600 + 30 * 60);
  // HH alone: minute 0.
  EXPECT_EQ(*fs::ParseShutdownTime("14", kNow), kShut);
  EXPECT_EQ(*fs::ParseShutdownTime("12", kNow), today + 86400 + 12 * 3600);
  // Month and year roll over.
  const int64_t dec31 = 1798675200 + 23 * 3600;  // 2026-12-31 23:00:00
  EXPECT_EQ(*fs::ParseShutdownTime("2200", dec31), 1798675200 + 86400 + 22 * 3600);
}

TEST(FtpshutTime, HhmmAcrossDst) {
  if (!HaveZone("America/New_York")) GTEST_SKIP() << "no tzdata";
  ScopedTz tz("America/New_York");
  // 2026-03-07 23:00 EST; "0300" is tomorrow 03:00 EDT, only 3 hours later.
  EXPECT_EQ(*fs::ParseShutdownTime("0300", 1772942400), 1772953200);
  EXPECT_EQ(1772953200 - 1772942400, 3 * 3600);
}

TEST(FtpshutTime, BadTimes) {
  ScopedTz tz("UTC");
  for (const char* s : {"", "2400", "1260", "123", "12345", "1", "ab", "12:00", "tomorrow", "-5",
                        "noww", "14h", "１４００"}) {
    auto r = fs::ParseShutdownTime(s, kNow);
    ASSERT_FALSE(r) << s;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalid);
    EXPECT_NE(r.error().context().find("invalid time"), std::string::npos) << s;
  }
  EXPECT_NE(fs::ParseShutdownTime("2400", kNow).error().context().find("hour 00-23"),
            std::string::npos);
}

TEST(FtpshutMinutes, Values) {
  EXPECT_EQ(*fs::ParseMinutes("0", 'l'), 0);
  EXPECT_EQ(*fs::ParseMinutes("10", 'l'), 10);
  EXPECT_EQ(*fs::ParseMinutes("5999", 'd'), 5999);
  auto big = fs::ParseMinutes("6000", 'd');
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().context(), "-d 6000: at most 5999 minutes (99 h 59 min)");
  for (const char* s : {"", "-1", "-0", "+5", "1.5", "ten", " 5", "5 "}) {
    auto r = fs::ParseMinutes(s, 'l');
    ASSERT_FALSE(r) << s;
    EXPECT_NE(r.error().context().find("-l needs a number of minutes"), std::string::npos);
  }
}

TEST(FtpshutMessage, JoinAndValidate) {
  EXPECT_EQ(*fs::JoinMessage({}), "going down at %s");
  EXPECT_EQ(*fs::JoinMessage({"maintenance"}), "maintenance");
  EXPECT_EQ(*fs::JoinMessage({"back", "at", "15:00,", "%U"}), "back at 15:00, %U");
  EXPECT_EQ(*fs::JoinMessage({"a\tb"}), "a\tb");
  EXPECT_EQ(*fs::JoinMessage({std::string(255, 'x')}), std::string(255, 'x'));
  auto long_msg = fs::JoinMessage({std::string(200, 'x'), std::string(55, 'y')});
  ASSERT_FALSE(long_msg);
  EXPECT_EQ(long_msg.error().context(), "the message is too long (256 bytes, at most 255)");
  for (const std::vector<std::string_view>& bad : std::vector<std::vector<std::string_view>>{
           {"two\nlines"}, {"cr\r"}, {"esc\x1b"}, {"", ""}, {" "}}) {
    auto r = fs::JoinMessage(bad);
    EXPECT_FALSE(r);
  }
}

TEST(FtpshutCompute, NowIsImmediate) {
  ScopedTz tz("UTC");
  auto r = fs::ComputeShutdown(kNow, 10, 5, kNow, "bye");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->shutdown_time, kNow);
  EXPECT_EQ(r->deny_time, kNow);
  EXPECT_EQ(r->disconnect_time, kNow);
  EXPECT_EQ(r->message, "bye");
}

TEST(FtpshutCompute, OffsetsBeforeTheShutdown) {
  ScopedTz tz("UTC");
  auto r = fs::ComputeShutdown(kNow + 30 * 60, 10, 5, kNow, "m");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->deny_time, kNow + 20 * 60);
  EXPECT_EQ(r->disconnect_time, kNow + 25 * 60);
  // +1 -l 1 -d 0: refuse from now, disconnect at the shutdown.
  auto w = fs::ComputeShutdown(kNow + 60, 1, 0, kNow, "m");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->deny_time, kNow);
  EXPECT_EQ(w->disconnect_time, kNow + 60);
}

TEST(FtpshutCompute, NeverBeforeNow) {
  ScopedTz tz("UTC");
  // +3 with the defaults: both offsets reach back past now.
  auto r = fs::ComputeShutdown(kNow + 180, 10, 5, kNow, "m");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->deny_time, kNow);
  EXPECT_EQ(r->disconnect_time, kNow);
  // HHMM 4.5 minutes ahead: the file holds whole minutes, rounded up, so
  // the deny time is at most a minute before now.
  auto h = fs::ComputeShutdown(kNow + 270, 10, 0, kNow, "m");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->deny_time, kNow + 270 - 300);
  EXPECT_EQ(h->disconnect_time, kNow + 270);
}

TEST(FtpshutCompute, DenyNeverAfterDisconnect) {
  ScopedTz tz("UTC");
  auto r = fs::ComputeShutdown(kNow + 3600, 2, 5, kNow, "m");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->disconnect_time, kNow + 3600 - 300);
  EXPECT_EQ(r->deny_time, kNow + 3600 - 300);
}

TEST(FtpshutCompute, MatchesWhatTheFileHolds) {
  ScopedTz tz("UTC");
  auto r = fs::ComputeShutdown(kNow + 600, 10, 5, kNow, "m");
  ASSERT_TRUE(r);
  auto back = sb::ParseShutdownFile(sb::FormatShutdownFile(*r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->shutdown_time, r->shutdown_time);
  EXPECT_EQ(back->deny_time, r->deny_time);
  EXPECT_EQ(back->disconnect_time, r->disconnect_time);
}

// ---------------------------------------------------------------------------
// ftpshut: command line

Result<fs::Options> Cmd(std::vector<std::string_view> args) { return fs::ParseCommandLine(args); }

TEST(FtpshutCommandLine, ProftpdForms) {
  auto a = Cmd({"now"});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->time, "now");
  EXPECT_EQ(a->deny_minutes, 10);
  EXPECT_EQ(a->disconnect_minutes, 5);
  EXPECT_EQ(a->message, "going down at %s");
  EXPECT_FALSE(a->remove);

  auto b = Cmd({"-l", "20", "-d", "3", "+30", "system", "upgrade,", "back", "at", "%s"});
  ASSERT_TRUE(b);
  EXPECT_EQ(b->deny_minutes, 20);
  EXPECT_EQ(b->disconnect_minutes, 3);
  EXPECT_EQ(b->time, "+30");
  EXPECT_EQ(b->message, "system upgrade, back at %s");

  auto c = Cmd({"-l0", "-d0", "1400", "one quoted message"});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->deny_minutes, 0);
  EXPECT_EQ(c->disconnect_minutes, 0);
  EXPECT_EQ(c->message, "one quoted message");
}

TEST(FtpshutCommandLine, PathsAndOptionsAfterTheTime) {
  auto a = Cmd({"-f", "/tmp/shutmsg", "-c", "/etc/p.conf", "-s", "/run/sb", "now"});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->shutdown_file, "/tmp/shutmsg");
  EXPECT_EQ(a->config, "/etc/p.conf");
  EXPECT_EQ(a->scoreboard, "/run/sb");
  // Options between the time and the message still count ...
  auto b = Cmd({"+1", "-l", "1", "-d", "0", "warning"});
  ASSERT_TRUE(b);
  EXPECT_EQ(b->deny_minutes, 1);
  EXPECT_EQ(b->disconnect_minutes, 0);
  EXPECT_EQ(b->message, "warning");
  // ... but once the message starts, everything is message.
  auto c = Cmd({"now", "back", "-l", "5"});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->deny_minutes, 10);
  EXPECT_EQ(c->message, "back -l 5");
  // "--" lets a message start with '-'; a lone "-" is a word.
  auto d = Cmd({"now", "--", "-x", "y"});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->message, "-x y");
  auto e = Cmd({"now", "-", "sorry"});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message, "- sorry");
}

TEST(FtpshutCommandLine, Remove) {
  auto a = Cmd({"-R"});
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->remove);
  auto b = Cmd({"-Rf", "/tmp/x", "-s", "/tmp/sb"});
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->remove);
  EXPECT_EQ(b->shutdown_file, "/tmp/x");
  EXPECT_EQ(b->scoreboard, "/tmp/sb");
  for (const std::vector<std::string_view>& bad : std::vector<std::vector<std::string_view>>{
           {"-R", "now"}, {"-R", "-l", "5"}, {"-d", "1", "-R"}}) {
    auto r = Cmd(bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().context(), "-R takes no time, message, -l or -d");
  }
}

TEST(FtpshutCommandLine, HelpAndVersion) {
  EXPECT_TRUE(Cmd({"-h"})->help);
  EXPECT_TRUE(Cmd({"--help"})->help);
  EXPECT_TRUE(Cmd({"-V"})->version);
  EXPECT_TRUE(Cmd({"--version"})->version);
  EXPECT_TRUE(Cmd({"-l", "5", "--help", "bogus"})->help);
}

TEST(FtpshutCommandLine, UsageErrors) {
  struct Case {
    std::vector<std::string_view> args;
    const char* want;
  };
  const std::vector<Case> cases = {
      {{}, "missing time argument (now, +MINUTES or HHMM)"},
      {{"-l", "5"}, "missing time argument"},
      {{"-x", "now"}, "unknown option '-x'"},
      {{"--bogus", "now"}, "unknown option '--bogus'"},
      {{"now", "-q"}, "unknown option '-q'"},
      {{"-l"}, "option '-l' needs an argument"},
      {{"now", "-d"}, "option '-d' needs an argument"},
      {{"-l", "x", "now"}, "-l needs a number of minutes, not 'x'"},
      {{"-d", "6000", "now"}, "-d 6000: at most 5999 minutes"},
      {{"-f", "", "now"}, "option '-f' needs a file name"},
      {{"now", "two\nlines"}, "one line without control characters"},
      {{"now", ""}, "the message is empty"},
  };
  for (const Case& c : cases) {
    auto r = Cmd(c.args);
    ASSERT_FALSE(r) << c.want;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalid);
    EXPECT_NE(r.error().context().find(c.want), std::string::npos)
        << "want " << c.want << ", got " << r.error().context();
  }
}

// ---------------------------------------------------------------------------
// ShutdownFile lookup (tools/common/shutdown_paths)

TEST(ShutdownPaths, Resolve) {
  TempDir dir;
  const std::string conf = dir.File("poolftpd.conf");
  // A later directive wins, as in the server's parser.
  WriteFile(conf, "ServerName x\n# ShutdownFile /commented\nShutdownFile /first\nShutdownFile " +
                      dir.File("shut") + "\n<IfDefine NEVER>\nShutdownFile /never\n</IfDefine>\n");
  EXPECT_EQ(*tools::ResolveShutdownFilePath(std::string("/given"), conf, {}), "/given");
  EXPECT_EQ(*tools::ResolveShutdownFilePath(std::nullopt, conf, {}), dir.File("shut"));
  const std::string none = dir.File("none.conf");
  WriteFile(none, "ServerName x\nScoreboardFile /y");
  EXPECT_EQ(*tools::ResolveShutdownFilePath(std::nullopt, none, {}), "/etc/shutmsg");
  auto missing = tools::ResolveShutdownFilePath(std::nullopt, dir.File("missing.conf"), {});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find(dir.File("missing.conf")), std::string::npos);
  auto is_dir = tools::ResolveShutdownFilePath(std::nullopt, dir.path(), {});
  ASSERT_FALSE(is_dir);
  // Last line without a newline.
  WriteFile(none, "ServerName x\nShutdownFile /last");
  EXPECT_EQ(*tools::ResolveShutdownFilePath(std::nullopt, none, {}), "/last");
}

// ---------------------------------------------------------------------------
// The built ftpshut binary (build/ftpshut next to build/tests/)

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

class FtpshutBinary : public ::testing::Test {
 protected:
  void SetUp() override {
    tool_ = ToolPath("ftpshut");
    if (tool_.empty()) GTEST_SKIP() << "build/ftpshut not built";
    scratch_ = dir_.File("scratch");
    ::mkdir(scratch_.c_str(), 0700);
    shutmsg_ = dir_.File("shutmsg");
    board_path_ = dir_.File("poolftpd.scoreboard");
  }
  RunResult Run(std::vector<std::string> args) {
    std::vector<std::string> all = {"-f", shutmsg_, "-s", board_path_};
    all.insert(all.end(), args.begin(), args.end());
    return RunTool(tool_, all, scratch_);
  }

  ScopedTz tz_{"UTC"};
  TempDir dir_;
  std::string tool_, scratch_, shutmsg_, board_path_;
};

TEST_F(FtpshutBinary, PublishesToALiveScoreboard) {
  // This process is the "master": Create() records our PID.
  auto board = sb::Scoreboard::Create(board_path_, 2, "Test", 2);
  ASSERT_TRUE(board) << board.error().message();
  const int64_t before = static_cast<int64_t>(std::time(nullptr));
  RunResult r = Run({"-l", "10", "-d", "5", "+30", "maintenance", "at", "%s"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("ftpshut: wrote " + shutmsg_), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("published to the running poolftpd (master PID " +
                       std::to_string(::getpid()) + ")"),
            std::string::npos)
      << r.out;

  auto file = sb::ReadShutdownFile(shutmsg_);
  ASSERT_TRUE(file && file->has_value());
  const ShutdownInfo& f = **file;
  EXPECT_GE(f.shutdown_time, before + 1800);
  EXPECT_LE(f.shutdown_time, before + 1802);
  EXPECT_EQ(f.deny_time, f.shutdown_time - 600);
  EXPECT_EQ(f.disconnect_time, f.shutdown_time - 300);
  EXPECT_EQ(f.message, "maintenance at %s");
  EXPECT_NE(r.out.find("ftpshut: shutdown at " + sb::FormatShutdownTime(f.shutdown_time)),
            std::string::npos);

  const sb::HeaderView h = board->ReadHeader();
  EXPECT_EQ(h.shutdown_time, f.shutdown_time);
  EXPECT_EQ(h.deny_time, f.deny_time);
  EXPECT_EQ(h.disconnect_time, f.disconnect_time);
  EXPECT_STREQ(h.shutdown_msg, "maintenance at %s");

  // -R removes the file and clears the header.
  RunResult rm = Run({"-R"});
  ASSERT_EQ(rm.status, 0) << rm.err;
  EXPECT_NE(rm.out.find("ftpshut: " + shutmsg_ + " removed"), std::string::npos) << rm.out;
  EXPECT_NE(rm.out.find("shutdown cancelled"), std::string::npos) << rm.out;
  EXPECT_NE(::access(shutmsg_.c_str(), F_OK), 0);
  const sb::HeaderView h2 = board->ReadHeader();
  EXPECT_EQ(h2.shutdown_time, 0);
  EXPECT_EQ(h2.deny_time, 0);
  EXPECT_EQ(h2.disconnect_time, 0);
  EXPECT_STREQ(h2.shutdown_msg, "");

  // A second -R: nothing pending, still success.
  RunResult again = Run({"-R"});
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_NE(again.out.find("no shutdown file at " + shutmsg_), std::string::npos);
  EXPECT_NE(again.out.find("no shutdown pending"), std::string::npos);
}

TEST_F(FtpshutBinary, RemoveClearsAHeaderWhoseFileIsGone) {
  auto board = sb::Scoreboard::Create(board_path_, 2, "Test", 2);
  ASSERT_TRUE(board);
  board->SetShutdown(kShut, kShut, kShut, "left over");
  RunResult r = Run({"-R"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("shutdown cancelled"), std::string::npos) << r.out;
  EXPECT_EQ(board->ReadHeader().shutdown_time, 0);
}

TEST_F(FtpshutBinary, NoScoreboardStillWritesTheFile) {
  RunResult r = Run({"now", "going", "away"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("poolftpd is not running (no scoreboard at " + board_path_ + "); it reads " +
                       shutmsg_ + " when it starts"),
            std::string::npos)
      << r.out;
  auto file = sb::ReadShutdownFile(shutmsg_);
  ASSERT_TRUE(file && file->has_value());
  EXPECT_EQ((*file)->message, "going away");
  EXPECT_EQ((*file)->deny_time, (*file)->shutdown_time);
}

TEST_F(FtpshutBinary, StaleScoreboardIsNotWritten) {
  {
    auto board = sb::Scoreboard::Create(board_path_, 2, "Test", 2);
    ASSERT_TRUE(board);
    board->ClearMaster();
  }
  RunResult r = Run({"now"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("poolftpd is not running"), std::string::npos) << r.out;
  auto board = sb::Scoreboard::Open(board_path_);
  ASSERT_TRUE(board);
  EXPECT_EQ(board->ReadHeader().shutdown_time, 0);
  EXPECT_EQ(::access(shutmsg_.c_str(), F_OK), 0);
}

TEST_F(FtpshutBinary, CorruptScoreboardWarnsButSchedules) {
  WriteFile(board_path_, std::string(8192, 'G'));
  RunResult r = Run({"+5"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("ftpshut: warning: cannot publish to the scoreboard"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(board_path_), std::string::npos) << r.err;
  auto file = sb::ReadShutdownFile(shutmsg_);
  ASSERT_TRUE(file && file->has_value());
  EXPECT_EQ((*file)->message, "going down at %s");
}

TEST_F(FtpshutBinary, Errors) {
  RunResult usage = Run({"soon"});
  EXPECT_EQ(usage.status, 2);
  EXPECT_NE(usage.err.find("ftpshut: invalid time 'soon': use now, +MINUTES or HHMM"),
            std::string::npos)
      << usage.err;
  EXPECT_NE(usage.err.find("Try 'ftpshut --help'"), std::string::npos);
  EXPECT_NE(::access(shutmsg_.c_str(), F_OK), 0);

  RunResult none = RunTool(tool_, {}, scratch_);
  EXPECT_EQ(none.status, 2);
  EXPECT_NE(none.err.find("missing time argument"), std::string::npos);

  RunResult nodir =
      RunTool(tool_, {"-f", dir_.File("nodir/shutmsg"), "-s", board_path_, "now"}, scratch_);
  EXPECT_EQ(nodir.status, 1);
  EXPECT_NE(nodir.err.find("ftpshut: cannot create a temporary file in " + dir_.File("nodir")),
            std::string::npos)
      << nodir.err;

  RunResult badconf = RunTool(tool_, {"-c", dir_.File("missing.conf"), "now"}, scratch_);
  EXPECT_EQ(badconf.status, 1);
  EXPECT_NE(badconf.err.find("cannot read config " + dir_.File("missing.conf")), std::string::npos)
      << badconf.err;

  RunResult help = RunTool(tool_, {"--help"}, scratch_);
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("usage: ftpshut"), std::string::npos);
  RunResult version = RunTool(tool_, {"-V"}, scratch_);
  EXPECT_EQ(version.status, 0);
  EXPECT_NE(version.out.find("ftpshut (poolftpd) "), std::string::npos);
}

TEST_F(FtpshutBinary, WarnsWhenTheServerWatchesAnotherFile) {
  auto board = sb::Scoreboard::Create(board_path_, 2, "Test", 2);
  ASSERT_TRUE(board);
  const std::string conf = dir_.File("server.conf");
  WriteFile(conf, "ShutdownFile " + dir_.File("watched") + "\n");
  board->SetConfigFile(conf);
  RunResult r = Run({"+5"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("ftpshut: warning: the running poolftpd (master PID " +
                       std::to_string(::getpid()) + ") watches " + dir_.File("watched") +
                       " (ShutdownFile of " + conf + "), not " + shutmsg_),
            std::string::npos)
      << r.err;
  RunResult rm = Run({"-R"});
  ASSERT_EQ(rm.status, 0) << rm.err;
  EXPECT_NE(rm.err.find("watches " + dir_.File("watched")), std::string::npos) << rm.err;
  // The same file under another spelling: no warning.
  WriteFile(conf, "ShutdownFile " + dir_.path() + "/./shutmsg\n");
  RunResult same = Run({"+5"});
  ASSERT_EQ(same.status, 0) << same.err;
  EXPECT_EQ(same.err, "");
}

TEST_F(FtpshutBinary, PathsFromTheConfig) {
  auto board = sb::Scoreboard::Create(board_path_, 2, "Test", 2);
  ASSERT_TRUE(board);
  const std::string conf = dir_.File("poolftpd.conf");
  WriteFile(conf, "ScoreboardFile " + board_path_ + "\nShutdownFile " + dir_.File("other") + "\n");
  board->SetConfigFile(conf);
  RunResult r = RunTool(tool_, {"-c", conf, "-l", "0", "-d", "0", "+2", "bye"}, scratch_);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(::access(dir_.File("other").c_str(), F_OK), 0);
  const sb::HeaderView h = board->ReadHeader();
  EXPECT_EQ(h.deny_time, h.shutdown_time);
  EXPECT_STREQ(h.shutdown_msg, "bye");
}

}  // namespace
}  // namespace poolftpd
