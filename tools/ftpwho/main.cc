// ftpwho: who is connected to poolftpd, read from the scoreboard (ProFTPD's
// ftpwho look, plus --json). Read-only; never signals any process.
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

constexpr char kProg[] = "ftpwho";

void PrintHelp() {
  std::fputs(
      "usage: ftpwho [options]\n"
      "Shows the sessions of a running poolftpd, read from its scoreboard.\n"
      "\n"
      "  -c, --config FILE    read the ScoreboardFile directive from FILE\n"
      "  -D, --define NAME    define NAME for <IfDefine NAME> in the config\n"
      "  -f, --file FILE      the scoreboard file (overrides -c)\n"
      "  -o, --outform FORM   oneline (details on one line per session) or json\n"
      "      --json           same as -o json\n"
      "  -v, --verbose        show rate, client, server, protocol and location\n"
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
  static const option kLongOpts[] = {{"config", required_argument, nullptr, 'c'},
                                     {"define", required_argument, nullptr, 'D'},
                                     {"file", required_argument, nullptr, 'f'},
                                     {"outform", required_argument, nullptr, 'o'},
                                     {"json", no_argument, nullptr, kOptJson},
                                     {"verbose", no_argument, nullptr, 'v'},
                                     {"help", no_argument, nullptr, 'h'},
                                     {"version", no_argument, nullptr, 'V'},
                                     {nullptr, 0, nullptr, 0}};

  std::optional<std::string> file, config;
  std::vector<std::string> defines;  // -D, for <IfDefine> as in poolftpd
  WhoOptions options;
  bool json = false;
  opterr = 0;
  for (;;) {
    const int c = getopt_long(argc, argv, ":c:f:o:vD:hV", kLongOpts, nullptr);
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
      case 'o': {
        const std::string form = optarg;
        if (form == "oneline") {
          options.oneline = true;
        } else if (form == "json") {
          json = true;
        } else {
          return ReportUsage(
              kProg, "unknown outform value '" + EscapeText(form) + "' (use oneline or json)");
        }
        break;
      }
      case kOptJson:
        json = true;
        break;
      case 'v':
        options.verbose = true;
        break;
      case 'h':
        PrintHelp();
        return kExitOk;
      case 'V':
        std::printf("ftpwho (poolftpd) %s\n", POOLFTPD_VERSION);
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
  // Slots stream from the mapping into the formatter: no copy of the
  // scoreboard, and only the text fields the output shows are read.
  if (json) {
    WhoJsonFormatter f(live->header, live->now_ns);
    f.Reserve(live->board.scan_limit());
    live->board.ForEachSlot(poolftpd::sb::kReadAllText,
                            [&](const poolftpd::sb::SlotView& v) { f.Add(v); });
    f.Finish();
    PutStdout(f.head());
    PutStdout(f.body());
  } else {
    WhoFormatter f(live->header, live->now_ns, options);
    constexpr size_t kChunk = 64 * 1024;  // written out as it fills
    live->board.ForEachSlot(options.verbose ? poolftpd::sb::kReadAllText : poolftpd::sb::kReadBrief,
                            [&](const poolftpd::sb::SlotView& v) {
                              f.Add(v);
                              if (f.out().size() >= kChunk) {
                                PutStdout(f.out());
                                f.out().clear();
                              }
                            });
    f.Finish();
    PutStdout(f.out());
  }
  return FlushStdout(kProg) ? kExitOk : kExitFailure;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ftpwho: internal error: %s\n", e.what());
    return 1;
  }
}
