// The shutdown file: ProFTPD's /etc/shutmsg format, atomic writes and
// message cookies. See include/poolftpd/scoreboard/shutdown.h.
#include "poolftpd/scoreboard/shutdown.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <ctime>
#include <vector>

#include "poolftpd/util/unique_fd.h"

namespace poolftpd::sb {

namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

// The first line of `text` (without "\n" or "\r\n") and what follows it.
std::string_view TakeLine(std::string_view& text) {
  const size_t nl = text.find('\n');
  std::string_view line = text.substr(0, nl);
  text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

std::vector<std::string_view> SplitFields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsBlank(line[i])) ++i;
    const size_t start = i;
    while (i < line.size() && !IsBlank(line[i])) ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

// A decimal number of 1-9 digits (no sign, no spaces), or nullopt.
std::optional<int> ParseDigits(std::string_view s) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  for (const char c : s) {
    if (c < '0' || c > '9') return std::nullopt;  // from_chars would take "-0"
  }
  int v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

bool IsLeapYear(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int year, int month) {
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

// Printable copy of a field for an error message (file contents may hold
// anything).
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (const char c : s.substr(0, 40)) {
    const auto uc = static_cast<unsigned char>(c);
    out += (uc < 0x20 || uc == 0x7f) ? '?' : c;
  }
  if (s.size() > 40) out += "...";
  return out + "\"";
}

Error Invalid(int line, const std::string& reason) {
  return Error(ErrorCode::kInvalid, "line " + std::to_string(line) + ": " + reason);
}

// "HHMM" (exactly four digits, MM <= 59) as seconds.
std::optional<int64_t> ParseOffset(std::string_view s) {
  if (s.size() != 4) return std::nullopt;
  const auto hh = ParseDigits(s.substr(0, 2));
  const auto mm = ParseDigits(s.substr(2, 2));
  if (!hh || !mm || *mm > 59) return std::nullopt;
  return int64_t{*hh} * 3600 + int64_t{*mm} * 60;
}

// 10000-01-01 00:00:00 UTC: shutdown times lie before it (PlausibleShutdown
// in scoreboard.cc refuses it and later ones).
constexpr int64_t kShutdownTimeEnd = 253402300800;

// Whole minutes (rounded up) from `earlier` to `shutdown`, 0..max.
int OffsetMinutes(int64_t shutdown, int64_t earlier) {
  if (earlier == 0 || earlier >= shutdown) return 0;
  const int64_t diff = shutdown - earlier;
  const int64_t minutes = diff / 60 + (diff % 60 != 0 ? 1 : 0);
  return minutes > kMaxShutdownOffsetMinutes ? kMaxShutdownOffsetMinutes
                                             : static_cast<int>(minutes);
}

std::string TwoDigits(int v) {
  std::string s = std::to_string(v);
  return s.size() < 2 ? "0" + s : s;
}

std::string OffsetField(int minutes) { return TwoDigits(minutes / 60) + TwoDigits(minutes % 60); }

Error FileError(int err, const std::string& what) {
  if (err == ENOENT) return Error(ErrorCode::kNotFound, what, err);
  if (err == EACCES || err == EPERM || err == EROFS)
    return Error(ErrorCode::kPermission, what, err);
  return Error(ErrorCode::kSystem, what, err);
}

}  // namespace

std::string FormatShutdownTime(int64_t t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const time_t tt = static_cast<time_t>(t);
  struct tm tm = {};
  if (::localtime_r(&tt, &tm) == nullptr || tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 ||
      tm.tm_mon > 11) {
    return "";
  }
  return std::string(kDays[tm.tm_wday]) + " " + kMonths[tm.tm_mon] + " " + TwoDigits(tm.tm_mday) +
         " " + TwoDigits(tm.tm_hour) + ":" + TwoDigits(tm.tm_min) + ":" + TwoDigits(tm.tm_sec) +
         " " + std::to_string(tm.tm_year + 1900);
}

Result<ShutdownInfo> ParseShutdownFile(std::string_view text) {
  std::string_view rest = text;
  const std::string_view first = TakeLine(rest);
  const std::vector<std::string_view> fields = SplitFields(first);
  if (fields.empty()) return Invalid(1, "empty: expected \"YYYY M D h m s HHMM HHMM\"");
  if (fields.size() < 6) {
    return Invalid(1, "truncated: expected \"YYYY M D h m s HHMM HHMM\", found " +
                          std::to_string(fields.size()) + " field(s)");
  }
  if (fields.size() > 8) return Invalid(1, "unexpected text " + Quote(fields[8]));

  struct FieldSpec {
    const char* name;
    int lo, hi;
  };
  static constexpr FieldSpec kSpecs[6] = {{"year", 1970, 9999}, {"month", 1, 12},
                                          {"day", 1, 31},       {"hour", 0, 23},
                                          {"minute", 0, 59},    {"second", 0, 60}};
  int v[6] = {};
  for (int i = 0; i < 6; ++i) {
    const auto n = ParseDigits(fields[i]);
    if (!n || *n < kSpecs[i].lo || *n > kSpecs[i].hi) {
      return Invalid(1, std::string("bad ") + kSpecs[i].name + " " + Quote(fields[i]));
    }
    v[i] = *n;
  }
  if (v[2] > DaysInMonth(v[0], v[1])) return Invalid(1, "bad day " + Quote(fields[2]));

  int64_t offsets[2] = {0, 0};
  static constexpr const char* kOffsetNames[2] = {"deny offset", "disconnect offset"};
  for (size_t i = 6; i < fields.size(); ++i) {
    const auto off = ParseOffset(fields[i]);
    if (!off) {
      return Invalid(1, std::string("bad ") + kOffsetNames[i - 6] + " " + Quote(fields[i]) +
                            " (expected HHMM)");
    }
    offsets[i - 6] = *off;
  }

  struct tm tm = {};
  tm.tm_year = v[0] - 1900;
  tm.tm_mon = v[1] - 1;
  tm.tm_mday = v[2];
  tm.tm_hour = v[3];
  tm.tm_min = v[4];
  tm.tm_sec = v[5];
  tm.tm_isdst = -1;  // let the zone rules decide, not the current DST state
  const time_t shut = ::mktime(&tm);
  if (shut == static_cast<time_t>(-1)) return Invalid(1, "the date cannot be represented");

  ShutdownInfo info;
  info.shutdown_time = static_cast<int64_t>(shut);
  info.deny_time = info.shutdown_time - offsets[0];
  info.disconnect_time = info.shutdown_time - offsets[1];
  // SECURITY (S8): what parses is published in the scoreboard header, where
  // readers take only times PlausibleShutdown() accepts (after the epoch,
  // before the year 10000) and call anything else damage: a file that
  // named such a time would be announced by the master and then ignored by
  // every worker. mktime() can carry a valid-looking date past the range (a
  // second 60 on 9999-12-31 23:59, or the zone's offset), and an offset can
  // reach back before 1970: refuse those here, with the reason.
  if (tm.tm_year + 1900 > kSpecs[0].hi || info.shutdown_time >= kShutdownTimeEnd) {
    return Invalid(1, "the shutdown time is after 9999-12-31 23:59:59");
  }
  if (info.shutdown_time <= 0) {
    return Invalid(1, "the shutdown time is not after 1970-01-01 00:00:00 UTC");
  }
  if (info.deny_time <= 0 || info.disconnect_time <= 0) {
    return Invalid(1, std::string("the ") + kOffsetNames[info.deny_time <= 0 ? 0 : 1] +
                          " reaches back before 1970-01-01 00:00:01 UTC");
  }
  const std::string_view message = TakeLine(rest);
  for (const char c : message) {
    const auto uc = static_cast<unsigned char>(c);
    if ((uc < 0x20 && c != '\t') || uc == 0x7f) {
      return Invalid(2, "control character in the message");
    }
  }
  info.message = std::string(message);
  return info;
}

std::string FormatShutdownFile(const ShutdownInfo& info) {
  const time_t tt = static_cast<time_t>(info.shutdown_time);
  struct tm tm = {};
  if (::localtime_r(&tt, &tm) == nullptr) tm = {};
  std::string out = std::to_string(tm.tm_year + 1900) + " " + std::to_string(tm.tm_mon + 1) + " " +
                    std::to_string(tm.tm_mday) + " " + std::to_string(tm.tm_hour) + " " +
                    std::to_string(tm.tm_min) + " " + std::to_string(tm.tm_sec) + " " +
                    OffsetField(OffsetMinutes(info.shutdown_time, info.deny_time)) + " " +
                    OffsetField(OffsetMinutes(info.shutdown_time, info.disconnect_time)) + "\n";
  for (const char c : info.message) {
    const auto uc = static_cast<unsigned char>(c);
    out += ((uc < 0x20 && c != '\t') || uc == 0x7f) ? ' ' : c;
  }
  out += '\n';
  return out;
}

Result<std::optional<ShutdownInfo>> ReadShutdownFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd) {
    const int err = errno;
    if (err == ENOENT) return std::optional<ShutdownInfo>();
    return FileError(err, "cannot read shutdown file " + path);
  }
  struct stat st = {};
  if (::fstat(fd.get(), &st) != 0) {
    return FileError(errno, "cannot read shutdown file " + path);
  }
  // SECURITY (S8): the master reads this path every second; a FIFO, device or
  // directory there must not block it or feed it endless data.
  if (!S_ISREG(st.st_mode)) {
    return Error(ErrorCode::kInvalid, path + ": not a regular file");
  }
  if (st.st_size > static_cast<off_t>(kMaxShutdownFileSize)) {
    return Error(ErrorCode::kLimit,
                 path + ": larger than " + std::to_string(kMaxShutdownFileSize) + " bytes");
  }
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FileError(errno, "cannot read shutdown file " + path);
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxShutdownFileSize) {  // grew while we read it
      return Error(ErrorCode::kLimit,
                   path + ": larger than " + std::to_string(kMaxShutdownFileSize) + " bytes");
    }
  }
  auto info = ParseShutdownFile(text);
  if (!info) return Error(ErrorCode::kInvalid, path + ": " + info.error().context());
  return std::optional<ShutdownInfo>(std::move(*info));
}

Result<void> WriteShutdownFile(const std::string& path, const ShutdownInfo& info) {
  const size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.empty() || base == "." || base == "..") {
    return Error(ErrorCode::kInvalid, path + ": not a file name");
  }
  // SECURITY (S8): ftpshut runs as root and the directory may be writable by
  // others; mkostemp's O_EXCL never follows or reuses a planted name.
  std::string tmp = (dir == "/" ? "" : dir) + "/." + base + ".XXXXXX";
  UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd) return FileError(errno, "cannot create a temporary file in " + dir);
  auto fail = [&tmp](int err, const std::string& what) {
    ::unlink(tmp.c_str());
    return FileError(err, what);
  };
  if (::fchmod(fd.get(), 0644) != 0) return fail(errno, "fchmod(" + tmp + ") failed");
  const std::string text = FormatShutdownFile(info);
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(errno, "cannot write " + tmp);
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail(errno, "fsync(" + tmp + ") failed");
  if (::close(fd.release()) != 0) return fail(errno, "cannot write " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(errno, "cannot rename " + tmp + " to " + path);
  }
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd) (void)::fsync(dfd.get());  // best effort: the rename is already visible
  return Ok();
}

Result<bool> RemoveShutdownFile(const std::string& path) {
  struct stat st = {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return Error(ErrorCode::kInvalid, path + ": is a directory");
  }
  if (::unlink(path.c_str()) == 0) return true;
  const int err = errno;
  if (err == ENOENT) return false;
  return FileError(err, "cannot remove " + path);
}

std::string ExpandShutdownMessage(std::string_view msg, const ShutdownInfo& info,
                                  const CookieContext& ctx) {
  std::string out;
  out.reserve(msg.size() + 64);
  auto or_default = [](const std::string& s, const char* fallback) -> std::string_view {
    return s.empty() ? std::string_view(fallback) : std::string_view(s);
  };
  for (size_t i = 0; i < msg.size() && out.size() <= kMaxExpandedShutdownMessage; ++i) {
    if (msg[i] != '%' || i + 1 == msg.size()) {
      out += msg[i];
      continue;
    }
    const char c = msg[i + 1];
    switch (c) {
      case 's':
        out += FormatShutdownTime(info.shutdown_time);
        break;
      case 'r':
        out += FormatShutdownTime(info.deny_time);
        break;
      case 'd':
        out += FormatShutdownTime(info.disconnect_time);
        break;
      case 'T':
        out += FormatShutdownTime(ctx.now != 0 ? ctx.now : static_cast<int64_t>(::time(nullptr)));
        break;
      case 'L':
        out += ctx.local_host;
        break;
      case 'R':
        out += or_default(ctx.remote_host, "(unknown)");
        break;
      case 'U':
        out += or_default(ctx.user, "NONE");
        break;
      case 'C':
        out += or_default(ctx.cwd, "(none)");
        break;
      case 'V':
        out += ctx.server_name;
        break;
      case '%':
        out += '%';
        break;
      default:
        out += '%';
        continue;  // keep the next character as ordinary text
    }
    ++i;
  }
  for (char& ch : out) {
    const auto uc = static_cast<unsigned char>(ch);
    if (ch == '\t') {
      ch = ' ';
    } else if (uc < 0x20 || uc == 0x7f) {
      ch = '?';
    }
  }
  if (out.size() > kMaxExpandedShutdownMessage) {
    size_t n = kMaxExpandedShutdownMessage;
    while (n > 0 && (static_cast<unsigned char>(out[n]) & 0xC0) == 0x80) --n;
    out.resize(n);
  }
  return out;
}

}  // namespace poolftpd::sb
