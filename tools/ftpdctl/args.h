// ftpdctl's command line: the options, the command and its arguments, as
// a value; parsing only (no files, no processes). Used by ftpdctl's main()
// and by tests/unit/ftpdctl_test.cc.
//
//   ftpdctl [-c CONFIG] [-p PIDFILE] [-f SCOREBOARD] [--json] [--timeout S]
//           COMMAND [ARGS]
//   COMMAND: status | reload | stop | graceful-stop | reopen-logs
//          | kick (--pid N | --user NAME | --host ADDR | PID | user NAME | host ADDR)...
//          | kill [--signal SIG] [--who main|workers|all]
//          | debug N                 (N: debug level 0-9)
// Global options may come before or after the command; "--" ends options.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "poolftpd/util/result.h"

namespace poolftpd::ftpdctl {

enum class Command { kStatus, kReload, kStop, kGracefulStop, kReopenLogs, kKick, kKill, kDebug };

// kill --who: like systemctl kill --kill-who.
enum class Who { kMain, kWorkers, kAll };

// kick: a session matches when it matches every criterion given.
struct KickFilter {
  std::optional<int32_t> pid;       // the worker serving it
  std::optional<std::string> user;  // login name, exact
  std::optional<std::string> host;  // client IP or resolved name (name case-insensitive)
  bool empty() const { return !pid && !user && !host; }
};

struct Options {
  std::optional<std::string> config;      // -c
  std::vector<std::string> defines;       // -D NAME, for <IfDefine> in the config
  std::optional<std::string> pidfile;     // -p
  std::optional<std::string> scoreboard;  // -f
  bool json = false;
  bool help = false;
  bool version = false;
  // --timeout: seconds reload/stop/graceful-stop wait for the effect; 0 =
  // do not wait. nullopt = the command's default (DefaultTimeout()).
  std::optional<int> timeout_s;
  Command command = Command::kStatus;
  KickFilter kick;
  int signal = 15;  // kill --signal (SIGTERM)
  Who who = Who::kMain;
  int debug_level = 0;  // debug N
};

// Parses argv[1..]. Errors are kInvalid with a message for the operator
// ("unknown command 'x'", "kick needs --pid, --user or --host", ...); the
// caller prints it with the usage hint and exits 2. -h/-V set help/version
// and need no command.
Result<Options> ParseArgs(const std::vector<std::string>& args);

// "TERM", "SIGTERM", "term" or a number 1..64 -> the signal number.
std::optional<int> ParseSignal(std::string_view text);
// "TERM" for 15, "RTMIN+2", or the number as text.
std::string SignalName(int signo);

// The command's name as typed ("graceful-stop").
const char* CommandName(Command command);

// Seconds `command` waits by default: reload 5 (for the new generation),
// stop 10 (for the master to exit), others 0 (no waiting).
int DefaultTimeout(Command command);

// Upper bound for --timeout (one day).
inline constexpr int kMaxTimeoutSeconds = 86400;

}  // namespace poolftpd::ftpdctl
