// Unit tests of ftpdctl (tools/ftpdctl): argument parsing, /proc parsing,
// file trust, the master/worker checks with hand-made process descriptions,
// pidfd handles on real child processes, status text and JSON, kick
// matching, path resolution; then the built binary against a fake server:
// a copy of /bin/sh named "poolftpd" (the master) with a forked subshell
// (its worker), a scoreboard and PidFile naming them, and unrelated
// processes planted in the PidFile and in scoreboard slots, which must
// never be signalled.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "../../tools/ftpdctl/args.h"
#include "../../tools/ftpdctl/ctl.h"
#include "../../tools/ftpdctl/proc.h"
#include "poolftpd/scoreboard/layout.h"
#include "poolftpd/scoreboard/scoreboard.h"
#include "poolftpd/util/debug_signal.h"

namespace poolftpd::ftpdctl {
namespace {

using sb::HeaderView;
using sb::SlotState;
using sb::SlotView;

constexpr int64_t kSec = 1'000'000'000;

Options Parse(std::vector<std::string> args) {
  auto o = ParseArgs(args);
  EXPECT_TRUE(o) << (o ? "" : o.error().message());
  return o ? *o : Options{};
}

std::string ParseError(std::vector<std::string> args) {
  auto o = ParseArgs(args);
  EXPECT_FALSE(o) << "accepted a bad command line";
  if (o) return {};
  EXPECT_EQ(o.error().code(), ErrorCode::kInvalid);
  return o.error().message();
}

// ---------------------------------------------------------------------------
// Arguments

TEST(Args, CommandsAndGlobalOptions) {
  EXPECT_EQ(Parse({"status"}).command, Command::kStatus);
  EXPECT_EQ(Parse({"reload"}).command, Command::kReload);
  EXPECT_EQ(Parse({"stop"}).command, Command::kStop);
  EXPECT_EQ(Parse({"graceful-stop"}).command, Command::kGracefulStop);
  EXPECT_EQ(Parse({"reopen-logs"}).command, Command::kReopenLogs);

  Options o =
      Parse({"-c", "/etc/x.conf", "-p", "/run/x.pid", "-f", "/run/x.sb", "--json", "status"});
  EXPECT_EQ(o.config, "/etc/x.conf");
  EXPECT_EQ(o.pidfile, "/run/x.pid");
  EXPECT_EQ(o.scoreboard, "/run/x.sb");
  EXPECT_TRUE(o.json);
  EXPECT_FALSE(o.timeout_s);

  // Attached values, long forms with '=', options after the command.
  o = Parse(
      {"status", "-c/a.conf", "--pidfile=/b.pid", "--file", "/c.sb", "--json", "--timeout=7"});
  EXPECT_EQ(o.config, "/a.conf");
  EXPECT_EQ(o.pidfile, "/b.pid");
  EXPECT_EQ(o.scoreboard, "/c.sb");
  EXPECT_TRUE(o.json);
  EXPECT_EQ(o.timeout_s, 7);
  EXPECT_EQ(Parse({"--config=/d.conf", "stop"}).config, "/d.conf");
  EXPECT_EQ(Parse({"stop", "--timeout", "0"}).timeout_s, 0);

  EXPECT_TRUE(Parse({"-h"}).help);
  EXPECT_TRUE(Parse({"--help"}).help);
  EXPECT_TRUE(Parse({"-V"}).version);
  EXPECT_TRUE(Parse({"status", "--version"}).version);
  EXPECT_EQ(ParseError({"--version", "bogus"}), "unknown command 'bogus'");
}

TEST(Args, Kick) {
  Options o = Parse({"kick", "--pid", "123"});
  EXPECT_EQ(o.command, Command::kKick);
  EXPECT_EQ(o.kick.pid, 123);
  EXPECT_FALSE(o.kick.user);
  o = Parse({"kick", "--user=bob", "--host", "192.0.2.7"});
  EXPECT_EQ(o.kick.user, "bob");
  EXPECT_EQ(o.kick.host, "192.0.2.7");
  EXPECT_FALSE(o.kick.pid);
  // The man page's positional forms.
  o = Parse({"kick", "user", "anonymous"});
  EXPECT_EQ(o.kick.user, "anonymous");
  o = Parse({"kick", "host", "::1"});
  EXPECT_EQ(o.kick.host, "::1");
  o = Parse({"kick", "4242"});
  EXPECT_EQ(o.kick.pid, 4242);
  o = Parse({"--json", "kick", "--", "user", "-dash-user"});
  EXPECT_EQ(o.kick.user, "-dash-user");
}

TEST(Args, Kill) {
  Options o = Parse({"kill"});
  EXPECT_EQ(o.command, Command::kKill);
  EXPECT_EQ(o.signal, SIGTERM);
  EXPECT_EQ(o.who, Who::kMain);
  o = Parse({"kill", "--signal", "KILL", "--who", "workers"});
  EXPECT_EQ(o.signal, SIGKILL);
  EXPECT_EQ(o.who, Who::kWorkers);
  o = Parse({"kill", "--signal=sigusr2", "--who=all"});
  EXPECT_EQ(o.signal, SIGUSR2);
  EXPECT_EQ(o.who, Who::kAll);
  EXPECT_EQ(Parse({"kill", "--signal", "1"}).signal, SIGHUP);
  EXPECT_EQ(Parse({"kill", "--who", "main"}).who, Who::kMain);
}

TEST(Args, UsageErrors) {
  EXPECT_NE(ParseError({}).find("no command given"), std::string::npos);
  EXPECT_NE(ParseError({"--json"}).find("no command given"), std::string::npos);
  EXPECT_EQ(ParseError({"restart"}), "unknown command 'restart'");
  EXPECT_EQ(ParseError({"stat\x1bus"}), "unknown command 'stat\\x1bus'");
  EXPECT_EQ(ParseError({"status", "--bogus"}), "unknown option '--bogus'");
  EXPECT_EQ(ParseError({"-x", "status"}), "unknown option '-x'");
  EXPECT_EQ(ParseError({"status", "-f"}), "option '-f' needs an argument");
  EXPECT_EQ(ParseError({"status", "--config"}), "option '--config' needs an argument");
  EXPECT_EQ(ParseError({"status", "--file="}), "option '--file' needs a file name");
  EXPECT_EQ(ParseError({"status", "--json=yes"}), "option '--json' takes no argument");
  EXPECT_EQ(ParseError({"status", "extra"}), "unexpected argument 'extra' for status");
  EXPECT_EQ(ParseError({"stop", "now"}), "unexpected argument 'now' for stop");
  EXPECT_NE(ParseError({"stop", "--timeout", "-1"}).find("bad --timeout '-1'"), std::string::npos);
  EXPECT_NE(ParseError({"stop", "--timeout", "86401"}).find("0..86400"), std::string::npos);
  EXPECT_NE(ParseError({"stop", "--timeout", "5s"}).find("bad --timeout"), std::string::npos);

  EXPECT_EQ(ParseError({"kick"}), "kick needs --pid N, --user NAME or --host ADDR");
  EXPECT_EQ(ParseError({"kick", "--pid", "0"}), "bad --pid '0' (a worker PID)");
  EXPECT_EQ(ParseError({"kick", "--pid", "12x"}), "bad --pid '12x' (a worker PID)");
  EXPECT_EQ(ParseError({"kick", "--pid", "99999999999"}), "bad --pid '99999999999' (a worker PID)");
  EXPECT_EQ(ParseError({"kick", "--user="}), "option '--user' needs a value");
  EXPECT_EQ(ParseError({"kick", "user"}), "kick user needs a value");
  EXPECT_EQ(ParseError({"kick", "bob"}), "unexpected argument 'bob' for kick");
  EXPECT_EQ(ParseError({"--user", "bob", "kick"}), "option '--user' belongs to the kick command");
  EXPECT_EQ(ParseError({"status", "--pid", "1"}), "option '--pid' belongs to the kick command");

  EXPECT_EQ(ParseError({"kill", "--who", "everyone"}),
            "bad --who 'everyone' (main, workers or all)");
  EXPECT_EQ(ParseError({"kill", "--signal", "FOO"}), "unknown signal 'FOO'");
  EXPECT_EQ(ParseError({"kill", "--signal", "0"}), "unknown signal '0'");
  EXPECT_EQ(ParseError({"kill", "--signal", "65"}), "unknown signal '65'");
  EXPECT_EQ(ParseError({"kill", "--signal"}), "option '--signal' needs an argument");
  EXPECT_EQ(ParseError({"reload", "--who", "all"}), "option '--who' belongs to the kill command");
  EXPECT_EQ(ParseError({"kill", "workers"}), "unexpected argument 'workers' for kill");
}

TEST(Args, Debug) {
  Options o = Parse({"debug", "5"});
  EXPECT_EQ(o.command, Command::kDebug);
  EXPECT_EQ(o.debug_level, 5);
  EXPECT_EQ(Parse({"debug", "0"}).debug_level, 0);
  EXPECT_EQ(Parse({"debug", "9"}).debug_level, 9);
  EXPECT_EQ(Parse({"--json", "debug", "7", "-c", "/etc/x.conf"}).debug_level, 7);
  EXPECT_STREQ(CommandName(Command::kDebug), "debug");
  EXPECT_EQ(DefaultTimeout(Command::kDebug), 0);

  EXPECT_EQ(ParseError({"debug"}), "debug needs a level (0-9)");
  EXPECT_EQ(ParseError({"debug", "10"}), "bad debug level '10' (0-9)");
  EXPECT_EQ(ParseError({"debug", "-1"}), "bad debug level '-1' (0-9)");
  EXPECT_EQ(ParseError({"debug", "x"}), "bad debug level 'x' (0-9)");
  EXPECT_EQ(ParseError({"debug", "5x"}), "bad debug level '5x' (0-9)");
  EXPECT_EQ(ParseError({"debug", ""}), "bad debug level '' (0-9)");
  EXPECT_EQ(ParseError({"debug", "99999999999"}), "bad debug level '99999999999' (0-9)");
  EXPECT_EQ(ParseError({"debug", "1", "2"}), "unexpected argument '2' for debug");
  EXPECT_EQ(ParseError({"debug", "--who", "all"}), "option '--who' belongs to the kill command");
  EXPECT_EQ(ParseError({"status", "5"}), "unexpected argument '5' for status");
}

TEST(Args, SignalsAndDefaults) {
  EXPECT_EQ(ParseSignal("TERM"), SIGTERM);
  EXPECT_EQ(ParseSignal("SIGHUP"), SIGHUP);
  EXPECT_EQ(ParseSignal("usr1"), SIGUSR1);
  EXPECT_EQ(ParseSignal("9"), SIGKILL);
  EXPECT_EQ(ParseSignal("SIG"), std::nullopt);
  EXPECT_EQ(ParseSignal(""), std::nullopt);
  EXPECT_EQ(ParseSignal("TERMINATE"), std::nullopt);
  EXPECT_EQ(SignalName(SIGTERM), "TERM");
  EXPECT_EQ(SignalName(SIGUSR2), "USR2");
  EXPECT_EQ(SignalName(SIGRTMIN + 2), "RTMIN+2");
  EXPECT_STREQ(CommandName(Command::kGracefulStop), "graceful-stop");
  EXPECT_EQ(DefaultTimeout(Command::kReload), 5);
  EXPECT_EQ(DefaultTimeout(Command::kStop), 10);
  EXPECT_EQ(DefaultTimeout(Command::kGracefulStop), 0);
  EXPECT_EQ(DefaultTimeout(Command::kKick), 0);
}

// ---------------------------------------------------------------------------
// /proc

TEST(Proc, ParseStat) {
  auto p = ParseProcStat(42,
                         "42 (a (weird) name) S 7 42 42 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 "
                         "987654 1000 200 18446744073709551615\n");
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->pid, 42);
  EXPECT_EQ(p->comm, "a (weird) name");
  EXPECT_EQ(p->state, 'S');
  EXPECT_EQ(p->ppid, 7);
  EXPECT_EQ(p->start_ticks, 987654u);
  EXPECT_FALSE(p->zombie());
  auto z = ParseProcStat(5, "5 (x) Z 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 0 33");
  ASSERT_TRUE(z);
  EXPECT_TRUE(z->zombie());
  EXPECT_EQ(z->start_ticks, 33u);
  EXPECT_FALSE(ParseProcStat(1, "no parentheses"));
  EXPECT_FALSE(ParseProcStat(1, "1 (short) S 1 2 3"));
  EXPECT_FALSE(ParseProcStat(1, "1 (bad) S x 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 0 33"));
}

TEST(Proc, ReadSelfChildAndZombie) {
  auto self = ReadProcessInfo(::getpid());
  ASSERT_TRUE(self) << self.error().message();
  EXPECT_EQ(self->pid, ::getpid());
  EXPECT_EQ(self->ppid, ::getppid());
  EXPECT_EQ(self->start_ticks, sb::ProcessStartTicks(::getpid()));
  EXPECT_EQ(self->exe, std::filesystem::read_symlink("/proc/self/exe").string());
  EXPECT_EQ(self->comm, "ftpdctl_test");

  EXPECT_EQ(ReadProcessInfo(0).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ReadProcessInfo(-3).error().code(), ErrorCode::kNotFound);

  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  // Not reaped yet: a zombie.
  for (int i = 0; i < 500; ++i) {
    auto z = ReadProcessInfo(child);
    if (z && z->zombie()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto z = ReadProcessInfo(child);
  ASSERT_TRUE(z);
  EXPECT_TRUE(z->zombie());
  EXPECT_EQ(z->ppid, ::getpid());
  EXPECT_TRUE(z->exe.empty());
  ::waitpid(child, nullptr, 0);
  auto gone = ReadProcessInfo(child);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), ErrorCode::kNotFound);
}

TEST(Proc, PoolftpdExe) {
  EXPECT_TRUE(IsPoolftpdExe("/usr/sbin/poolftpd"));
  EXPECT_TRUE(IsPoolftpdExe("/usr/sbin/poolftpd (deleted)"));
  EXPECT_TRUE(IsPoolftpdExe("/home/x/build/poolftpd"));
  EXPECT_FALSE(IsPoolftpdExe("/usr/bin/sleep"));
  EXPECT_FALSE(IsPoolftpdExe("/usr/sbin/poolftpd.old"));
  EXPECT_FALSE(IsPoolftpdExe("/usr/sbin/notpoolftpd"));
  EXPECT_FALSE(IsPoolftpdExe("poolftpd"));
  EXPECT_FALSE(IsPoolftpdExe(""));
  EXPECT_FALSE(IsPoolftpdExe("/x/poolftpd (deleted) (deleted)x"));
}

// A child that waits for one signal, then exits with its number.
pid_t SignalWaiter() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  sigaddset(&set, SIGTERM);
  sigset_t old;
  ::sigprocmask(SIG_BLOCK, &set, &old);
  const pid_t pid = ::fork();
  if (pid == 0) {
    int sig = 0;
    ::sigwait(&set, &sig);
    ::_exit(sig);
  }
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  return pid;
}

// The child's exit code (128 + N for signal N). Bounded: a child that has
// not ended after 60 s (a signal that never came) fails the test and is
// killed, so a broken test fails instead of hanging the run.
int ExitCode(pid_t pid) {
  int status = 0;
  for (int i = 0; i < 6000; ++i) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0 && errno != EINTR) {
      ADD_FAILURE() << "waitpid " << pid << ": " << std::strerror(errno);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "process " << pid << " still running after 60 s; killed";
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return -1;
}

TEST(Handle, SignalsThePinnedProcess) {
  const pid_t child = SignalWaiter();
  auto h = ProcessHandle::Open(child);
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(h->pid(), child);
  EXPECT_TRUE(h->may_signal());
  EXPECT_EQ(h->info().ppid, ::getpid());
  EXPECT_FALSE(h->WaitExit(0));
  ASSERT_TRUE(h->Signal(SIGUSR2));
  EXPECT_TRUE(h->WaitExit(5000));
  EXPECT_EQ(ExitCode(child), SIGUSR2);
  // Reaped: its PID may be reused, but the handle still means the dead
  // process and never reaches another one.
  auto again = h->Signal(SIGTERM);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kNotFound);

  auto none = ProcessHandle::Open(child);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ProcessHandle::Open(0).error().code(), ErrorCode::kNotFound);
}

// ftpdctl debug N: the value travels as sigqueue(3) sends it.
TEST(Handle, QueueCarriesTheValueAsSigqueueDoes) {
  const int signo = util::DebugLevelSignal();
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signo);
  sigset_t old;
  ::sigprocmask(SIG_BLOCK, &set, &old);
  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child == 0) {
    siginfo_t si{};
    if (::sigwaitinfo(&set, &si) != signo) ::_exit(100);
    if (si.si_code != SI_QUEUE) ::_exit(101);
    if (si.si_pid != parent || si.si_uid != ::getuid()) ::_exit(102);
    ::_exit(si.si_value.sival_int);
  }
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  auto h = ProcessHandle::Open(child);
  ASSERT_TRUE(h) << h.error().message();
  ASSERT_TRUE(h->Queue(signo, 7));
  EXPECT_TRUE(h->WaitExit(5000));
  EXPECT_EQ(ExitCode(child), 7);
  auto gone = h->Queue(signo, 1);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), ErrorCode::kNotFound);
}

TEST(Handle, NotPermittedIsReportedNotHidden) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to start a process of another user";
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(1);
    (void)!::write(ready[1], "x", 1);
    ::pause();
    ::_exit(0);
  }
  char b;
  ASSERT_EQ(::read(ready[0], &b, 1), 1);
  ::close(ready[0]);
  ::close(ready[1]);
  // Probe as the other user from a helper process.
  const pid_t prober = ::fork();
  if (prober == 0) {
    if (::setgid(65533) != 0 || ::setuid(65533) != 0) ::_exit(10);
    auto h = ProcessHandle::Open(child);
    if (!h) ::_exit(11);
    if (h->may_signal()) ::_exit(12);
    auto s = h->Signal(SIGTERM);
    ::_exit(!s && s.error().code() == ErrorCode::kPermission ? 0 : 13);
  }
  EXPECT_EQ(ExitCode(prober), 0);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
}

// ---------------------------------------------------------------------------
// Trust

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/ctltest.XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
    ::chmod(path_.c_str(), 0755);
    owner_ = ::getpid();
  }
  ~TempDir() {
    if (::getpid() != owner_) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
  pid_t owner_;
};

void WriteFile(const std::string& path, const std::string& text, mode_t mode = 0644) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  ::chmod(path.c_str(), mode);
}

TEST(Trust, OwnerAndMode) {
  EXPECT_TRUE(CheckTrusted("PidFile /x", 0, S_IFREG | 0644, 1000));
  EXPECT_TRUE(CheckTrusted("PidFile /x", 1000, S_IFREG | 0600, 1000));
  EXPECT_TRUE(CheckTrusted("PidFile /x", 0, S_IFREG | 0444, 0));
  auto group = CheckTrusted("PidFile /x", 0, S_IFREG | 0664, 0);
  ASSERT_FALSE(group);
  EXPECT_EQ(group.error().code(), ErrorCode::kPermission);
  EXPECT_EQ(group.error().message(),
            "refusing PidFile /x: it is writable by group or others (mode 0664), so its "
            "contents cannot be trusted");
  EXPECT_FALSE(CheckTrusted("PidFile /x", 0, S_IFREG | 0646, 0));
  auto other = CheckTrusted("scoreboard /y", 1001, S_IFREG | 0644, 1000);
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message().find("refusing scoreboard /y: it is owned by uid 1001"),
            std::string::npos)
      << other.error().message();
  EXPECT_FALSE(CheckTrusted("scoreboard /y", 1001, S_IFREG | 0644, 0));  // root trusts root only
}

TEST(Trust, ReadPidFile) {
  TempDir dir;
  const std::string path = dir.File("x.pid");
  auto missing = ReadPidFile(path);
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());

  WriteFile(path, "1234\n");
  EXPECT_EQ(ReadPidFile(path)->value_or(0), 1234);
  WriteFile(path, "77");
  EXPECT_EQ(ReadPidFile(path)->value_or(0), 77);
  for (const char* bad :
       {"", "\n", "abc\n", "12 34\n", "-5\n", "0\n", "12\n\n", "99999999999\n", " 12\n",
        "1234567890123456789012345678901234567890123456789012345678901234567890"}) {
    WriteFile(path, bad);
    auto r = ReadPidFile(path);
    ASSERT_FALSE(r) << "accepted " << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalid);
    EXPECT_EQ(r.error().message(), "PidFile " + path + " does not hold a PID");
  }

  WriteFile(path, "1234\n", 0666);
  auto writable = ReadPidFile(path);
  ASSERT_FALSE(writable);
  EXPECT_EQ(writable.error().code(), ErrorCode::kPermission);
  EXPECT_NE(writable.error().message().find(path), std::string::npos);

  WriteFile(path, "1234\n");
  const std::string link = dir.File("link.pid");
  ASSERT_EQ(::symlink(path.c_str(), link.c_str()), 0);
  auto symlink = ReadPidFile(link);
  ASSERT_FALSE(symlink);
  EXPECT_NE(symlink.error().message().find("symbolic link"), std::string::npos);

  auto directory = ReadPidFile(dir.File(""));
  ASSERT_FALSE(directory);
  EXPECT_NE(directory.error().message().find("not a regular file"), std::string::npos);

  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);
    auto foreign = ReadPidFile(path);
    ASSERT_FALSE(foreign);
    EXPECT_NE(foreign.error().message().find("owned by uid 65534"), std::string::npos)
        << foreign.error().message();
  }
}

// ---------------------------------------------------------------------------
// Master and worker checks on hand-made descriptions

ProcessInfo Proc(int32_t pid, int32_t ppid, uint64_t ticks, std::string exe,
                 std::string comm = "poolftpd") {
  ProcessInfo p;
  p.pid = pid;
  p.ppid = ppid;
  p.state = 'S';
  p.start_ticks = ticks;
  p.exe = std::move(exe);
  p.comm = std::move(comm);
  return p;
}

HeaderView MasterHeader(int32_t pid, uint64_t ticks) {
  HeaderView h;
  h.master_pid = pid;
  h.master_start_ticks = ticks;
  sb::SetText(h.server_type, "standalone");
  return h;
}

ErrorCode MasterCode(const ProcessInfo& p, int32_t pidfile_pid, const HeaderView& h) {
  auto r = CheckMaster(p, pidfile_pid, h);
  return r ? ErrorCode::kOk : r.error().code();
}

TEST(Verify, Master) {
  const HeaderView h = MasterHeader(100, 5000);
  EXPECT_EQ(MasterCode(Proc(100, 1, 5000, "/usr/sbin/poolftpd"), 100, h), ErrorCode::kOk);
  EXPECT_EQ(MasterCode(Proc(100, 1, 5000, "/usr/sbin/poolftpd (deleted)"), 100, h), ErrorCode::kOk);
  // PID reused by another process: other start time.
  auto reused = CheckMaster(Proc(100, 1, 5001, "/usr/sbin/poolftpd"), 100, h);
  ASSERT_FALSE(reused);
  EXPECT_EQ(reused.error().code(), ErrorCode::kStale);
  EXPECT_NE(reused.error().message().find("the PID was reused"), std::string::npos);
  // Another program.
  auto other = CheckMaster(Proc(100, 1, 5000, "/usr/bin/sleep", "sleep"), 100, h);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().message(), "PID 100 runs /usr/bin/sleep, not poolftpd");
  // PidFile and scoreboard disagree.
  auto mismatch = CheckMaster(Proc(101, 1, 5000, "/usr/sbin/poolftpd"), 101, h);
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().code(), ErrorCode::kInvalid);
  EXPECT_EQ(mismatch.error().message(),
            "the PidFile names PID 101 but the scoreboard's master is PID 100");
  // Zombie.
  ProcessInfo z = Proc(100, 1, 5000, "");
  z.state = 'Z';
  z.exe_errno = ENOENT;
  EXPECT_EQ(MasterCode(z, 100, h), ErrorCode::kStale);
  // No start time recorded: cannot verify.
  EXPECT_EQ(MasterCode(Proc(100, 1, 5000, "/usr/sbin/poolftpd"), 100, MasterHeader(100, 0)),
            ErrorCode::kInvalid);
  // Master gone cleanly, and inetd mode.
  EXPECT_EQ(MasterCode(Proc(100, 1, 5000, "/usr/sbin/poolftpd"), 100, MasterHeader(0, 0)),
            ErrorCode::kStale);
  HeaderView inetd = MasterHeader(0, 0);
  sb::SetText(inetd.server_type, "inetd");
  auto in = CheckMaster(Proc(100, 1, 5000, "/usr/sbin/poolftpd"), 100, inetd);
  ASSERT_FALSE(in);
  EXPECT_NE(in.error().message().find("inetd mode"), std::string::npos);
  // exe hidden from us (another user's server): the command name decides.
  ProcessInfo hidden = Proc(100, 1, 5000, "");
  hidden.exe_errno = EACCES;
  EXPECT_EQ(MasterCode(hidden, 100, h), ErrorCode::kOk);
  hidden.comm = "sleep";
  EXPECT_EQ(MasterCode(hidden, 100, h), ErrorCode::kStale);
  ProcessInfo unreadable = Proc(100, 1, 5000, "");
  unreadable.exe_errno = EIO;
  EXPECT_EQ(MasterCode(unreadable, 100, h), ErrorCode::kStale);
}

TEST(Verify, Worker) {
  const ProcessInfo master = Proc(100, 1, 5000, "/usr/sbin/poolftpd");
  auto code = [&](const ProcessInfo& w, const ProcessInfo& m) {
    auto r = CheckWorker(w, m);
    return r ? ErrorCode::kOk : r.error().code();
  };
  EXPECT_EQ(code(Proc(200, 100, 6000, "/usr/sbin/poolftpd"), master), ErrorCode::kOk);
  EXPECT_EQ(code(Proc(200, 100, 5000, "/usr/sbin/poolftpd"), master), ErrorCode::kOk);
  auto stranger = CheckWorker(Proc(200, 1, 6000, "/usr/sbin/poolftpd"), master);
  ASSERT_FALSE(stranger);
  EXPECT_EQ(stranger.error().message(), "PID 200 is not a worker of master 100 (its parent is 1)");
  EXPECT_EQ(code(Proc(200, 100, 4999, "/usr/sbin/poolftpd"), master), ErrorCode::kInvalid);
  auto exec = CheckWorker(Proc(200, 100, 6000, "/usr/bin/sleep", "sleep"), master);
  ASSERT_FALSE(exec);
  EXPECT_EQ(exec.error().message(),
            "PID 200 runs /usr/bin/sleep, not the master's /usr/sbin/poolftpd");
  EXPECT_EQ(code(Proc(200, 100, 6000, "/usr/sbin/poolftpd (deleted)"),
                 Proc(100, 1, 5000, "/usr/sbin/poolftpd (deleted)")),
            ErrorCode::kOk);
  ProcessInfo z = Proc(200, 100, 6000, "");
  z.state = 'Z';
  z.exe_errno = ENOENT;
  EXPECT_EQ(code(z, master), ErrorCode::kStale);
  // Non-dumpable worker seen by its own (non-root) user: comm decides.
  ProcessInfo hidden = Proc(200, 100, 6000, "");
  hidden.exe_errno = EACCES;
  EXPECT_EQ(code(hidden, master), ErrorCode::kOk);
  hidden.comm = "evil";
  EXPECT_EQ(code(hidden, master), ErrorCode::kInvalid);
  ProcessInfo unreadable = Proc(200, 100, 6000, "");
  unreadable.exe_errno = EIO;
  EXPECT_EQ(code(unreadable, master), ErrorCode::kInvalid);
}

// ---------------------------------------------------------------------------
// kick matching, status formatting

SlotView Session(int32_t pid, const char* user, const char* client,
                 SlotState state = SlotState::kIdle) {
  SlotView v;
  v.rec.pid = pid;
  v.rec.state = state;
  v.rec.generation = 1;
  sb::SetText(v.rec.user, user);
  sb::SetText(v.rec.client_addr, client);
  return v;
}

TEST(Kick, Matching) {
  const SlotView a = Session(10, "alice", "host.example[192.0.2.7]");
  const SlotView b = Session(11, "bob", "2001:db8::1");
  KickFilter f;
  EXPECT_FALSE(KickMatches(a, f));  // empty filter matches nothing
  f.pid = 10;
  EXPECT_TRUE(KickMatches(a, f));
  EXPECT_FALSE(KickMatches(b, f));
  f = {};
  f.user = "alice";
  EXPECT_TRUE(KickMatches(a, f));
  f.user = "Alice";  // login names are exact
  EXPECT_FALSE(KickMatches(a, f));
  f = {};
  f.host = "192.0.2.7";
  EXPECT_TRUE(KickMatches(a, f));
  f.host = "HOST.example";
  EXPECT_TRUE(KickMatches(a, f));
  f.host = "192.0.2.70";
  EXPECT_FALSE(KickMatches(a, f));
  f.host = "2001:db8::1";
  EXPECT_TRUE(KickMatches(b, f));
  EXPECT_FALSE(KickMatches(a, f));
  f.user = "alice";  // every criterion must hold
  EXPECT_FALSE(KickMatches(b, f));

  KickFilter by_pid;
  by_pid.pid = 10;
  for (SlotState s : {SlotState::kEmpty, SlotState::kStarting, SlotState::kReady}) {
    EXPECT_FALSE(KickMatches(Session(10, "alice", "x", s), by_pid)) << int(s);
  }
  for (SlotState s : {SlotState::kConnected, SlotState::kLoggedIn, SlotState::kTransferring,
                      SlotState::kClosing}) {
    EXPECT_TRUE(KickMatches(Session(10, "alice", "x", s), by_pid)) << int(s);
  }
  SlotView stale = a;
  stale.stale = true;
  EXPECT_FALSE(KickMatches(stale, by_pid));
  SlotView torn = a;
  torn.updating = true;
  EXPECT_FALSE(KickMatches(torn, by_pid));
}

HeaderView RunningHeader(int64_t now) {
  HeaderView h = MasterHeader(1234, 777);
  h.start_time_ns = now - 4380 * kSec;
  h.generation = 3;
  sb::SetText(h.config_file, "/etc/poolftpd.conf");
  return h;
}

std::vector<SlotView> RunningSlots() {
  std::vector<SlotView> slots;
  auto worker = [&](int32_t pid, uint32_t gen, SlotState s) {
    SlotView v = Session(pid, s == SlotState::kReady ? "" : "ftp", "192.0.2.7", s);
    v.rec.generation = gen;
    slots.push_back(v);
  };
  worker(10, 3, SlotState::kReady);
  worker(11, 3, SlotState::kReady);
  worker(12, 3, SlotState::kIdle);
  worker(13, 3, SlotState::kStarting);
  worker(20, 2, SlotState::kTransferring);
  worker(21, 2, SlotState::kConnected);
  SlotView stale = Session(30, "ghost", "x", SlotState::kIdle);
  stale.stale = true;
  slots.push_back(stale);
  SlotView torn = Session(31, "torn", "x", SlotState::kIdle);
  torn.updating = true;
  slots.push_back(torn);
  return slots;
}

TEST(StatusFormat, Running) {
  const int64_t now = 1'700'000'000 * kSec;
  Status s;
  s.code = kStatusRunning;
  s.message = "poolftpd is running: master PID 1234";
  s.pidfile = "/run/poolftpd/poolftpd.pid";
  s.scoreboard = "/run/poolftpd/poolftpd.scoreboard";
  FillFromScoreboard(RunningHeader(now), RunningSlots(), now, &s);
  EXPECT_EQ(s.master_pid, 1234);
  EXPECT_EQ(s.uptime_s, 4380);
  EXPECT_EQ(s.sessions, 3u);  // as ftpwho: idle, transferring, connected
  ASSERT_EQ(s.workers.size(), 2u);
  EXPECT_EQ(FormatStatusText(s),
            "poolftpd is running: master PID 1234\n"
            "  uptime:       1 hr 13 min\n"
            "  generation:   3\n"
            "  config file:  /etc/poolftpd.conf\n"
            "  PidFile:      /run/poolftpd/poolftpd.pid\n"
            "  scoreboard:   /run/poolftpd/poolftpd.scoreboard\n"
            "  workers:      generation 2: 0 idle, 2 busy (old generation)\n"
            "                generation 3: 2 idle, 1 busy, 1 starting\n"
            "  sessions:     3\n"
            "  shutdown:     none\n");
  EXPECT_EQ(
      FormatStatusJson(s),
      R"({"running":true,"state":"running","message":"poolftpd is running: master PID 1234",)"
      R"("master_pid":1234,"uptime_s":4380,"generation":3,"config_file":"/etc/poolftpd.conf",)"
      R"("workers":[{"generation":2,"idle":0,"busy":2,"starting":0},)"
      R"({"generation":3,"idle":2,"busy":1,"starting":1}],"sessions":3,)"
      R"("pidfile":"/run/poolftpd/poolftpd.pid","scoreboard":"/run/poolftpd/poolftpd.scoreboard",)"
      R"("shutdown":null})"
      "\n");
}

TEST(StatusFormat, ShutdownAndHostileText) {
  const int64_t now = 1'700'000'000 * kSec;
  HeaderView h = RunningHeader(now);
  h.shutdown_time = 1'700'003'600;
  h.deny_time = 1'700'003'000;
  h.disconnect_time = 1'700'003'300;
  sb::SetText(h.shutdown_msg, "going \"down\"\x1b[2J");
  sb::SetText(h.config_file, "/etc/\x1b]0;x\x07.conf");
  Status s;
  s.code = kStatusRunning;
  s.message = "poolftpd is running: master PID 1234";
  FillFromScoreboard(h, {}, now, &s);
  const std::string text = FormatStatusText(s);
  for (unsigned char c : text) EXPECT_TRUE(c >= 0x20 || c == '\n') << int(c);
  EXPECT_NE(text.find("  workers:      none\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  shutdown:     at "), std::string::npos) << text;
  EXPECT_NE(text.find(": \"going \"down\"\\x1b[2J\"\n"), std::string::npos) << text;
  EXPECT_NE(text.find("new logins refused from "), std::string::npos) << text;
  EXPECT_NE(text.find("sessions cut from "), std::string::npos) << text;
  const std::string json = FormatStatusJson(s);
  EXPECT_NE(json.find(R"("shutdown":{"shutdown_time":1700003600,"deny_time":1700003000,)"
                      R"("disconnect_time":1700003300,"message":"going \"down\"\u001b[2J"}})"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("config_file":"/etc/\u001b]0;x\u0007.conf")"), std::string::npos) << json;
}

TEST(StatusFormat, NotRunning) {
  Status s;
  s.code = kStatusNotRunning;
  s.message = "poolftpd is not running (no PidFile at /p)";
  s.pidfile = "/p";
  s.scoreboard = "/s";
  EXPECT_EQ(FormatStatusText(s), "poolftpd is not running (no PidFile at /p)\n");
  EXPECT_EQ(
      FormatStatusJson(s),
      R"j({"running":false,"state":"stopped","message":"poolftpd is not running (no PidFile at /p)",)j"
      R"("master_pid":null,"uptime_s":null,"generation":null,"config_file":null,"workers":[],)"
      R"("sessions":0,"pidfile":"/p","scoreboard":"/s","shutdown":null})"
      "\n");
  s.code = kStatusDead;
  EXPECT_NE(FormatStatusJson(s).find(R"("state":"dead")"), std::string::npos);
  s.code = kStatusUnknown;
  EXPECT_NE(FormatStatusJson(s).find(R"("state":"unknown")"), std::string::npos);
}

// ---------------------------------------------------------------------------
// Paths

TEST(Paths, Resolution) {
  TempDir dir;
  const std::string conf = dir.File("poolftpd.conf");
  WriteFile(conf, "ServerName x\nPidFile \"/run/a b.pid\"\nScoreboardFile /run/a.sb\n");
  Options o;
  o.config = conf;
  auto p = ResolvePaths(o);
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->pidfile, "/run/a b.pid");
  EXPECT_EQ(p->scoreboard, "/run/a.sb");
  o.pidfile = "/x.pid";
  p = ResolvePaths(o);
  EXPECT_EQ(p->pidfile, "/x.pid");
  EXPECT_EQ(p->scoreboard, "/run/a.sb");
  o.scoreboard = "/x.sb";
  o.config = dir.File("missing.conf");  // not read when both are given
  p = ResolvePaths(o);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->scoreboard, "/x.sb");

  Options only_pid;
  only_pid.config = dir.File("only.conf");
  WriteFile(*only_pid.config, "PidFile /run/only.pid\n");
  p = ResolvePaths(only_pid);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->pidfile, "/run/only.pid");
  EXPECT_EQ(p->scoreboard, POOLFTPD_SCOREBOARD_FILE);

  Options bad;
  bad.config = dir.File("missing.conf");
  auto err = ResolvePaths(bad);
  ASSERT_FALSE(err);
  EXPECT_NE(err.error().message().find("cannot read config " + *bad.config), std::string::npos);

  auto def = ResolvePaths(Options{});
  ASSERT_TRUE(def);
  EXPECT_FALSE(def->pidfile.empty());
  EXPECT_FALSE(def->scoreboard.empty());
}

// PidFile/ScoreboardFile through the config library: Include, <IfDefine>
// with -D, and a broken config reported at file:line.
TEST(Paths, IncludeAndIfDefine) {
  TempDir dir;
  const std::string conf = dir.File("poolftpd.conf");
  const std::string inc = dir.File("inc.conf");
  WriteFile(inc, "PidFile /run/inc.pid\n");
  WriteFile(conf, "Include " + inc +
                      "\n<IfDefine TEST>\nScoreboardFile /run/test.sb\nPidFile /run/test.pid\n"
                      "</IfDefine>\n");
  auto args = ParseArgs({"-c", conf, "-D", "TEST", "--define=OTHER", "status"});
  ASSERT_TRUE(args) << args.error().context();
  EXPECT_EQ(args->defines, (std::vector<std::string>{"TEST", "OTHER"}));
  Options o;
  o.config = conf;
  auto p = ResolvePaths(o);
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->pidfile, "/run/inc.pid");
  EXPECT_EQ(p->scoreboard, POOLFTPD_SCOREBOARD_FILE);
  o.defines = {"TEST"};
  p = ResolvePaths(o);
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->pidfile, "/run/test.pid");
  EXPECT_EQ(p->scoreboard, "/run/test.sb");
  WriteFile(conf, "ServerName x\n<IfDefine TEST>\n");
  auto err = ResolvePaths(o);
  ASSERT_FALSE(err);
  EXPECT_EQ(err.error().context().rfind(conf + ":2:", 0), 0u) << err.error().context();
  // As ftpdctl runs it: the error is handed back, the paths set before it kept.
  WriteFile(conf, "PidFile /run/before.pid\nNoSuchDirective 1\nScoreboardFile /run/after.sb\n");
  std::string config_error;
  p = ResolvePaths(o, &config_error);
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(config_error.rfind(conf + ":2: ", 0), 0u) << config_error;
  EXPECT_EQ(p->pidfile, "/run/before.pid");
  EXPECT_EQ(p->scoreboard, POOLFTPD_SCOREBOARD_FILE);
  // An unreadable config stays an error.
  o.config = dir.File("missing.conf");
  EXPECT_FALSE(ResolvePaths(o, &config_error));
}

TEST(Paths, InetdScoreboardHasNoMaster) {
  TempDir dir;
  const Paths paths{dir.File("poolftpd.pid"), dir.File("poolftpd.scoreboard")};
  auto board = sb::Scoreboard::OpenOrCreateShared(paths.scoreboard, 4, "inetd");
  ASSERT_TRUE(board) << board.error().message();
  auto slot = board->ClaimFreeSlot(::getpid());
  ASSERT_TRUE(slot);
  sb::SlotRecord r;
  r.pid = ::getpid();
  r.state = SlotState::kIdle;
  board->Publish(*slot, r);
  Status s = GetStatus(paths);
  EXPECT_EQ(s.code, kStatusNotRunning) << s.message;
  EXPECT_EQ(s.message, "poolftpd is not running as a daemon (inetd mode: 1 session)");
  // A PidFile naming a live process does not make an inetd scoreboard a
  // master's: nothing to verify against.
  WriteFile(paths.pidfile, std::to_string(::getpid()) + "\n");
  s = GetStatus(paths);
  EXPECT_EQ(s.code, kStatusDead) << s.message;
  EXPECT_NE(s.message.find("inetd mode"), std::string::npos) << s.message;
}

// ---------------------------------------------------------------------------
// GetStatus and the binary against a fake server

struct RunResult {
  int status = -1;
  std::string out, err;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool Alive(pid_t pid) {
  auto p = ReadProcessInfo(pid);
  return p && !p->zombie();
}

// A copy of /bin/sh named poolftpd running "(read x < fifo) & wait": the
// master, and its forked subshell (same exe, parent = master): a worker.
// Plus a scoreboard and a PidFile that name them, and an unrelated process
// (`sleep`) for the forgeries.
class FakeServer : public ::testing::Test {
 protected:
  void SetUp() override {
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    ctl_ = (exe.parent_path().parent_path() / "ftpdctl").string();
    exe_ = dir_.File("poolftpd");
    fifo_ = dir_.File("fifo");
    pidfile_ = dir_.File("poolftpd.pid");
    board_ = dir_.File("poolftpd.scoreboard");
    scratch_ = dir_.File("scratch");
    ASSERT_EQ(::mkdir(scratch_.c_str(), 0700), 0);
    std::filesystem::copy_file("/bin/sh", exe_, ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_EQ(::chmod(exe_.c_str(), 0755), 0);
    ASSERT_EQ(::mkfifo(fifo_.c_str(), 0600), 0);

    master_ = ::fork();
    if (master_ == 0) {
      // Default HUP/TERM/INT dispositions and an empty mask, whatever the
      // test runner inherited (nohup ignores HUP): a signal ends the fake
      // master as it would end an unprepared process.
      for (int s : {SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2}) ::signal(s, SIG_DFL);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      const std::string script = "(read x < " + fifo_ + ") & wait";
      ::execl(exe_.c_str(), "poolftpd", "-c", script.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ASSERT_GT(master_, 0);
    // The worker: the master's child.
    for (int i = 0; i < 500 && worker_ == 0; ++i) {
      for (const auto& e : std::filesystem::directory_iterator("/proc")) {
        const std::string name = e.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        auto p = ReadProcessInfo(std::stoi(name));
        if (p && p->ppid == master_ && p->exe == exe_) worker_ = p->pid;
      }
      if (!worker_) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_GT(worker_, 0) << "the fake master forked no worker";
    // The stranger must start in another clock tick than the master, or a
    // forged header with the master's start time would match it too (the
    // "PID was reused" case); a worker found at once leaves both in one tick.
    const uint64_t master_ticks = ReadProcessInfo(master_)->start_ticks;
    for (int i = 0; i < 100; ++i) {
      stranger_ = ::fork();
      if (stranger_ == 0) {
        ::execl("/bin/sleep", "sleep", "60", static_cast<char*>(nullptr));
        ::_exit(127);
      }
      ASSERT_GT(stranger_, 0);
      auto info = ReadProcessInfo(stranger_);
      if (info && info->start_ticks != master_ticks) break;
      ::kill(stranger_, SIGKILL);
      ::waitpid(stranger_, nullptr, 0);
      stranger_ = 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_GT(stranger_, 0) << "no stranger started outside the master's clock tick";

    // A scoreboard left by a dead master, then pointed at the fake one.
    const pid_t creator = ::fork();
    if (creator == 0) ::_exit(sb::Scoreboard::Create(board_, 4, "fake", 2) ? 0 : 1);
    ASSERT_EQ(ExitCode(creator), 0);
    auto master_info = ReadProcessInfo(master_);
    ASSERT_TRUE(master_info);
    PatchHeader(master_, master_info->start_ticks);
    auto board = sb::Scoreboard::Open(board_, true);
    ASSERT_TRUE(board) << board.error().message();
    board->SetGeneration(1);
    board->SetConfigFile("/etc/fake.conf");
    sb::SlotRecord w;
    w.pid = worker_;
    w.generation = 1;
    w.state = SlotState::kIdle;
    w.session_start_ns = 1;
    sb::SetText(w.user, "anonymous");
    sb::SetText(w.client_addr, "127.0.0.1");
    board->Publish(0, w);
    sb::SlotRecord forged = w;
    forged.pid = stranger_;
    sb::SetText(forged.user, "forged");
    board->Publish(1, forged);
    WriteFile(pidfile_, std::to_string(master_) + "\n");
  }

  void TearDown() override {
    for (pid_t* p : {&worker_, &master_, &stranger_}) {
      if (*p > 0 && Alive(*p)) ::kill(*p, SIGKILL);
    }
    for (pid_t p : {master_, stranger_}) {
      if (p > 0) ::waitpid(p, nullptr, 0);
    }
  }

  void PatchHeader(int32_t pid, uint64_t ticks) {
    const int fd = ::open(board_.c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, &pid, 4, offsetof(sb::Header, master_pid)), 4);
    ASSERT_EQ(::pwrite(fd, &ticks, 8, offsetof(sb::Header, master_start_ticks)), 8);
    ::close(fd);
  }

  RunResult Ctl(std::vector<std::string> args) {
    RunResult r;
    if (::access(ctl_.c_str(), X_OK) != 0) {
      ADD_FAILURE() << ctl_ << " is not built";
      return r;
    }
    args.insert(args.begin(), {"-p", pidfile_, "-f", board_});
    const std::string out_path = scratch_ + "/out", err_path = scratch_ + "/err";
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (out < 0 || err < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(127);
      std::vector<char*> argv = {const_cast<char*>(ctl_.c_str())};
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(ctl_.c_str(), argv.data());
      ::_exit(127);
    }
    r.status = ExitCode(pid);
    r.out = Slurp(out_path);
    r.err = Slurp(err_path);
    return r;
  }

  Paths paths() const { return Paths{pidfile_, board_}; }

  TempDir dir_;
  std::string ctl_, exe_, fifo_, pidfile_, board_, scratch_;
  pid_t master_ = 0, worker_ = 0, stranger_ = 0;
};

TEST_F(FakeServer, StatusRunning) {
  const Status s = GetStatus(paths());
  EXPECT_EQ(s.code, kStatusRunning) << s.message;
  EXPECT_EQ(s.master_pid, master_);
  EXPECT_EQ(s.config_file, "/etc/fake.conf");
  EXPECT_EQ(s.sessions, 2u);

  RunResult r = Ctl({"status"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("poolftpd is running: master PID " + std::to_string(master_)),
            std::string::npos)
      << r.out;
  RunResult j = Ctl({"--json", "status"});
  EXPECT_EQ(j.status, 0) << j.err;
  EXPECT_EQ(j.out.rfind("{\"running\":true,", 0), 0u) << j.out;
}

TEST_F(FakeServer, StatusOfStoppedDeadAndUntrustedServers) {
  // A PID reused by another program: dead, PidFile left (1).
  PatchHeader(master_, ReadProcessInfo(master_)->start_ticks + 1);
  Status s = GetStatus(paths());
  EXPECT_EQ(s.code, kStatusDead) << s.message;
  EXPECT_NE(s.message.find("the PID was reused"), std::string::npos) << s.message;

  // The PidFile names an unrelated live process: dead (1), never "running".
  PatchHeader(master_, ReadProcessInfo(master_)->start_ticks);
  WriteFile(pidfile_, std::to_string(stranger_) + "\n");
  s = GetStatus(paths());
  EXPECT_EQ(s.code, kStatusUnknown) << s.message;  // PidFile and scoreboard disagree
  RunResult r = Ctl({"status"});
  EXPECT_EQ(r.status, 4);
  EXPECT_NE(r.err.find("the PidFile names PID " + std::to_string(stranger_)), std::string::npos)
      << r.err;

  // Untrusted files: unknown (4), naming the file.
  WriteFile(pidfile_, std::to_string(master_) + "\n", 0664);
  r = Ctl({"status"});
  EXPECT_EQ(r.status, 4);
  EXPECT_NE(r.err.find("refusing PidFile " + pidfile_), std::string::npos) << r.err;
  WriteFile(pidfile_, std::to_string(master_) + "\n");
  ASSERT_EQ(::chmod(board_.c_str(), 0646), 0);
  r = Ctl({"--json", "status"});
  EXPECT_EQ(r.status, 4);
  EXPECT_NE(r.err.find("refusing scoreboard " + board_), std::string::npos) << r.err;
  EXPECT_NE(r.out.find(R"("state":"unknown")"), std::string::npos) << r.out;
  ASSERT_EQ(::chmod(board_.c_str(), 0644), 0);

  // A PID that is gone: dead (1).
  const pid_t gone = ::fork();
  if (gone == 0) ::_exit(0);
  ::waitpid(gone, nullptr, 0);
  WriteFile(pidfile_, std::to_string(gone) + "\n");
  r = Ctl({"status"});
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("is left"), std::string::npos) << r.out;

  // No PidFile: not running (3), unless the scoreboard's master lives (4).
  ASSERT_EQ(::unlink(pidfile_.c_str()), 0);
  r = Ctl({"status"});
  EXPECT_EQ(r.status, 4) << r.out;
  EXPECT_NE(r.err.find("there is no PidFile"), std::string::npos) << r.err;
  PatchHeader(0, 0);
  r = Ctl({"status"});
  EXPECT_EQ(r.status, 3) << r.err;
  EXPECT_EQ(r.out, "poolftpd is not running (no PidFile at " + pidfile_ + ")\n");
  ASSERT_EQ(::unlink(board_.c_str()), 0);
  r = Ctl({"--json", "status"});
  EXPECT_EQ(r.status, 3);
  EXPECT_EQ(r.out.rfind("{\"running\":false,\"state\":\"stopped\"", 0), 0u) << r.out;
}

TEST_F(FakeServer, KickAndKillReachOnlyVerifiedWorkers) {
  // The forged slot (an unrelated process) is refused, by PID and by user.
  RunResult r = Ctl({"kick", "--pid", std::to_string(stranger_)});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("refusing to signal PID " + std::to_string(stranger_)), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("is not a worker of master"), std::string::npos) << r.err;
  r = Ctl({"kick", "user", "forged"});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(Alive(stranger_));
  // Nothing matched: exit 1 and say so on stderr, as pkill(1) does.
  r = Ctl({"kick", "--user", "nobody-here"});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("no session matches"), std::string::npos) << r.err;
  r = Ctl({"--json", "kick", "--host", "192.0.2.99"});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.out.find("\"ok\":false"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"errors\":[\"no session matches\"]"), std::string::npos) << r.out;

  // kill --who workers: the real worker gets it, the stranger never.
  r = Ctl({"--json", "kill", "--who", "workers", "--signal", "USR2"});
  EXPECT_EQ(r.status, 1) << "the forged slot must be reported";
  EXPECT_NE(r.out.find("{\"pid\":" + std::to_string(worker_) + ",\"role\":\"worker\"}"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("{\"pid\":" + std::to_string(stranger_)), std::string::npos) << r.out;
  for (int i = 0; i < 500 && Alive(worker_); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(Alive(worker_)) << "USR2 did not reach the worker";
  EXPECT_TRUE(Alive(stranger_)) << "an unrelated process was signalled";
}

TEST_F(FakeServer, KickByPidReachesTheWorker) {
  RunResult r = Ctl({"kick", std::to_string(worker_)});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "kicked the session of worker " + std::to_string(worker_) +
                       " (user anonymous from 127.0.0.1)\n");
  for (int i = 0; i < 500 && Alive(worker_); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(Alive(worker_));
  EXPECT_TRUE(Alive(stranger_));
}

TEST_F(FakeServer, ForgedPidFileIsRefused) {
  for (const auto& args : {std::vector<std::string>{"stop"}, std::vector<std::string>{"reload"},
                           std::vector<std::string>{"kill", "--signal", "KILL"},
                           std::vector<std::string>{"kill", "--who", "all"}}) {
    WriteFile(pidfile_, std::to_string(stranger_) + "\n");
    RunResult r = Ctl(args);
    EXPECT_EQ(r.status, 1) << args[0];
    EXPECT_NE(r.err.find("refusing to signal PID " + std::to_string(stranger_)), std::string::npos)
        << r.err;
    // Even when the scoreboard is forged to agree, the start time does not.
    PatchHeader(stranger_, ReadProcessInfo(master_)->start_ticks);
    r = Ctl(args);
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("the PID was reused"), std::string::npos) << r.err;
    // And with its real start time, it is not a poolftpd binary.
    PatchHeader(stranger_, ReadProcessInfo(stranger_)->start_ticks);
    r = Ctl(args);
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("not poolftpd"), std::string::npos) << r.err;
    EXPECT_TRUE(Alive(stranger_));
    EXPECT_TRUE(Alive(worker_)) << "kill --who all must not run past a refused master";
    PatchHeader(master_, ReadProcessInfo(master_)->start_ticks);
  }
  EXPECT_TRUE(Alive(master_));
}

TEST_F(FakeServer, StopWaitsForTheMaster) {
  RunResult r = Ctl({"stop"});
  ASSERT_EQ(r.status, 0) << r.err;  // else no TERM was sent: nothing to wait for
  EXPECT_NE(r.out.find("poolftpd stopped (master " + std::to_string(master_) + " exited)"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(ExitCode(master_), 128 + SIGTERM);
  master_ = 0;
  r = Ctl({"stop"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("which is not running"), std::string::npos) << r.err;
}

TEST_F(FakeServer, ReloadReportsAMissingNewGeneration) {
  // The fake master ignores nothing: HUP ends it, so no generation comes.
  RunResult r = Ctl({"reload", "--timeout", "1"});
  ASSERT_EQ(r.status, 1) << r.err;  // else no HUP was sent: nothing to wait for
  EXPECT_NE(r.out.find("sent HUP to master " + std::to_string(master_)), std::string::npos)
      << r.out;
  EXPECT_TRUE(r.err.find("exited during the reload") != std::string::npos ||
              r.err.find("did not start a new generation") != std::string::npos)
      << r.err;
  // The HUP ends the fake master, however long a loaded machine takes to
  // run it: once it is gone, a reload says so.
  EXPECT_EQ(ExitCode(master_), 128 + SIGHUP);
  master_ = 0;
  r = Ctl({"reload", "--timeout", "0"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("which is not running"), std::string::npos) << r.err;
}

TEST_F(FakeServer, HelpAndUsage) {
  RunResult h = Ctl({"--help"});
  EXPECT_EQ(h.status, 0);
  EXPECT_NE(h.out.find("usage: ftpdctl"), std::string::npos);
  RunResult v = Ctl({"-V"});
  EXPECT_EQ(v.out, std::string("ftpdctl (poolftpd) ") + POOLFTPD_VERSION + "\n");
  RunResult bad = Ctl({"frobnicate"});
  EXPECT_EQ(bad.status, 2);
  EXPECT_EQ(bad.err,
            "ftpdctl: unknown command 'frobnicate'\nTry 'ftpdctl --help' for more information.\n");
  RunResult none = Ctl({});
  EXPECT_EQ(none.status, 2);
  EXPECT_NE(h.out.find("  debug N "), std::string::npos) << "--help lists debug";
  RunResult debug = Ctl({"debug", "10"});
  EXPECT_EQ(debug.status, 2);
  EXPECT_EQ(debug.err,
            "ftpdctl: bad debug level '10' (0-9)\nTry 'ftpdctl --help' for more information.\n");
}

}  // namespace
}  // namespace poolftpd::ftpdctl
