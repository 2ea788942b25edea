// Shutdown file lookup for ftpshut; see shutdown_paths.h.
#include "shutdown_paths.h"

#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "poolftpd/util/limits.h"
#include "poolftpd/util/unique_fd.h"

#ifndef POOLFTPD_CONFIG_FILE
#define POOLFTPD_CONFIG_FILE "/usr/local/etc/poolftpd.conf"
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

std::optional<std::string> ParseDirectiveLine(std::string_view line, std::string_view name) {
  line = Trim(line);
  if (name.empty() || line.empty() || line.front() == '#') return std::nullopt;
  if (line.size() <= name.size() || !IsSpace(line[name.size()]) ||
      ::strncasecmp(line.data(), name.data(), name.size()) != 0) {
    return std::nullopt;
  }
  const std::string_view rest = Trim(line.substr(name.size()));
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

Result<std::optional<std::string>> ScanConfigForDirective(const std::string& config_path,
                                                          std::string_view name) {
  const std::string what = "cannot read config " + config_path;
  UniqueFd fd(::open(config_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd) {
    const int err = errno;
    return Error(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kSystem, what, err);
  }
  struct stat st = {};
  if (::fstat(fd.get(), &st) != 0) return Error(ErrorCode::kSystem, what, errno);
  if (S_ISDIR(st.st_mode)) return Error(ErrorCode::kInvalid, what, EISDIR);
  if (!S_ISREG(st.st_mode)) return Error(ErrorCode::kInvalid, what + ": not a regular file");
  std::string pending;
  char buf[8192];
  size_t total = 0;
  while (total < limits::kMaxConfigFileSize) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error(ErrorCode::kSystem, what, errno);
    if (n == 0) break;
    total += static_cast<size_t>(n);
    pending.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (auto v = ParseDirectiveLine(std::string_view(pending).substr(start, nl - start), name)) {
        return std::optional<std::string>(std::move(*v));
      }
    }
    pending.erase(0, start);
  }
  if (auto v = ParseDirectiveLine(pending, name)) return std::optional<std::string>(std::move(*v));
  return std::optional<std::string>();
}

Result<std::string> ResolveShutdownFilePath(const std::optional<std::string>& file_opt,
                                            const std::optional<std::string>& config_opt) {
  constexpr std::string_view kDirective = "ShutdownFile";
  if (file_opt) return *file_opt;
  if (config_opt) {
    auto found = ScanConfigForDirective(*config_opt, kDirective);
    if (!found) return found.error();
    return found->value_or(POOLFTPD_SHUTDOWN_FILE);
  }
  auto installed = ScanConfigForDirective(POOLFTPD_CONFIG_FILE, kDirective);
  if (installed && installed->has_value()) return **installed;
  return std::string(POOLFTPD_SHUTDOWN_FILE);
}

}  // namespace poolftpd::tools
