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

bool WriteStdout(std::string_view prog, const std::string& text) {
  const size_t n = std::fwrite(text.data(), 1, text.size(), stdout);
  if (n != text.size() || std::fflush(stdout) != 0) {
    const int err = errno;
    const std::string line =
        std::string(prog) + ": cannot write output: " + std::strerror(err) + "\n";
    std::fputs(line.c_str(), stderr);
    return false;
  }
  return true;
}

}  // namespace poolftpd::tools
