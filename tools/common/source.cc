// Scoreboard lookup and loading for the tools; see source.h.
#include "source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "poolftpd/config/config.h"
#include "poolftpd/util/unique_fd.h"

#ifndef POOLFTPD_CONFIG_FILE
#define POOLFTPD_CONFIG_FILE "/usr/local/etc/poolftpd.conf"
#endif
#ifndef POOLFTPD_SCOREBOARD_FILE
#define POOLFTPD_SCOREBOARD_FILE "/run/poolftpd/poolftpd.scoreboard"
#endif

namespace poolftpd::tools {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

ConfigPaths PathsOf(const config::Config& c) {
  ConfigPaths paths;
  if (!c.pid_file_at.empty()) paths.pid_file = c.pid_file;
  if (!c.scoreboard_file_at.empty()) paths.scoreboard_file = c.scoreboard_file;
  if (!c.shutdown_file_at.empty()) paths.shutdown_file = c.shutdown_file;
  return paths;
}

}  // namespace

Result<ConfigPaths> ReadConfigPaths(const std::string& config_path,
                                    const std::vector<std::string>& defines, ConfigPaths* partial) {
  // The top file first, for the tools' own message on a missing or
  // unreadable -c ("cannot read config PATH"); the parser names its errors.
  {
    UniqueFd fd(::open(config_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd) {
      const int err = errno;
      return Error(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kSystem,
                   "cannot read config " + config_path, err);
    }
    struct stat st = {};
    if (::fstat(fd.get(), &st) == 0 && S_ISDIR(st.st_mode)) {
      return Error(ErrorCode::kInvalid, "cannot read config " + config_path, EISDIR);
    }
  }
  config::Config before_error;
  auto config = config::Load(config_path, defines, partial ? &before_error : nullptr);
  if (!config) {
    if (partial != nullptr) *partial = PathsOf(before_error);
    return config.error();
  }
  return PathsOf(**config);
}

Result<ConfigPaths> ResolveConfigPaths(const std::optional<std::string>& config_opt,
                                       const std::vector<std::string>& defines,
                                       ConfigPaths* partial) {
  if (config_opt) return ReadConfigPaths(*config_opt, defines, partial);
  // SECURITY (S9): the installed config is often root-only (mode 0600); a user
  // who may not read it gets the compiled-in defaults, as before, instead
  // of an error, and learns nothing from it.
  if (::access(POOLFTPD_CONFIG_FILE, R_OK) != 0) return ConfigPaths{};
  return ReadConfigPaths(POOLFTPD_CONFIG_FILE, defines, partial);
}

Result<std::string> ResolveScoreboardPath(const std::optional<std::string>& file_opt,
                                          const std::optional<std::string>& config_opt,
                                          const std::vector<std::string>& defines) {
  if (file_opt) return *file_opt;
  auto paths = ResolveConfigPaths(config_opt, defines);
  if (!paths) return paths.error();
  return paths->scoreboard_file.value_or(POOLFTPD_SCOREBOARD_FILE);
}

Result<LiveBoard> OpenLive(const std::string& path) {
  auto board = sb::Scoreboard::Open(path);
  if (!board) {
    if (board.error().code() == ErrorCode::kNotFound) {
      return Error(ErrorCode::kNotFound,
                   "no scoreboard at " + path + ": is poolftpd running? (use -f FILE)");
    }
    return board.error();
  }
  board->GuardTruncation(sb::TruncationPolicy::kExit);  // a shrunk file: an error, not SIGBUS
  const sb::HeaderView header = board->ReadHeader();
  if (!board->MasterAlive() && !sb::IsInetd(header)) {
    if (header.master_pid == 0) {
      return Error(ErrorCode::kStale,
                   path + ": poolftpd is not running (its master exited and left the scoreboard)");
    }
    return Error(ErrorCode::kStale, path + ": master process " + std::to_string(header.master_pid) +
                                        " is not running (stale scoreboard)");
  }
  return LiveBoard{std::move(*board), header, NowNs()};
}

Result<Snapshot> LoadSnapshot(const std::string& path) {
  auto live = OpenLive(path);
  if (!live) return live.error();
  Snapshot snap;
  snap.path = path;
  snap.header = live->header;
  snap.slots = live->board.ReadAll();
  snap.now_ns = NowNs();
  return snap;
}

}  // namespace poolftpd::tools
