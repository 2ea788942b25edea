// Scoreboard lookup and loading for the tools; see source.h.
#include "source.h"

#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "poolftpd/util/limits.h"
#include "poolftpd/util/unique_fd.h"

#ifndef POOLFTPD_CONFIG_FILE
#define POOLFTPD_CONFIG_FILE "/usr/local/etc/poolftpd.conf"
#endif
#ifndef POOLFTPD_SCOREBOARD_FILE
#define POOLFTPD_SCOREBOARD_FILE "/run/poolftpd/poolftpd.scoreboard"
#endif

namespace poolftpd::tools {

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<std::string> ParseDirective(std::string_view line, std::string_view name) {
  line = Trim(line);
  if (line.empty() || line.front() == '#') return std::nullopt;
  if (line.size() <= name.size() || !IsSpace(line[name.size()]) ||
      ::strncasecmp(line.data(), name.data(), name.size()) != 0) {
    return std::nullopt;
  }
  std::string_view rest = Trim(line.substr(name.size()));
  std::string value;
  if (!rest.empty() && rest.front() == '"') {
    for (size_t i = 1; i < rest.size(); ++i) {
      if (rest[i] == '"') break;
      if (rest[i] == '\\' && i + 1 < rest.size()) ++i;
      value += rest[i];
    }
  } else {
    size_t end = 0;
    while (end < rest.size() && !IsSpace(rest[end])) ++end;
    value = std::string(rest.substr(0, end));
  }
  if (value.empty()) return std::nullopt;
  return value;
}

std::optional<std::string> ParseScoreboardDirective(std::string_view line) {
  return ParseDirective(line, "ScoreboardFile");
}

Result<std::vector<std::optional<std::string>>> ScanConfigForDirectives(
    const std::string& config_path, const std::vector<std::string_view>& names) {
  UniqueFd fd(::open(config_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) {
    const int err = errno;
    if (err == ENOENT) {
      return Error(ErrorCode::kNotFound, "cannot read config " + config_path, err);
    }
    return Error(ErrorCode::kSystem, "cannot read config " + config_path, err);
  }
  struct stat st = {};
  if (::fstat(fd.get(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return Error(ErrorCode::kInvalid, "cannot read config " + config_path, EISDIR);
  }
  // A later directive overrides an earlier one, as in the server's parser.
  std::vector<std::optional<std::string>> found(names.size());
  auto scan = [&](std::string_view line) {
    for (size_t k = 0; k < names.size(); ++k) {
      if (auto v = ParseDirective(line, names[k])) found[k] = std::move(*v);
    }
  };
  // Read at most the config size limit, scanning line by line.
  std::string pending;
  char buf[8192];
  size_t total = 0;
  while (total < limits::kMaxConfigFileSize) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error(ErrorCode::kSystem, "cannot read config " + config_path, errno);
    if (n == 0) break;
    total += static_cast<size_t>(n);
    pending.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      scan(std::string_view(pending).substr(start, nl - start));
    }
    pending.erase(0, start);
  }
  scan(pending);  // a last line without a newline
  return found;
}

Result<std::optional<std::string>> ScanConfigForScoreboard(const std::string& config_path) {
  auto found = ScanConfigForDirectives(config_path, {"ScoreboardFile"});
  if (!found) return found.error();
  return std::move(found->front());
}

Result<std::string> ResolveScoreboardPath(const std::optional<std::string>& file_opt,
                                          const std::optional<std::string>& config_opt) {
  if (file_opt) return *file_opt;
  if (config_opt) {
    auto found = ScanConfigForScoreboard(*config_opt);
    if (!found) return found.error();
    return found->value_or(POOLFTPD_SCOREBOARD_FILE);
  }
  auto installed = ScanConfigForScoreboard(POOLFTPD_CONFIG_FILE);
  if (installed && installed->has_value()) return **installed;
  return std::string(POOLFTPD_SCOREBOARD_FILE);
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
    return Error(ErrorCode::kStale, path + ": master process " +
                                        std::to_string(header.master_pid) +
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
