// Where ftpshut finds the shutdown file: -f FILE, else the ShutdownFile
// directive of -c FILE or of the installed config (POOLFTPD_CONFIG_FILE),
// else ProFTPD's place, /etc/shutmsg. The same simple line scan as
// source.h uses for ScoreboardFile, for any directive name. Used by the
// tools only; reads files, never writes.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "poolftpd/util/result.h"

#ifndef POOLFTPD_SHUTDOWN_FILE
#define POOLFTPD_SHUTDOWN_FILE "/etc/shutmsg"
#endif

namespace poolftpd::tools {

// The value of a "`name` VALUE" line (name matched case-insensitively; the
// value may be double-quoted with backslash escapes); nullopt for any other
// line, a comment or an empty value.
std::optional<std::string> ParseDirectiveLine(std::string_view line, std::string_view name);

// The last `name` directive in `config_path` (no Include, no <IfDefine>).
// nullopt when there is none; kNotFound / kSystem / kInvalid when the file
// cannot be read (context names the file).
Result<std::optional<std::string>> ScanConfigForDirective(const std::string& config_path,
                                                          std::string_view name);

// The shutdown file path: `file_opt` (-f) wins, then the ShutdownFile of
// `config_opt` (-c, which must be readable), then that of the installed
// config if it exists, then POOLFTPD_SHUTDOWN_FILE.
Result<std::string> ResolveShutdownFilePath(const std::optional<std::string>& file_opt,
                                            const std::optional<std::string>& config_opt);

}  // namespace poolftpd::tools
