// Where a tool finds the scoreboard (and ftpdctl the PidFile) and how it
// loads a snapshot of it: -f FILE, else the ScoreboardFile directive of -c
// FILE or of the installed config (POOLFTPD_CONFIG_FILE), else the
// compiled-in default (POOLFTPD_SCOREBOARD_FILE). Used by the tools (ftpwho,
// ftpcount, ftpdctl) only; reads files, never writes, never signals anything.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "poolftpd/scoreboard/scoreboard.h"
#include "poolftpd/util/result.h"

namespace poolftpd::tools {

// The value of a "NAME VALUE" line for directive `name` (matched
// case-insensitively; the value may be double-quoted with backslash
// escapes); nullopt for any other line, a comment or an empty value.
std::optional<std::string> ParseDirective(std::string_view line, std::string_view name);
// ParseDirective(line, "ScoreboardFile").
std::optional<std::string> ParseScoreboardDirective(std::string_view line);

// The last directive of each of `names` in `config_path` (a simple line
// scan: no Include, no <IfDefine>), in the order of `names`; nullopt for a
// name the file lacks. kNotFound / kSystem / kInvalid when it cannot be read
// (context names the file).
Result<std::vector<std::optional<std::string>>> ScanConfigForDirectives(
    const std::string& config_path, const std::vector<std::string_view>& names);
// The last ScoreboardFile directive in `config_path` (a later one wins).
Result<std::optional<std::string>> ScanConfigForScoreboard(const std::string& config_path);

// The scoreboard path from the command line: `file_opt` (-f) wins, then
// `config_opt` (-c, which must be readable), then the installed config if
// it exists and names one, then the compiled-in default.
Result<std::string> ResolveScoreboardPath(const std::optional<std::string>& file_opt,
                                          const std::optional<std::string>& config_opt);

// A live scoreboard opened for one report: its header and the time.
struct LiveBoard {
  sb::Scoreboard board;
  sb::HeaderView header;
  int64_t now_ns = 0;  // CLOCK_REALTIME, read after the header
};

// Opens `path` read-only, reads the header and checks that a master (or
// inetd mode) is behind it; the caller then streams the slots with
// board.ForEachSlot(). Errors as LoadSnapshot().
Result<LiveBoard> OpenLive(const std::string& path);

// A consistent-enough picture of the server for one report.
struct Snapshot {
  std::string path;
  sb::HeaderView header;
  std::vector<sb::SlotView> slots;  // ReadAll()
  int64_t now_ns = 0;               // CLOCK_REALTIME when read
};

// Opens `path` read-only and reads it. An inetd-mode scoreboard (no master,
// sb::IsInetd) is live. Errors carry a complete message for the operator
// (the caller prefixes "ftpwho: "):
//   kNotFound  "no scoreboard at PATH: is poolftpd running? (use -f FILE)"
//   kStale     "PATH: master process N is not running (stale scoreboard)"
//              or "PATH: poolftpd is not running (its master exited ...)"
//   kVersion / kInvalid / kPermission / kSystem: the library's message,
//              which names the path.
Result<Snapshot> LoadSnapshot(const std::string& path);

// Current CLOCK_REALTIME in nanoseconds.
int64_t NowNs();

}  // namespace poolftpd::tools
