// ftpdctl: control a running poolftpd by name (status, reload, stop,
// graceful-stop, reopen-logs, kick, kill, debug). Verifies every process before it
// signals it and signals through pidfds (tools/ftpdctl/proc.h).
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "args.h"
#include "ctl.h"

#ifndef POOLFTPD_VERSION
#define POOLFTPD_VERSION "unknown"
#endif
#ifndef POOLFTPD_CONFIG_FILE
#define POOLFTPD_CONFIG_FILE "/usr/local/etc/poolftpd.conf"
#endif
#ifndef POOLFTPD_SCOREBOARD_FILE
#define POOLFTPD_SCOREBOARD_FILE "/run/poolftpd/poolftpd.scoreboard"
#endif
#ifndef POOLFTPD_PID_FILE
#define POOLFTPD_PID_FILE "/run/poolftpd/poolftpd.pid"
#endif

namespace {

void PrintHelp() {
  std::fputs(
      "usage: ftpdctl [options] command [arguments]\n"
      "Controls a running poolftpd. The master is found through the PidFile and\n"
      "must match the scoreboard; workers must be its children. Signals go\n"
      "through pidfds, so a reused PID is never signalled.\n"
      "\n"
      "Commands:\n"
      "  status              is it running? master PID, uptime, generation, config\n"
      "                      file, workers, sessions, pending shutdown\n"
      "  reload              re-read the configuration (HUP); waits for the new generation\n"
      "  stop                stop now (TERM); waits for the master to exit\n"
      "  graceful-stop       stop accepting, let sessions finish, then exit (QUIT)\n"
      "  reopen-logs         reopen the SystemLog and TransferLog (USR1)\n"
      "  kick --pid N | --user NAME | --host ADDR\n"
      "                      end the matching sessions with 421 (USR2 to their workers);\n"
      "                      also: kick N | kick user NAME | kick host ADDR\n"
      "  kill [--signal SIG] [--who main|workers|all]\n"
      "                      send SIG (default TERM) to the master (default), the\n"
      "                      workers, or both\n"
      "  debug N             set the debug level (0-9) of the master and every worker,\n"
      "                      without a reload (lasts until the next reload or restart)\n"
      "\n"
      "Options:\n"
      "  -c, --config FILE    read PidFile and ScoreboardFile from FILE\n"
      "  -D, --define NAME    define NAME for <IfDefine NAME> in the config\n"
      "  -p, --pidfile FILE   the master's PidFile (overrides -c)\n"
      "  -f, --file FILE      the scoreboard file (overrides -c)\n"
      "      --json           print the result as one JSON object\n"
      "      --timeout SECS   how long reload (5), stop (10) and graceful-stop (0)\n"
      "                       wait for the effect; 0 = do not wait\n"
      "  -h, --help           show this help\n"
      "  -V, --version        show the version\n"
      "\n"
      "Defaults: the PidFile and ScoreboardFile of " POOLFTPD_CONFIG_FILE
      ",\n"
      "else " POOLFTPD_PID_FILE " and " POOLFTPD_SCOREBOARD_FILE
      ".\n"
      "Exit status: status: 0 running, 1 dead but PidFile left, 3 not running,\n"
      "4 unknown; other commands: 0 done, 1 failed; 2 bad usage.\n",
      stdout);
}

int RunMain(int argc, char** argv) {
  using namespace poolftpd::ftpdctl;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto options = ParseArgs(args);
  if (!options) {
    const std::string line =
        "ftpdctl: " + options.error().message() + "\nTry 'ftpdctl --help' for more information.\n";
    std::fputs(line.c_str(), stderr);
    return kExitUsage;
  }
  if (options->help) {
    PrintHelp();
    return kExitOk;
  }
  if (options->version) {
    std::printf("ftpdctl (poolftpd) %s\n", POOLFTPD_VERSION);
    return kExitOk;
  }
  return Run(*options);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return RunMain(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ftpdctl: internal error: %s\n", e.what());
    return 1;
  }
}
