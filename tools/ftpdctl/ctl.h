// ftpdctl's commands: where the PidFile and scoreboard are, what `status`
// reports (and its text and JSON forms), which sessions `kick` matches, and
// Run(), which executes a parsed command line. Used by ftpdctl only (and its
// unit test). Every signal goes through a verified ProcessHandle (proc.h);
// nothing here signals a PID read from a file without those checks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "args.h"
#include "poolftpd/scoreboard/scoreboard.h"
#include "poolftpd/util/result.h"

namespace poolftpd::ftpdctl {

// Exit codes. `status` uses the LSB init-script codes; every other command
// 0 (done), 1 (failed) or 2 (bad usage).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kStatusRunning = 0;
inline constexpr int kStatusDead = 1;  // not running, PidFile left behind
inline constexpr int kStatusNotRunning = 3;
inline constexpr int kStatusUnknown = 4;

struct Paths {
  std::string pidfile;
  std::string scoreboard;
};

// -p / -f win; else the PidFile / ScoreboardFile of -c FILE (which must
// parse) or of the installed config POOLFTPD_CONFIG_FILE (when readable),
// read through the config library with the -D names (tools::
// ResolveConfigPaths); else POOLFTPD_PID_FILE / POOLFTPD_SCOREBOARD_FILE.
// With `config_error`: a config that is read but refused by the parser is
// no error; its "file:line: reason" goes to *config_error and the paths come
// from the directives before the error (ftpdctl reports it and goes on: the
// running server keeps its old config).
Result<Paths> ResolvePaths(const Options& options, std::string* config_error = nullptr);

// Workers of one configuration generation, from the scoreboard.
struct WorkerCount {
  uint32_t generation = 0;
  uint32_t idle = 0;      // ready in the pool (ftpwho's idle workers)
  uint32_t busy = 0;      // serving a session
  uint32_t starting = 0;  // forked, not ready yet
};

struct Status {
  int code = kStatusUnknown;  // kStatusRunning, kStatusDead, ...
  std::string message;        // one line for the operator
  std::string pidfile, scoreboard;
  // Known when running:
  int32_t master_pid = 0;
  int64_t uptime_s = 0;
  uint32_t generation = 0;
  std::string config_file;
  std::vector<WorkerCount> workers;  // by generation, ascending
  uint32_t sessions = 0;             // as ftpwho counts them
  bool shutdown = false;             // a shutdown is published (ftpshut)
  int64_t shutdown_time = 0, deny_time = 0, disconnect_time = 0;
  std::string shutdown_message;
};

// Fills the running server's numbers from a scoreboard snapshot.
void FillFromScoreboard(const sb::HeaderView& header, const std::vector<sb::SlotView>& slots,
                        int64_t now_ns, Status* status);

// `status` text (several lines, or one when not running) and JSON (one line):
//   {"running":bool,"state":"running"|"dead"|"stopped"|"unknown",
//    "message":str,"master_pid":int|null,"uptime_s":int|null,
//    "generation":int|null,"config_file":str|null,
//    "workers":[{"generation":int,"idle":int,"busy":int,"starting":int}],
//    "sessions":int,"pidfile":str,"scoreboard":str,
//    "shutdown":null|{"shutdown_time":int,"deny_time":int,
//                     "disconnect_time":int,"message":str}}
//   (the shutdown object is tools::ShutdownJson, as in ftpwho --json)
// Times are seconds since the epoch. `now` formats relative times (text).
std::string FormatStatusText(const Status& status);
std::string FormatStatusJson(const Status& status);

// Determines the status from the files and /proc (never signals).
Status GetStatus(const Paths& paths);

// Whether `slot` is a live session that `filter` selects (every given
// criterion must match; --host matches the client IP exactly or its
// resolved name case-insensitively).
bool KickMatches(const sb::SlotView& slot, const KickFilter& filter);

// Runs a parsed command: prints results on stdout, errors on stderr
// ("ftpdctl: ..."), returns the exit code.
int Run(const Options& options);

}  // namespace poolftpd::ftpdctl
