// Unit tests for master's PidFile: atomic "PID\n" file, removal by the
// owner only, and the fork-safe owner check (a worker's copy never unlinks);
// and for SpawnGuard: which worker deaths count as crashes, and the spawn
// back-off (pauses logged, not re-armed by deaths during a pause, reset
// after a quiet period, ended by a working fork), on an injected clock.
#include <fcntl.h>
#include <signal.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "poolftpd/master/pidfile.h"
#include "poolftpd/master/spawn_guard.h"

namespace poolftpd::master {
namespace {

class TempDir {
 public:
  TempDir() {
    const char* tmp = ::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/master_test.XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) std::abort();
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename());
  return out;
}

// Runs `fn` in a forked child and returns its exit status (0 = success).
template <class Fn>
int InChild(Fn fn) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    fn();
    ::_exit(0);  // no gtest teardown, no static destructors in the child
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(PidFileTest, WritesPidAndNewline) {
  TempDir dir;
  const std::string path = dir / "poolftpd.pid";
  PidFile pf;
  ASSERT_TRUE(pf.Write(path));
  EXPECT_EQ(ReadFile(path), std::to_string(::getpid()) + "\n");
  // No temp file is left behind.
  EXPECT_EQ(Entries(dir.path()), std::vector<std::string>{"poolftpd.pid"});
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0022, 0u) << "pid file must not be group/world-writable";
}

TEST(PidFileTest, ReplacesStaleFileAtomically) {
  TempDir dir;
  const std::string path = dir / "poolftpd.pid";
  {
    std::ofstream f(path);
    f << "999999 and a much longer stale content\n";
  }
  struct stat before {};
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  // A reader holding the old file sees old content, never a half-written one.
  const int old_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(old_fd, 0);
  PidFile pf;
  ASSERT_TRUE(pf.Write(path));
  EXPECT_EQ(ReadFile(path), std::to_string(::getpid()) + "\n");
  struct stat after {};
  ASSERT_EQ(::stat(path.c_str(), &after), 0);
  EXPECT_NE(before.st_ino, after.st_ino) << "written as a new file and renamed into place";
  char buf[64] = {};
  EXPECT_GT(::pread(old_fd, buf, sizeof buf - 1, 0), 0);
  EXPECT_EQ(std::string(buf).rfind("999999", 0), 0u);
  ::close(old_fd);
}

TEST(PidFileTest, DoesNotFollowSymlinkedTempName) {
  // The temp name is predictable (path.tmp.PID): a symlink planted there
  // must not make us write through it.
  TempDir dir;
  const std::string path = dir / "poolftpd.pid";
  const std::string victim = dir / "victim";
  {
    std::ofstream f(victim);
    f << "precious\n";
  }
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  ASSERT_EQ(::symlink(victim.c_str(), tmp.c_str()), 0);
  PidFile pf;
  auto r = pf.Write(path);
  EXPECT_EQ(ReadFile(victim), "precious\n");
  if (r) {
    EXPECT_EQ(ReadFile(path), std::to_string(::getpid()) + "\n");
  }
}

TEST(PidFileTest, WriteFailsInMissingDirectory) {
  TempDir dir;
  PidFile pf;
  auto r = pf.Write(dir / "no/such/dir/poolftpd.pid");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kSystem);
  EXPECT_EQ(r.error().sys_errno(), ENOENT);
  EXPECT_NE(r.error().context().find("no/such/dir"), std::string::npos);
  pf.Remove();  // nothing was written: no-op, no crash
}

TEST(PidFileTest, WriteFailsWhenTargetIsDirectory) {
  TempDir dir;
  const std::string path = dir / "poolftpd.pid";
  ASSERT_EQ(::mkdir(path.c_str(), 0755), 0);
  {
    PidFile pf;
    auto r = pf.Write(path);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kSystem);
  }
  // The directory survives the failed write and the destructor, and no temp
  // file is left behind.
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(Entries(dir.path()), std::vector<std::string>{"poolftpd.pid"});
}

TEST(PidFileTest, RemoveUnlinks) {
  TempDir dir;
  const std::string path = dir / "poolftpd.pid";
  PidFile pf;
  ASSERT_TRUE(pf.Write(path));
  pf.Remove();
  EXPECT_FALSE(Exists(path));
  pf.Remove();  // twice is harmless
  EXPECT_FALSE(Exists(path));
}

TEST(PidFileTest, DestructorUnlinks) {
  TempDir dir;
  const std::string path = dir / "poolftpd.pid";
  {
    PidFile pf;
    ASSERT_TRUE(pf.Write(path));
    EXPECT_TRUE(Exists(path));
  }
  EXPECT_FALSE(Exists(path));
}

TEST(PidFileTest, RemoveAfterRemoveDoesNotTouchNewFile) {
  // After Remove(), a file another master later writes at the same path is
  // not ours to delete.
  TempDir dir;
  const std::string path = dir / "poolftpd.pid";
  {
    PidFile pf;
    ASSERT_TRUE(pf.Write(path));
    pf.Remove();
    std::ofstream f(path);
    f << "12345\n";
  }
  EXPECT_EQ(ReadFile(path), "12345\n");
}

TEST(PidFileTest, ForkedChildRemoveDoesNotUnlink) {
  TempDir dir;
  const std::string path = dir / "poolftpd.pid";
  PidFile pf;
  ASSERT_TRUE(pf.Write(path));
  const int rc = InChild([&] {
    pf.Remove();
    ::_exit(Exists(path) ? 0 : 1);
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(Exists(path));
  EXPECT_EQ(ReadFile(path), std::to_string(::getpid()) + "\n");
}

TEST(PidFileTest, ForkedChildDestructorDoesNotUnlink) {
  TempDir dir;
  const std::string path = dir / "poolftpd.pid";
  auto* pf = new PidFile;
  ASSERT_TRUE(pf->Write(path));
  const int rc = InChild([&] {
    delete pf;  // the child's copy of the owner object
    ::_exit(Exists(path) ? 0 : 1);
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(Exists(path));
  // The owner still removes it.
  delete pf;
  EXPECT_FALSE(Exists(path));
}

}  // namespace
}  // namespace poolftpd::master

// ---- SpawnGuard: death classification and the spawn back-off ----

namespace poolftpd::master {
namespace {

int Signalled(int sig) { return sig & 0x7f; }  // a wait status: killed by `sig`
int Exited(int code) { return (code & 0xff) << 8; }

bool AnyContains(const std::vector<std::string>& lines, const std::string& what) {
  for (const auto& l : lines)
    if (l.find(what) != std::string::npos) return true;
  return false;
}

TEST(ClassifyDeath, OutsideSignalsAreNotCrashes) {
  ASSERT_TRUE(WIFSIGNALED(Signalled(SIGKILL)) && WTERMSIG(Signalled(SIGKILL)) == SIGKILL);
  ASSERT_TRUE(WIFEXITED(Exited(2)) && WEXITSTATUS(Exited(2)) == 2);
  EXPECT_EQ(ClassifyDeath(Exited(0), false), DeathKind::kExpected);
  EXPECT_EQ(ClassifyDeath(Signalled(SIGTERM), true), DeathKind::kExpected);
  EXPECT_EQ(ClassifyDeath(Signalled(SIGKILL), true), DeathKind::kExpected);
  EXPECT_EQ(ClassifyDeath(Signalled(SIGKILL), false), DeathKind::kOutsideSignal);
  EXPECT_EQ(ClassifyDeath(Signalled(SIGTERM), false), DeathKind::kOutsideSignal);
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS}) {
    EXPECT_EQ(ClassifyDeath(Signalled(sig), false), DeathKind::kCrash) << sig;
    EXPECT_EQ(ClassifyDeath(Signalled(sig), true), DeathKind::kCrash) << sig;
  }
  EXPECT_EQ(ClassifyDeath(Exited(2), false), DeathKind::kCrash);
  EXPECT_EQ(ClassifyDeath(Exited(3), false), DeathKind::kCrash);
  EXPECT_EQ(SignalName(SIGKILL), "SIGKILL");
  EXPECT_EQ(SignalName(SIGINT), "SIGINT");
  EXPECT_EQ(SignalName(SIGSEGV), "SIGSEGV");
}

TEST(SpawnGuard, OutsideKillsNeverPause) {
  SpawnGuard g;
  for (int i = 0; i < 1000; ++i) g.OnDeath(DeathKind::kOutsideSignal, false, i);
  g.Poll(1000);
  EXPECT_FALSE(g.Paused());
  EXPECT_TRUE(g.TakeMessages().empty());
}

TEST(SpawnGuard, TenCrashesPauseOnceAndDeathsDuringThePauseDoNotRearmIt) {
  SpawnGuard g;
  int64_t t = 0;
  for (int i = 0; i < 9; ++i) g.OnDeath(DeathKind::kCrash, false, t += 10);
  EXPECT_FALSE(g.Paused());
  g.OnDeath(DeathKind::kCrash, false, t += 10);
  EXPECT_TRUE(g.Paused());
  EXPECT_EQ(g.pause_ms(), 1000);
  auto m = g.TakeMessages();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_NE(m[0].find("10 workers crashed within 10.0 s"), std::string::npos) << m[0];
  EXPECT_NE(m[0].find("paused for 1.0 s"), std::string::npos) << m[0];
  // The trickle worker keeps dying: the pause is neither doubled nor extended.
  for (int i = 0; i < 40; ++i) g.OnDeath(DeathKind::kCrash, false, t += 10);
  EXPECT_EQ(g.pause_ms(), 1000);
  EXPECT_TRUE(g.TakeMessages().empty());
  g.Poll(t = 100 + 1000);
  EXPECT_FALSE(g.Paused());
  m = g.TakeMessages();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_NE(m[0].find("spawning resumed after 1.0 s"), std::string::npos) << m[0];
}

TEST(SpawnGuard, CrashLoopDoublesUpToTheCapThenQuietResets) {
  SpawnGuard g;
  int64_t t = 0;
  std::vector<int> pauses;
  for (int round = 0; round < 9; ++round) {
    for (int i = 0; i < 10; ++i) g.OnDeath(DeathKind::kCrash, false, t += 1);
    ASSERT_TRUE(g.Paused());
    pauses.push_back(g.pause_ms());
    g.Poll(t += g.pause_ms());
    ASSERT_FALSE(g.Paused());
  }
  EXPECT_EQ(pauses, (std::vector<int>{1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000}));
  // Quiet for the reset period after the pause ended: short again.
  g.TakeMessages();
  g.Poll(t += 9999);
  EXPECT_TRUE(g.TakeMessages().empty());
  g.Poll(t += 1);
  EXPECT_TRUE(AnyContains(g.TakeMessages(), "back-off reset"));
  for (int i = 0; i < 10; ++i) g.OnDeath(DeathKind::kCrash, false, t += 1);
  EXPECT_EQ(g.pause_ms(), 1000);
}

TEST(SpawnGuard, BurstsSeventeenSecondsApartStayShort) {
  SpawnGuard g;
  int64_t t = 0;
  for (int burst = 0; burst < 4; ++burst) {
    for (int i = 0; i < 10; ++i) g.OnDeath(DeathKind::kCrash, false, t + i);
    EXPECT_EQ(g.pause_ms(), 1000) << "burst " << burst;
    for (int64_t step = 0; step < 17000; step += 500) g.Poll(t + step);
    t += 17000;
  }
}

TEST(SpawnGuard, FatalExitPausesAtOnce) {
  SpawnGuard g;
  g.OnDeath(DeathKind::kCrash, true, 5);
  EXPECT_TRUE(g.Paused());
  EXPECT_TRUE(AnyContains(g.TakeMessages(), "could not start"));
}

TEST(SpawnGuard, ForkFailuresLogOncePerPauseAndEndWhenForkWorks) {
  SpawnGuard g;
  g.OnForkFailed(EAGAIN, 100);
  EXPECT_TRUE(g.Paused());
  auto m = g.TakeMessages();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_NE(m[0].find("fork failed"), std::string::npos) << m[0];
  EXPECT_NE(m[0].find("errno 11"), std::string::npos) << m[0];
  EXPECT_NE(m[0].find("paused for 1.0 s"), std::string::npos) << m[0];
  // One trickle attempt a second, each failing: no new line.
  EXPECT_TRUE(g.TakeTrickle(100));
  EXPECT_FALSE(g.TakeTrickle(500));
  g.OnForkFailed(EAGAIN, 100);
  EXPECT_TRUE(g.TakeTrickle(1100));
  g.OnForkFailed(EAGAIN, 1100);
  EXPECT_TRUE(g.TakeMessages().empty());
  // The pause runs out while fork still fails: end, then a longer pause.
  g.Poll(1100);
  EXPECT_FALSE(g.Paused());
  EXPECT_TRUE(AnyContains(g.TakeMessages(), "spawning resumed after 1.0 s"));
  g.OnForkFailed(EAGAIN, 1101);
  EXPECT_EQ(g.pause_ms(), 2000);
  EXPECT_EQ(g.TakeMessages().size(), 1u);
  // The limit is raised: the next trickle fork works and the pause ends now.
  ASSERT_TRUE(g.TakeTrickle(2200));
  g.OnForkOk(2200);
  EXPECT_FALSE(g.Paused());
  m = g.TakeMessages();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_NE(m[0].find("fork works again"), std::string::npos) << m[0];
}

TEST(SpawnGuard, ForkErrorDuringACrashPauseIsLoggedOnce) {
  SpawnGuard g;
  g.OnDeath(DeathKind::kCrash, true, 0);
  g.TakeMessages();
  g.OnForkFailed(ENOMEM, 10);
  g.OnForkFailed(ENOMEM, 20);
  auto m = g.TakeMessages();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_NE(m[0].find("fork failed"), std::string::npos) << m[0];
}

}  // namespace
}  // namespace poolftpd::master
