// Shutdown file lookup for ftpshut; see shutdown_paths.h.
#include "shutdown_paths.h"

#include "source.h"

namespace poolftpd::tools {

Result<std::string> ResolveShutdownFilePath(const std::optional<std::string>& file_opt,
                                            const std::optional<std::string>& config_opt,
                                            const std::vector<std::string>& defines) {
  if (file_opt) return *file_opt;
  auto paths = ResolveConfigPaths(config_opt, defines);
  if (!paths) return paths.error();
  return paths->shutdown_file.value_or(POOLFTPD_SHUTDOWN_FILE);
}

}  // namespace poolftpd::tools
