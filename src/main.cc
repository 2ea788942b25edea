// poolftpd: command line (ProFTPD's options), -t, daemonizing, then the master.
#include <fcntl.h>
#include <getopt.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/version.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "poolftpd/config/config.h"
#include "poolftpd/config/environment.h"
#include "poolftpd/master/master.h"
#include "poolftpd/util/strings.h"

namespace {

using poolftpd::master::Options;

// Runs config::CheckEnvironment in a short-lived child and returns its
// error text ("" when the check passed). The account look-ups load NSS and
// churn the heap; done in the master itself they leave freed chunks on pages
// that every worker then dirties (measured: 12 kB more private memory per
// idle session), so they happen in a process that is thrown away.
std::string CheckEnvironmentApart(const poolftpd::config::Config& cfg, bool as_root) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {  // no pipe: check here rather than not at all
    auto env = poolftpd::config::CheckEnvironment(cfg, as_root);
    return env ? std::string() : env.error().message();
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    auto env = poolftpd::config::CheckEnvironment(cfg, as_root);
    const std::string msg = env ? std::string() : env.error().message();
    size_t off = 0;
    while (off < msg.size()) {
      const ssize_t n = ::write(fds[1], msg.data() + off, msg.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    ::_exit(env ? 0 : 1);
  }
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    auto env = poolftpd::config::CheckEnvironment(cfg, as_root);
    return env ? std::string() : env.error().message();
  }
  std::string msg;
  char buf[512];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) msg.append(buf, static_cast<size_t>(n));
    else if (n == 0 || errno != EINTR)
      break;
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  return msg.empty() ? std::string("environment check failed (the checking process died)") : msg;
}

void Usage(FILE* out) {
  std::fprintf(out,
               "usage: poolftpd [options]\n"
               "  -h, --help                 show this help and exit\n"
               "  -n, --nodaemon             stay in the foreground (systemd, launchd, make run)\n"
               "  -q, --quiet                no startup messages on the terminal\n"
               "  -d, --debug LEVEL          debug level 0-9 (SystemLog)\n"
               "  -D, --define NAME          define NAME for <IfDefine NAME>\n"
               "  -c, --config FILE          configuration file (default %s)\n"
               "  -l, --list                 list compiled-in modules and features\n"
               "  -t, --configtest           check the configuration syntax and exit\n"
               "  -v, --version              print the version and exit\n"
               "  -vv, --version-status      print version, build options and library versions\n",
               POOLFTPD_CONFIG_FILE);
}

void VersionStatus() {
  std::printf("poolftpd Version: %s\n", POOLFTPD_VERSION);
  std::printf("  Scoreboard Version: layout 1\n");
  std::printf("  Built: %s %s\n\n", __DATE__, __TIME__);
  std::printf("Build options:\n");
  std::printf("  Compiler: g++ %s, -std=c++20\n", __VERSION__);
  std::printf("  Default config file: %s\n", POOLFTPD_CONFIG_FILE);
  std::printf("  Default ScoreboardFile: %s\n", POOLFTPD_SCOREBOARD_FILE);
  std::printf("  Default PidFile: %s\n", POOLFTPD_PID_FILE);
  std::printf(
      "  + IPv6 support\n  + sendfile support\n  + openat2 path confinement\n"
      "  + EPOLLEXCLUSIVE accept\n  - TLS (FTPS) not yet available\n\n");
  std::printf("Libraries:\n");
  std::printf("  Boost: %d.%d.%d\n", BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000,
              BOOST_VERSION % 100);
  std::printf("  libcap: linked\n");
}

void List() {
  std::printf("Compiled-in modules:\n");
  for (const char* m :
       {"core (prefork master, worker pool, signals)", "config (ProFTPD syntax, Include, IfDefine)",
        "scoreboard (lock-free, seqlock slots)", "anonymous (read-only <Anonymous>)",
        "limit (<Limit> Allow/Deny)", "ls (LIST, NLST, STAT)", "facts (MLSD, MLST, RFC 3659)",
        "xfer (RETR, REST, ABOR, sendfile, ASCII)", "log (SystemLog, xferlog TransferLog)",
        "cap (libcap privilege drop)"})
    std::printf("  %s\n", m);
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  opts.config_file = POOLFTPD_CONFIG_FILE;
  bool test = false;
  int version = 0;
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"nodaemon", no_argument, nullptr, 'n'},
                                 {"quiet", no_argument, nullptr, 'q'},
                                 {"debug", required_argument, nullptr, 'd'},
                                 {"define", required_argument, nullptr, 'D'},
                                 {"config", required_argument, nullptr, 'c'},
                                 {"list", no_argument, nullptr, 'l'},
                                 {"configtest", no_argument, nullptr, 't'},
                                 {"version", no_argument, nullptr, 'v'},
                                 {"version-status", no_argument, nullptr, 'V'},
                                 {nullptr, 0, nullptr, 0}};
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "hnqd:D:c:ltv", kLong, nullptr)) != -1) {
    switch (c) {
      case 'h':
        Usage(stdout);
        return 0;
      case 'n':
        opts.foreground = true;
        break;
      case 'q':
        opts.quiet = true;
        break;
      case 'd': {
        auto v = poolftpd::util::ParseUnsigned<int>(optarg, 9);
        if (!v) {
          std::fprintf(stderr, "poolftpd: -d: \"%s\" is not a debug level (0-9)\n", optarg);
          return 2;
        }
        opts.debug_level = *v;
        break;
      }
      case 'D':
        opts.defines.emplace_back(optarg);
        break;
      case 'c':
        opts.config_file = optarg;
        break;
      case 'l':
        List();
        return 0;
      case 't':
        test = true;
        break;
      case 'v':
        ++version;
        break;
      case 'V':
        version = 2;
        break;
      default:
        if (optopt)
          std::fprintf(stderr, "poolftpd: option -%c: unknown or missing its argument\n", optopt);
        else
          std::fprintf(stderr, "poolftpd: unknown option %s\n", argv[optind - 1]);
        Usage(stderr);
        return 2;
    }
  }
  if (optind < argc) {
    std::fprintf(stderr, "poolftpd: unexpected argument \"%s\"\n", argv[optind]);
    Usage(stderr);
    return 2;
  }
  if (version == 1) {
    std::printf("poolftpd Version %s\n", POOLFTPD_VERSION);
    return 0;
  }
  if (version >= 2) {
    VersionStatus();
    return 0;
  }

  try {
    auto loaded = poolftpd::config::Load(opts.config_file, opts.defines);
    if (!loaded) {
      std::fprintf(stderr, "poolftpd: %s\n", loaded.error().message().c_str());
      if (test) std::fprintf(stderr, "poolftpd: configuration check failed\n");
      return 1;
    }
    auto cfg = *loaded;
    // The accounts and the anonymous root must exist too (-t and start alike).
    if (auto env = CheckEnvironmentApart(*cfg, ::geteuid() == 0); !env.empty()) {
      std::fprintf(stderr, "poolftpd: %s\n", env.c_str());
      if (test) std::fprintf(stderr, "poolftpd: configuration check failed\n");
      return 1;
    }
    if (test) {
      std::printf("Syntax OK\n");
      return 0;
    }
    if (cfg->server_type == poolftpd::config::ServerType::kInetd)
      return poolftpd::master::RunInetd(opts, cfg);
    if (opts.foreground) {
      if (!opts.quiet)
        std::fprintf(stderr, "poolftpd: starting in the foreground (config %s)\n",
                     opts.config_file.c_str());
      return poolftpd::master::Run(opts, cfg, -1);
    }
    // Daemon: the launching process exits only when the daemon reports
    // "listening" (0) or a failure (non-zero, reason on stderr).
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) {
      std::perror("poolftpd: pipe");
      return 1;
    }
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) {
      std::perror("poolftpd: fork");
      return 1;
    }
    if (pid > 0) {
      ::close(pipefd[1]);
      std::string msg;
      char buf[512];
      ssize_t n;
      while ((n = ::read(pipefd[0], buf, sizeof buf)) != 0) {
        if (n < 0) {
          if (errno == EINTR) continue;
          break;
        }
        msg.append(buf, static_cast<size_t>(n));
      }
      if (msg.rfind("OK", 0) == 0) {
        // Anything after "OK\n" is a warning for the operator (a pending ftpshut).
        if (msg.size() > 3) std::fputs(msg.c_str() + 3, stderr);
        return 0;
      }
      if (msg.empty()) msg = "poolftpd: the daemon exited during start-up (see SystemLog)\n";
      std::fputs(msg.c_str(), stderr);
      return 1;
    }
    ::close(pipefd[0]);
    ::setsid();
    const int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      if (devnull > 2) ::close(devnull);
    }
    return poolftpd::master::Run(opts, cfg, pipefd[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "poolftpd: fatal: %s\n", e.what());
    return 1;
  }
}
