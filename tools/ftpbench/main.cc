// ftpbench: an FTP load generator (login, small, big, list and idle modes)
// that speaks FTP itself from one epoll loop, like redis-benchmark does for
// Redis. Prints a few lines or one JSON object (--json). Exit status: 0 no
// failures, 1 any failure (or the run could not start), 2 usage error.
#include <signal.h>

#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "../common/cli.h"
#include "bench.h"
#include "options.h"
#include "report.h"

namespace {

constexpr char kProg[] = "ftpbench";

int Run(int argc, char** argv) {
  using namespace poolftpd::ftpbench;
  using poolftpd::tools::kExitFailure;
  using poolftpd::tools::kExitOk;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  auto options = ParseOptions(args);
  if (!options) return poolftpd::tools::ReportUsage(kProg, options.error().message());
  if (options->help) {
    return poolftpd::tools::WriteStdout(kProg, HelpText()) ? kExitOk : kExitFailure;
  }
  ::signal(SIGPIPE, SIG_IGN);
  auto report = RunBenchmark(*options);
  if (!report) return poolftpd::tools::ReportError(kProg, report.error());
  const std::string out = options->json ? FormatJson(*report) : FormatText(*report);
  if (!poolftpd::tools::WriteStdout(kProg, out)) return kExitFailure;
  return report->failures == 0 ? kExitOk : kExitFailure;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kProg, e.what());
    return poolftpd::tools::kExitFailure;
  }
}
