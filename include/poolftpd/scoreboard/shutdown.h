// The shutdown file (ProFTPD's /etc/shutmsg format): parsing, formatting,
// atomic writing, and the expansion of its message cookies. Part of
// libscoreboard.a, used by the master (reads the file, publishes it into the
// scoreboard header), the workers (expand the message for 220/421 replies)
// and ftpshut (writes the file). Depends on nothing in src/; holds no global
// state. Times are seconds since the epoch; the file holds local time, so
// the master and ftpshut must agree on the time zone (TZ).
//
// File format, two lines (ProFTPD utils/ftpshut.c writes it this way):
//   "YYYY M D h m s DDDD TTTT\n"   shutdown time as local date and time,
//                                  then the deny and disconnect offsets,
//                                  each "HHMM" hours and minutes before the
//                                  shutdown (e.g. "0010" = 10 minutes)
//   "message\n"                    one line, cookies unexpanded
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "poolftpd/util/result.h"

namespace poolftpd::sb {

// Largest shutdown file read: ProFTPD reads one 1 KiB line each; 64 KiB
// leaves room for hand-written files and still bounds what the master reads
// every second.
inline constexpr size_t kMaxShutdownFileSize = 64 * 1024;
// Largest offset a "HHMM" field can hold: 99 hours 59 minutes.
inline constexpr int kMaxShutdownOffsetMinutes = 99 * 60 + 59;
// Longest expanded message: fits one reply line any client reads whole;
// longer output is cut at a UTF-8 boundary.
inline constexpr size_t kMaxExpandedShutdownMessage = 1024;

struct ShutdownInfo {
  int64_t shutdown_time = 0;    // when the server goes down
  int64_t deny_time = 0;        // from then on new connections are refused
  int64_t disconnect_time = 0;  // from then on sessions are closed
  std::string message;          // unexpanded, one line (may be empty)
};

// Parses the file's text. kInvalid (context "line N: reason") for an empty
// file, fewer than 6 date fields, non-numeric or out-of-range fields (month
// 1-12, day within the month, hour 0-23, minute 0-59, second 0-60, year
// 1970-9999), an offset that is not four digits "HHMM" with MM <= 59, extra
// fields on line 1, a control character (other than a tab) in the
// message, or times the scoreboard would not take for a shutdown
// (PlausibleShutdown): a shutdown time, or a deny or disconnect time,
// not after 1970-01-01 00:00:00 UTC, or one in the year 10000 or later
// (UTC or local: mktime can carry 9999-12-31 23:59:60 there). A local
// time in a DST gap is normalised as mktime(3) does. Missing offsets (6 or
// 7 fields) mean 0 minutes, as in ProFTPD. A missing message line gives an
// empty message; lines after the second are ignored; CRLF is accepted. Pure apart from the local
// time zone.
Result<ShutdownInfo> ParseShutdownFile(std::string_view text);

// The file's text for `info`: the local date and time of shutdown_time and
// the offsets in whole minutes, rounded up (so deny/disconnect never move
// later) and clamped to 0..kMaxShutdownOffsetMinutes; a deny or disconnect
// time of 0 counts as the shutdown time. Control characters in the message
// (other than a tab) become spaces, so the result always parses.
// ParseShutdownFile(FormatShutdownFile(x)) gives x back whenever both
// offsets are whole minutes within that range and the message is clean.
std::string FormatShutdownFile(const ShutdownInfo& info);

// Reads and parses the file at `path`. nullopt when it does not exist
// (ENOENT). Errors name the path: kInvalid (not a regular file, bad
// contents), kLimit (larger than kMaxShutdownFileSize), kPermission
// (EACCES), kSystem (other errno). Opens with O_NONBLOCK so a FIFO never
// blocks the caller. Blocking only on a slow file system.
Result<std::optional<ShutdownInfo>> ReadShutdownFile(const std::string& path);

// Writes FormatShutdownFile(info) atomically: a temp file (O_EXCL) in the
// same directory, mode 0644, fsync, rename over `path`, fsync of the
// directory. On error the temp file is removed and `path` is unchanged.
// kNotFound when the directory does not exist; kPermission / kSystem.
Result<void> WriteShutdownFile(const std::string& path, const ShutdownInfo& info);

// Removes the file. true if it was removed, false if it did not exist.
// kPermission / kSystem (context names the path) otherwise.
Result<bool> RemoveShutdownFile(const std::string& path);

struct CookieContext {
  std::string local_host;   // %L: the server address the client reached
  std::string remote_host;  // %R: client name or address, "(unknown)" if empty
  std::string user;         // %U: the logged-in user, "NONE" if empty
  std::string cwd;          // %C: the session's cwd, "(none)" if empty
  int64_t now = 0;          // %T: seconds since the epoch, 0 = the clock now
  std::string server_name;  // %V: ServerName
};

// Expands ProFTPD's cookies in `msg` in one pass (substituted text is not
// rescanned): %s shutdown, %r deny ("refuse"), %d disconnect and %T current
// time, each as ProFTPD prints them ("Sat Nov 21 14:00:00 2026", local
// time, day zero-padded); %L %R %U %C %V from `ctx`; %% is one '%'. Any
// other '%' sequence is kept as it is.
// SECURITY (S2): the client controls %U, %C and (via DNS) %R; every control
// character in the result (CR, LF, NUL, ...) becomes '?', so the text is
// always a single safe reply line; it is at most kMaxExpandedShutdownMessage
// bytes.
std::string ExpandShutdownMessage(std::string_view msg, const ShutdownInfo& info,
                                  const CookieContext& ctx);

// ProFTPD's time format for one time: "Www Mmm DD HH:MM:SS YYYY", local
// time; "" if the time cannot be converted.
std::string FormatShutdownTime(int64_t t);

}  // namespace poolftpd::sb
