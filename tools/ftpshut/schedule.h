// ftpshut's pure logic: the command line, the time argument (now, +MINUTES,
// HHMM), the -l/-d offsets and the message, and the shutdown they describe.
// No I/O and no clock here (the caller passes `now`), so
// tests/unit/shutdown_test.cc drives them directly. Used by ftpshut only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "poolftpd/scoreboard/shutdown.h"
#include "poolftpd/util/result.h"

namespace poolftpd::tools::ftpshut {

// ProFTPD's defaults: refuse new connections 10 minutes before the
// shutdown, disconnect sessions 5 minutes before it.
inline constexpr int kDefaultDenyMinutes = 10;
inline constexpr int kDefaultDisconnectMinutes = 5;
// "+MINUTES" up to one year ahead (keeps every sum far from overflow).
inline constexpr int64_t kMaxLeadMinutes = 366 * 24 * 60;
// ProFTPD's default message.
inline constexpr std::string_view kDefaultMessage = "going down at %s";

struct Options {
  bool help = false;
  bool version = false;
  bool remove = false;                                 // -R
  int deny_minutes = kDefaultDenyMinutes;              // -l
  int disconnect_minutes = kDefaultDisconnectMinutes;  // -d
  std::optional<std::string> shutdown_file;            // -f
  std::optional<std::string> config;                   // -c
  std::vector<std::string> defines;                    // -D NAME, for <IfDefine>
  std::optional<std::string> scoreboard;               // -s
  std::string time;                                    // "now", "+N", "HHMM"
  std::string message;  // the words joined with spaces, or kDefaultMessage
};

// Parses the arguments after the program name. Options may come before or
// after the time argument; everything from the first word after the time is
// the message ("--" ends the options, so a message may start with '-').
// Short options may be clustered (-Rf FILE) and take their value attached
// (-l5) or as the next argument; --help and --version are the long forms.
// Errors (kInvalid) carry the usage message without the program name.
// -h/--help and -V/--version return at once with the flag set.
Result<Options> ParseCommandLine(const std::vector<std::string_view>& args);

// The value of -l or -d: whole minutes 0..sb::kMaxShutdownOffsetMinutes.
Result<int> ParseMinutes(std::string_view value, char option);

// The shutdown time for the time argument, in seconds since the epoch:
// "now" (any case) is `now`; "+N" is N minutes from `now` (blanks after the
// '+' allowed, N <= kMaxLeadMinutes); "HHMM" or "HH" is that local time
// (seconds 0) today, or tomorrow when it is not later than the current
// minute (ProFTPD's rule). kInvalid otherwise.
Result<int64_t> ParseShutdownTime(std::string_view arg, int64_t now);

// The message from the words after the time: joined with single spaces;
// kDefaultMessage when there are none. kInvalid for a control character
// (newline, CR, ...; a tab is allowed), an empty message, or more than
// kShutdownMsgLen-1 bytes (what the scoreboard header holds).
Result<std::string> JoinMessage(const std::vector<std::string_view>& words);

// The shutdown as the file will hold it: deny and disconnect times
// `deny_minutes` / `disconnect_minutes` before `shutdown_time`, never
// earlier than `now` (to the minute the file can express) and the deny
// time never after the disconnect time; then passed through the file
// format, so it equals what the master reads back. kInvalid if the time
// cannot be written (before 1970 in local time).
Result<sb::ShutdownInfo> ComputeShutdown(int64_t shutdown_time, int deny_minutes,
                                         int disconnect_minutes, int64_t now, std::string message);

}  // namespace poolftpd::tools::ftpshut
