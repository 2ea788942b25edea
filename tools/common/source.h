// Where a tool finds the scoreboard (and ftpdctl the PidFile, ftpshut the
// ShutdownFile) and how it loads a snapshot of it: -f FILE, else the
// directive of -c FILE or of the installed config (POOLFTPD_CONFIG_FILE),
// read through the server's config library, else the compiled-in default
// (POOLFTPD_SCOREBOARD_FILE). Used by the tools (ftpwho, ftpcount, ftpshut,
// ftpdctl) only; reads files, never writes, never signals anything.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "poolftpd/scoreboard/scoreboard.h"
#include "poolftpd/util/result.h"

namespace poolftpd::tools {

// The file paths the tools take from a config. The config is read through
// the server's config library (src/config), so Include and <IfDefine> (with
// `defines`, the tool's -D NAME, as the server's -D) mean to the tools what
// they mean to the server. nullopt: the config does not set that directive.
struct ConfigPaths {
  std::optional<std::string> pid_file;
  std::optional<std::string> scoreboard_file;
  std::optional<std::string> shutdown_file;
};

// Loads `config_path` with config::Load(). Errors are the library's, kInvalid
// with "file:line: reason" (or "file: reason" when a file cannot be read);
// then `partial` (if given) holds what the directives before the error set.
// A missing or unreadable top file is "cannot read config PATH" (kNotFound,
// kSystem, kInvalid for a directory) and leaves `partial` alone.
Result<ConfigPaths> ReadConfigPaths(const std::string& config_path,
                                    const std::vector<std::string>& defines,
                                    ConfigPaths* partial = nullptr);

// The config the tools consult: `config_opt` (-c) when given; else the
// installed config (POOLFTPD_CONFIG_FILE) when it exists and is readable to
// us (otherwise nothing: an empty ConfigPaths, as before there was a config
// library). A config that is read but does not parse is an error either way.
Result<ConfigPaths> ResolveConfigPaths(const std::optional<std::string>& config_opt,
                                       const std::vector<std::string>& defines,
                                       ConfigPaths* partial = nullptr);

// The scoreboard path from the command line: `file_opt` (-f) wins (no config
// is read), then the ScoreboardFile of ResolveConfigPaths(), then the
// compiled-in default.
Result<std::string> ResolveScoreboardPath(const std::optional<std::string>& file_opt,
                                          const std::optional<std::string>& config_opt,
                                          const std::vector<std::string>& defines);

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
