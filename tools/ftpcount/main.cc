// ftpcount: how many sessions poolftpd serves, read from the scoreboard
// (ProFTPD's ftpcount look, plus --json). Read-only; never signals any
// process.
#include <getopt.h>

#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "../common/cli.h"
#include "../common/format.h"
#include "../common/source.h"

#ifndef POOLFTPD_VERSION
#define POOLFTPD_VERSION "unknown"
#endif

namespace {

constexpr char kProg[] = "ftpcount";

void PrintHelp() {
  std::fputs(
      "usage: ftpcount [options]\n"
      "Counts the sessions of a running poolftpd, read from its scoreboard.\n"
      "\n"
      "  -c, --config FILE    read the ScoreboardFile directive from FILE\n"
      "  -D, --define NAME    define NAME for <IfDefine NAME> in the config\n"
      "  -f, --file FILE      the scoreboard file (overrides -c)\n"
      "  -S, --server NAME    count only sessions of this ServerName\n"
      "      --json           print one JSON object\n"
      "  -h, --help           show this help\n"
      "  -V, --version        show the version\n"
      "\n"
      "Default scoreboard: the ScoreboardFile of " POOLFTPD_CONFIG_FILE
      ",\n"
      "else " POOLFTPD_SCOREBOARD_FILE
      ".\n"
      "Exit status: 0 ok, 1 no/stale/unreadable scoreboard, 2 bad usage.\n",
      stdout);
}

int Run(int argc, char** argv) {
  using namespace poolftpd::tools;
  enum { kOptJson = 1000 };
  static const option kLongOpts[] = {
      {"config", required_argument, nullptr, 'c'}, {"define", required_argument, nullptr, 'D'},
      {"file", required_argument, nullptr, 'f'},   {"server", required_argument, nullptr, 'S'},
      {"json", no_argument, nullptr, kOptJson},    {"help", no_argument, nullptr, 'h'},
      {"version", no_argument, nullptr, 'V'},      {nullptr, 0, nullptr, 0}};

  std::optional<std::string> file, config;
  std::vector<std::string> defines;  // -D, for <IfDefine> as in poolftpd
  CountOptions options;
  bool json = false;
  opterr = 0;
  for (;;) {
    const int c = getopt_long(argc, argv, ":c:f:S:D:hV", kLongOpts, nullptr);
    if (c == -1) break;
    switch (c) {
      case 'c':
        config = optarg;
        break;
      case 'f':
        file = optarg;
        break;
      case 'D':
        defines.emplace_back(optarg);
        break;
      case 'S':
        options.server = optarg;
        break;
      case kOptJson:
        json = true;
        break;
      case 'h':
        PrintHelp();
        return kExitOk;
      case 'V':
        std::printf("ftpcount (poolftpd) %s\n", POOLFTPD_VERSION);
        return kExitOk;
      case ':':
        return ReportUsage(
            kProg, std::string("option '") + EscapeText(argv[optind - 1]) + "' needs an argument");
      default:
        return ReportUsage(
            kProg, "unknown option '" +
                       (optopt > 0 && optopt < 128 ? std::string("-") + static_cast<char>(optopt)
                                                   : EscapeText(argv[optind - 1])) +
                       "'");
    }
  }
  if (optind < argc) {
    return ReportUsage(kProg,
                       std::string("unexpected argument '") + EscapeText(argv[optind]) + "'");
  }

  auto path = ResolveScoreboardPath(file, config, defines);
  if (!path) return ReportError(kProg, path.error());
  auto live = OpenLive(*path);
  if (!live) return ReportError(kProg, live.error());
  // Only the user names are needed (distinct logged-in users).
  CountFormatter f(live->header, options);
  live->board.ForEachSlot(poolftpd::sb::kReadUser,
                          [&](const poolftpd::sb::SlotView& v) { f.Add(v); });
  return WriteStdout(kProg, json ? f.Json() : f.Text()) ? kExitOk : kExitFailure;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ftpcount: internal error: %s\n", e.what());
    return 1;
  }
}
