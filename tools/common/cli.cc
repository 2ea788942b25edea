// Command-line helpers for the tools; see cli.h.
#include "cli.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace poolftpd::tools {

int ReportError(std::string_view prog, const Error& error) {
  const std::string line = std::string(prog) + ": " + error.message() + "\n";
  std::fputs(line.c_str(), stderr);
  return kExitFailure;
}

int ReportUsage(std::string_view prog, std::string_view message) {
  const std::string p(prog);
  const std::string line =
      p + ": " + std::string(message) + "\nTry '" + p + " --help' for more information.\n";
  std::fputs(line.c_str(), stderr);
  return kExitUsage;
}

namespace {
int g_stdout_errno = 0;  // the first failed write's errno, 0 = none
}  // namespace

void PutStdout(std::string_view text) {
  if (g_stdout_errno != 0 || text.empty()) return;
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size()) {
    g_stdout_errno = errno != 0 ? errno : EIO;
  }
}

bool FlushStdout(std::string_view prog) {
  if (g_stdout_errno == 0 && std::fflush(stdout) != 0) g_stdout_errno = errno != 0 ? errno : EIO;
  if (g_stdout_errno == 0) return true;
  const std::string line =
      std::string(prog) + ": cannot write output: " + std::strerror(g_stdout_errno) + "\n";
  std::fputs(line.c_str(), stderr);
  return false;
}

bool WriteStdout(std::string_view prog, const std::string& text) {
  PutStdout(text);
  return FlushStdout(prog);
}

}  // namespace poolftpd::tools
