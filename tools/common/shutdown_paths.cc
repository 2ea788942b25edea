// Shutdown file lookup for ftpshut; see shutdown_paths.h.
#include "shutdown_paths.h"

#include "source.h"

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


std::optional<std::string> ParseDirectiveLine(std::string_view line, std::string_view name) {
  return ParseDirective(line, name);
}

Result<std::optional<std::string>> ScanConfigForDirective(const std::string& config_path,
                                                          std::string_view name) {
  auto found = ScanConfigForDirectives(config_path, {name});
  if (!found) return found.error();
  return std::move(found->front());
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
