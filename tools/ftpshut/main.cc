// ftpshut: schedules (or with -R cancels) an administrative shutdown of
// poolftpd, ProFTPD-compatible. Writes the shutdown file atomically and
// publishes the same times and message into the scoreboard header so a
// running server acts on it within a second. Never signals any process.
#include <cstdio>
#include <ctime>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../common/cli.h"
#include "../common/format.h"
#include "../common/shutdown_paths.h"
#include "../common/source.h"
#include "poolftpd/scoreboard/scoreboard.h"
#include "poolftpd/scoreboard/shutdown.h"
#include "schedule.h"

#ifndef POOLFTPD_VERSION
#define POOLFTPD_VERSION "unknown"
#endif

namespace {

using namespace poolftpd;
using namespace poolftpd::tools;

constexpr char kProg[] = "ftpshut";

void PrintHelp() {
  std::fputs(
      "usage: ftpshut [-l min] [-d min] [-f FILE] [-c CONFIG] [-s SCOREBOARD] time [message ...]\n"
      "       ftpshut -R [-f FILE] [-c CONFIG] [-s SCOREBOARD]\n"
      "Schedules a shutdown of poolftpd: from the deny time on new connections are\n"
      "refused, at the disconnect time sessions are closed, both with the message.\n"
      "\n"
      "  time                 now, +MINUTES from now, or HHMM (today, or tomorrow\n"
      "                       if that minute has passed)\n"
      "  message              the words of the message (default \"going down at %s\");\n"
      "                       cookies: %s shutdown, %r deny, %d disconnect and %T\n"
      "                       current time, %L server address, %R client, %U user,\n"
      "                       %C directory, %V ServerName, %% a percent sign\n"
      "  -l MIN               refuse new connections MIN minutes before (default 10)\n"
      "  -d MIN               disconnect sessions MIN minutes before (default 5)\n"
      "  -R                   cancel a pending shutdown (remove the file)\n"
      "  -f FILE              the shutdown file (overrides -c)\n"
      "  -c CONFIG            read ShutdownFile and ScoreboardFile from CONFIG\n"
      "  -D, --define NAME    define NAME for <IfDefine NAME> in the config\n"
      "  -s SCOREBOARD        the scoreboard file (overrides -c)\n"
      "  -h, --help           show this help\n"
      "  -V, --version        show the version\n"
      "\n"
      "Defaults: the ShutdownFile and ScoreboardFile of " POOLFTPD_CONFIG_FILE
      ",\n"
      "else " POOLFTPD_SHUTDOWN_FILE " and " POOLFTPD_SCOREBOARD_FILE
      ".\n"
      "Exit status: 0 ok, 1 error, 2 bad usage.\n",
      stdout);
}

// What happened to the scoreboard part of a request.
struct Published {
  bool running = false;  // a live master took the new state
  int32_t master_pid = 0;
  bool had_shutdown = false;  // the header held a shutdown before
  std::string note;           // why nothing was published (for the operator)
  bool warning = false;       // `note` is a problem, not just "not running"
  std::string config_file;    // the running master's configuration, "" if unknown
};

// Publishes `info` into the header of the scoreboard at `path`, or clears
// the shutdown there when `info` is null. Only a scoreboard with a live
// master is written: a stale one is recreated by the next master anyway.
Published Publish(const std::string& path, const sb::ShutdownInfo* info) {
  Published p;
  auto board = sb::Scoreboard::Open(path, /*writable=*/true);
  if (!board) {
    if (board.error().code() == ErrorCode::kNotFound) {
      p.note = "poolftpd is not running (no scoreboard at " + path + ")";
    } else {
      p.note = "cannot publish to the scoreboard: " + board.error().message();
      p.warning = true;
    }
    return p;
  }
  board->GuardTruncation(sb::TruncationPolicy::kExit);  // a shrunk file: an error, not SIGBUS
  const sb::HeaderView header = board->ReadHeader();
  if (!board->MasterAlive()) {
    p.note = header.master_pid == 0
                 ? "poolftpd is not running (" + path + " is left from a stopped server)"
                 : "poolftpd is not running (master process " + std::to_string(header.master_pid) +
                       " of " + path + " is gone)";
    return p;
  }
  p.running = true;
  p.master_pid = header.master_pid;
  p.had_shutdown = header.shutdown_time != 0;
  p.config_file = header.config_file;
  if (info != nullptr) {
    board->SetShutdown(info->shutdown_time, info->deny_time, info->disconnect_time, info->message);
  } else {
    board->SetShutdown(0, 0, 0, "");
  }
  return p;
}

// A warning when the running master watches another shutdown file than
// `file` (the ShutdownFile of its config, read with our -D names), else "".
// Then the published state does not last: the master follows its own file.
std::string OtherWatchedFile(const Published& pub, const std::string& file,
                             const std::vector<std::string>& defines) {
  if (!pub.running || pub.config_file.empty() || pub.config_file.front() != '/') return "";
  auto found = ReadConfigPaths(pub.config_file, defines);
  if (!found) return "";  // unreadable or unparsable to us: nothing to compare
  const std::string watched = found->shutdown_file.value_or(POOLFTPD_SHUTDOWN_FILE);
  std::error_code ec1, ec2;
  const auto a = std::filesystem::weakly_canonical(std::filesystem::absolute(watched, ec1), ec1);
  const auto b = std::filesystem::weakly_canonical(std::filesystem::absolute(file, ec2), ec2);
  if (ec1 || ec2 || a == b) return "";
  return "the running poolftpd (master PID " + std::to_string(pub.master_pid) + ") watches " +
         watched + " (ShutdownFile of " + pub.config_file + "), not " + file + "; use -c " +
         pub.config_file + " or -f " + watched;
}

int Schedule(const ftpshut::Options& opts, const std::string& file, const std::string& board) {
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  auto when = ftpshut::ParseShutdownTime(opts.time, now);
  if (!when) return ReportUsage(kProg, when.error().context());
  auto info = ftpshut::ComputeShutdown(*when, opts.deny_minutes, opts.disconnect_minutes, now,
                                       opts.message);
  if (!info) return ReportUsage(kProg, info.error().context());

  if (auto written = sb::WriteShutdownFile(file, *info); !written) {
    return ReportError(kProg, written.error());
  }
  const Published pub = Publish(board, &*info);

  const std::string p = std::string(kProg) + ": ";
  std::string out = p + "shutdown at " + sb::FormatShutdownTime(info->shutdown_time) + "\n" + p +
                    "new connections refused from " + sb::FormatShutdownTime(info->deny_time) +
                    "\n" + p + "sessions disconnected at " +
                    sb::FormatShutdownTime(info->disconnect_time) + "\n" + p +
                    "message: " + EscapeText(info->message) + "\n" + p + "wrote " + file + "\n";
  if (pub.running) {
    out += p + "published to the running poolftpd (master PID " + std::to_string(pub.master_pid) +
           ")\n";
  } else if (!pub.warning) {
    out += p + pub.note + "; it reads " + file + " when it starts\n";
  }
  const bool ok = WriteStdout(kProg, out);
  if (const std::string other = OtherWatchedFile(pub, file, opts.defines); !other.empty()) {
    std::fputs((p + "warning: " + other + "\n").c_str(), stderr);
  }
  if (pub.warning) {
    std::fputs(
        (p + "warning: " + pub.note + "; a running poolftpd reads " + file + " within a second\n")
            .c_str(),
        stderr);
  }
  return ok ? kExitOk : kExitFailure;
}

int Remove(const std::string& file, const std::string& board,
           const std::vector<std::string>& defines) {
  auto removed = sb::RemoveShutdownFile(file);
  if (!removed) return ReportError(kProg, removed.error());
  const Published pub = Publish(board, nullptr);

  const std::string p = std::string(kProg) + ": ";
  std::string out;
  if (*removed) {
    out += p + file + " removed\n";
  } else {
    out += p + "no shutdown file at " + file + "\n";
  }
  if (pub.running) {
    if (*removed || pub.had_shutdown) {
      out += p + "shutdown cancelled in the running poolftpd (master PID " +
             std::to_string(pub.master_pid) + ")\n";
    } else {
      out += p + "no shutdown pending\n";
    }
  } else if (!pub.warning) {
    out += p + pub.note + "\n";
  }
  const bool ok = WriteStdout(kProg, out);
  if (const std::string other = OtherWatchedFile(pub, file, defines); !other.empty()) {
    std::fputs((p + "warning: " + other + "\n").c_str(), stderr);
  }
  if (pub.warning) {
    std::fputs((p + "warning: " + pub.note + "; a running poolftpd notices the removal within" +
                " a second\n")
                   .c_str(),
               stderr);
  }
  return ok ? kExitOk : kExitFailure;
}

int Run(int argc, char** argv) {
  std::vector<std::string_view> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  auto opts = ftpshut::ParseCommandLine(args);
  if (!opts) return ReportUsage(kProg, opts.error().context());
  if (opts->help) {
    PrintHelp();
    return kExitOk;
  }
  if (opts->version) {
    std::printf("ftpshut (poolftpd) %s\n", POOLFTPD_VERSION);
    return kExitOk;
  }
  auto file = ResolveShutdownFilePath(opts->shutdown_file, opts->config, opts->defines);
  if (!file) return ReportError(kProg, file.error());
  auto board = ResolveScoreboardPath(opts->scoreboard, opts->config, opts->defines);
  if (!board) return ReportError(kProg, board.error());
  return opts->remove ? Remove(*file, *board, opts->defines) : Schedule(*opts, *file, *board);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ftpshut: internal error: %s\n", e.what());
    return 1;
  }
}
