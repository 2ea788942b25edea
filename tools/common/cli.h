// Small command-line helpers shared by the tools' main() functions: error
// and usage printing with the program's name, and writing a report to
// stdout with error checking. Used by the tools only.
#pragma once

#include <string>
#include <string_view>

#include "poolftpd/util/result.h"

namespace poolftpd::tools {

// Exit codes of every tool.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // scoreboard missing, stale, corrupt, I/O error
inline constexpr int kExitUsage = 2;    // bad command line

// Prints "prog: message" to stderr and returns kExitFailure.
int ReportError(std::string_view prog, const Error& error);
// Prints "prog: message" and "Try 'prog --help'." to stderr, returns kExitUsage.
int ReportUsage(std::string_view prog, std::string_view message);

// Writes `text` to stdout and flushes; false (after printing an error for
// `prog`) if that failed, e.g. a full disk or a closed pipe.
bool WriteStdout(std::string_view prog, const std::string& text);

// Writes `text` to stdout without flushing (a report written in pieces);
// after a failure it writes nothing more. FlushStdout() reports the error.
void PutStdout(std::string_view text);
// Flushes stdout; false (after printing an error for `prog`) if that or an
// earlier PutStdout() failed.
bool FlushStdout(std::string_view prog);

}  // namespace poolftpd::tools
