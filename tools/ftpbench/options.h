// ftpbench's command line: the options a run takes, their defaults, and the
// parser that checks them (every bad value is a usage error, exit status 2).
// Pure; used by the ftpbench process and its unit test.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "poolftpd/util/result.h"

namespace poolftpd::ftpbench {

enum class Mode : uint8_t { kLogin, kSmall, kBig, kList, kIdle };

std::string_view ModeName(Mode mode);

struct Options {
  Mode mode = Mode::kLogin;
  std::string host = "127.0.0.1";
  uint16_t port = 21;
  int clients = 32;
  double duration_s = 10;
  std::string user = "anonymous";
  std::string password = "ftpbench@example.org";
  std::string file;                 // -f: RETR argument (small, big)
  std::optional<uint64_t> size;     // -s: expected bytes per download
  std::string dir;                  // -D: LIST/MLSD argument; empty = none
  std::optional<uint64_t> entries;  // -e: expected entries (list)
  int sessions = 1000;              // -n (idle)
  double hold_s = 2;                // -t (idle)
  int repeat = 1;                   // -r (list, big)
  std::optional<int> server_pid;    // --server-pid
  // --rcvlowat: SO_RCVLOWAT on every data connection, so the client is
  // woken once per that many bytes instead of once per arriving segment.
  std::optional<int> rcvlowat;
  bool json = false;
  double timeout_s = 10;
  bool help = false;  // -h: print HelpText(), nothing else
};

// Upper bounds of the numeric options: far above any sensible run, low
// enough that the products (fds, buffers, nanoseconds) cannot overflow.
inline constexpr int kMaxClients = 1'000'000;
inline constexpr double kMaxSeconds = 86400 * 7;
inline constexpr int kMaxRcvLowat = 64 << 20;

// Parses the arguments after the program name. Options may come before or
// after MODE; "--opt=value", "--opt value", "-c 8" and "-c8" all work, "--"
// ends the options. Error (ErrorCode::kInvalid) with a one-line message
// for an unknown option, a missing or bad value, a missing or unknown MODE,
// an extra argument, or a mode without what it needs (-f for small/big).
Result<Options> ParseOptions(const std::vector<std::string_view>& args);

std::string HelpText();

}  // namespace poolftpd::ftpbench
