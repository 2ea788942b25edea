// Where ftpshut finds the shutdown file: -f FILE, else the ShutdownFile
// directive of -c FILE or of the installed config (POOLFTPD_CONFIG_FILE),
// read through the server's config library as source.h reads the
// ScoreboardFile, else ProFTPD's place, /etc/shutmsg. Used by the tools
// only; reads files, never writes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "poolftpd/util/result.h"

#ifndef POOLFTPD_SHUTDOWN_FILE
#define POOLFTPD_SHUTDOWN_FILE "/etc/shutmsg"
#endif

namespace poolftpd::tools {

// The shutdown file path: `file_opt` (-f) wins (no config is read), then the
// ShutdownFile of ResolveConfigPaths(config_opt, defines), then
// POOLFTPD_SHUTDOWN_FILE. Config errors come back as "file:line: reason".
Result<std::string> ResolveShutdownFilePath(const std::optional<std::string>& file_opt,
                                            const std::optional<std::string>& config_opt,
                                            const std::vector<std::string>& defines);

}  // namespace poolftpd::tools
