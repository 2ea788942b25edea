// Unit tests for master's PidFile: atomic "PID\n" file, removal by the
// owner only, and the fork-safe owner check (a worker's copy never unlinks);
// and for SpawnGuard: which worker deaths count as crashes, and the spawn
// back-off (pauses logged, not re-armed by deaths during a pause, reset
// after a quiet period, ended by a working fork), on an injected clock; and
// for PoolPolicy: the spare-worker arithmetic, the spawn ramp, the exit codes
// and the back-off's trickle, on fake child tables and clocks.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "poolftpd/master/pidfile.h"
#include "poolftpd/master/pool_policy.h"
#include "poolftpd/master/spawn_guard.h"
#include "poolftpd/worker/worker.h"

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

// ---- PoolPolicy: spare arithmetic, spawn ramp, exit codes, trickle ----

using sb::SlotState;

constexpr uint32_t kGen = 7;

// A fake child table: pids from 100 in the order added.
class Table {
 public:
  Table& Add(SlotState state, uint32_t generation = kGen, bool leaving = false) {
    const size_t slot = kids_.size();
    kids_.push_back(PoolChild{static_cast<pid_t>(100 + slot), slot, generation, leaving, state});
    return *this;
  }
  Table& Add(int n, SlotState state, uint32_t generation = kGen, bool leaving = false) {
    for (int i = 0; i < n; ++i) Add(state, generation, leaving);
    return *this;
  }
  std::span<const PoolChild> span() const { return kids_; }

 private:
  std::vector<PoolChild> kids_;
};

PoolLimits Lim(int min_spare, int max_spare, int max_clients) {
  return PoolLimits{min_spare, max_spare, max_clients};
}

std::vector<size_t> Retired(const PoolPolicy::Settled& s) {
  return {s.retire.begin(), s.retire.end()};
}

TEST(PoolPolicy, CountsIdleOfTheCurrentGenerationAndBusyOfAll) {
  Table t;
  t.Add(SlotState::kReady)
      .Add(SlotState::kStarting)
      .Add(SlotState::kReady, kGen - 1)                // old generation: not idle
      .Add(SlotState::kReady, kGen, /*leaving=*/true)  // told to leave: not idle
      .Add(SlotState::kConnected, kGen - 1)            // busy, any generation
      .Add(SlotState::kLoggedIn)
      .Add(SlotState::kIdle)
      .Add(SlotState::kTransferring, kGen, true)
      .Add(SlotState::kClosing);
  const PoolPolicy::Counts n = PoolPolicy::Count(t.span(), kGen);
  EXPECT_EQ(n.idle, 2);
  EXPECT_EQ(n.busy, 5);
}

TEST(PoolPolicy, MinSpareReachedSpawnsNothing) {
  PoolPolicy p;
  Table t;
  t.Add(5, SlotState::kReady).Add(20, SlotState::kIdle);
  const auto plan = p.MakePlan(t.span(), Lim(5, 10, 100), kGen, /*accepted=*/30, 0);
  EXPECT_EQ(plan.counts.idle, 5);
  EXPECT_LE(plan.want, 0);  // accepts add nothing while the pool is not short
  EXPECT_FALSE(plan.spawn_pass);
  EXPECT_FALSE(plan.trickle);
  const auto s = p.Settle(t.span(), Lim(5, 10, 100), kGen, plan, false);
  EXPECT_EQ(s.not_spawning, nullptr);
  EXPECT_TRUE(s.retire.empty());
  EXPECT_FALSE(s.full_listening);
  // Nothing was short this second: the rate stays at the initial one.
  EXPECT_EQ(p.OnTick().new_rate, PoolPolicy::kInitialSpawnRate);
}

TEST(PoolPolicy, ShortSpawnsTheMissingAndReplacesEachAcceptUpToMaxSpare) {
  PoolPolicy p;
  Table t;
  t.Add(2, SlotState::kReady).Add(3, SlotState::kConnected);
  auto plan = p.MakePlan(t.span(), Lim(5, 10, 100), kGen, 0, 0);
  EXPECT_TRUE(plan.spawn_pass);
  EXPECT_EQ(plan.want, 3);
  EXPECT_EQ(plan.spawn, 3);
  EXPECT_EQ(plan.room, 95);
  // Six accepts since the last pass: each is replaced (6 > the 3 missing).
  plan = p.MakePlan(t.span(), Lim(5, 10, 100), kGen, 6, 0);
  EXPECT_EQ(plan.spawn, 6);
  // ... but never past MaxSpareServers idle (10 - 2).
  plan = p.MakePlan(t.span(), Lim(5, 10, 100), kGen, 50, 0);
  EXPECT_EQ(plan.want, 8);
  EXPECT_EQ(plan.spawn, 8);
}

TEST(PoolPolicy, MaxClientsBoundsSpawningAndTurnsFullListeningOn) {
  PoolPolicy p;
  Table t;
  t.Add(1, SlotState::kReady).Add(7, SlotState::kLoggedIn);
  // Room for two more workers only: 10 - 7 busy - 1 idle.
  auto plan = p.MakePlan(t.span(), Lim(5, 10, 10), kGen, 0, 0);
  EXPECT_EQ(plan.room, 2);
  EXPECT_EQ(plan.spawn, 2);
  auto s = p.Settle(t.span(), Lim(5, 10, 10), kGen, plan, false);
  EXPECT_FALSE(s.full_listening);
  // Every worker busy, MaxClients of them: no room, and the master answers.
  Table full;
  full.Add(10, SlotState::kTransferring);
  plan = p.MakePlan(full.span(), Lim(5, 10, 10), kGen, 3, 0);
  EXPECT_EQ(plan.room, 0);
  EXPECT_FALSE(plan.spawn_pass);
  EXPECT_FALSE(plan.trickle);
  s = p.Settle(full.span(), Lim(5, 10, 10), kGen, plan, false);
  ASSERT_NE(s.not_spawning, nullptr);
  EXPECT_STREQ(s.not_spawning, "MaxClients reached");
  EXPECT_TRUE(s.full_listening);
  const auto r = p.CheckFull(PoolPolicy::Count(full.span(), kGen), Lim(5, 10, 10));
  EXPECT_TRUE(r.full);
  EXPECT_FALSE(r.no_worker);
  // Busy workers of an old generation count against MaxClients too.
  Table old;
  old.Add(10, SlotState::kIdle, kGen - 1);
  EXPECT_TRUE(p.CheckFull(PoolPolicy::Count(old.span(), kGen), Lim(5, 10, 10)).full);
  // One session ends: not full any more.
  Table freed;
  freed.Add(9, SlotState::kIdle).Add(SlotState::kReady);
  EXPECT_FALSE(p.CheckFull(PoolPolicy::Count(freed.span(), kGen), Lim(5, 10, 10)).full);
}

TEST(PoolPolicy, MaxSpareExceededRetiresIdleCurrentWorkersNotAlreadyLeaving) {
  PoolPolicy p;
  p.Reserve(16);
  Table t;
  t.Add(SlotState::kReady, kGen - 1)       // 0: old generation (leaves by reload's USR1)
      .Add(SlotState::kReady, kGen, true)  // 1: already leaving
      .Add(SlotState::kConnected)          // 2: busy
      .Add(SlotState::kStarting)           // 3: idle but not Ready yet
      .Add(SlotState::kReady)              // 4
      .Add(SlotState::kReady)              // 5
      .Add(SlotState::kReady)              // 6
      .Add(SlotState::kReady);             // 7
  const PoolLimits lim = Lim(1, 3, 100);
  const auto plan = p.MakePlan(t.span(), lim, kGen, 0, 0);
  EXPECT_EQ(plan.counts.idle, 5);  // 3..7
  EXPECT_FALSE(plan.spawn_pass);
  const auto s = p.Settle(t.span(), lim, kGen, plan, false);
  // Two over MaxSpareServers: the first two Ready ones in the table's order.
  EXPECT_EQ(Retired(s), (std::vector<size_t>{4, 5}));
  // At MaxSpareServers exactly: nobody leaves.
  Table at;
  at.Add(3, SlotState::kReady);
  const auto plan2 = p.MakePlan(at.span(), lim, kGen, 0, 0);
  EXPECT_TRUE(p.Settle(at.span(), lim, kGen, plan2, false).retire.empty());
  // Only Starting workers over the limit: none is Ready, none retired yet.
  Table starting;
  starting.Add(5, SlotState::kStarting);
  const auto plan3 = p.MakePlan(starting.span(), lim, kGen, 0, 0);
  EXPECT_TRUE(p.Settle(starting.span(), lim, kGen, plan3, false).retire.empty());
}

TEST(PoolPolicy, RetireBufferIsReused) {
  PoolPolicy p;
  p.Reserve(64);
  Table t;
  t.Add(40, SlotState::kReady);
  const PoolLimits lim = Lim(1, 2, 100);
  auto plan = p.MakePlan(t.span(), lim, kGen, 0, 0);
  const auto a = p.Settle(t.span(), lim, kGen, plan, false);
  ASSERT_EQ(a.retire.size(), 38u);
  const size_t* first = a.retire.data();
  plan = p.MakePlan(t.span(), lim, kGen, 0, 0);
  const auto b = p.Settle(t.span(), lim, kGen, plan, false);
  EXPECT_EQ(b.retire.data(), first);  // no new buffer per pass
  EXPECT_EQ(b.retire.size(), 38u);
}

TEST(PoolPolicy, RampDoublesEachShortSecondUpToTheCapAndResets) {
  PoolPolicy p;
  Table empty;
  const PoolLimits lim = Lim(100000, 100000, 1000000);
  EXPECT_EQ(p.spawn_rate(), 1024);
  std::vector<int> rates;
  for (int sec = 0; sec < 5; ++sec) {
    auto plan = p.MakePlan(empty.span(), lim, kGen, 0, sec * 1000);
    EXPECT_TRUE(plan.spawn_pass);
    EXPECT_EQ(plan.spawn, p.spawn_rate()) << sec;  // the rate bounds one second's spawns
    const auto rc = p.OnTick();
    EXPECT_TRUE(rc.was_short);
    rates.push_back(rc.new_rate);
  }
  EXPECT_EQ(rates, (std::vector<int>{2048, 4096, 8192, 8192, 8192}));
  // A second that was not short: back to the initial rate.
  const auto rc = p.OnTick();
  EXPECT_FALSE(rc.was_short);
  EXPECT_EQ(rc.old_rate, 8192);
  EXPECT_EQ(rc.new_rate, 1024);
}

TEST(PoolPolicy, SpawnsWithinASecondAreCountedAgainstTheRate) {
  PoolPolicy p;
  Table empty;
  const PoolLimits lim = Lim(5000, 5000, 100000);
  auto plan = p.MakePlan(empty.span(), lim, kGen, 0, 0);
  EXPECT_EQ(plan.spawn, 1024);
  for (int i = 0; i < 1000; ++i) p.OnForked(0);
  plan = p.MakePlan(empty.span(), lim, kGen, 0, 1);
  EXPECT_EQ(plan.spawned_this_tick, 1000);
  EXPECT_EQ(plan.spawn, 24);  // what is left of this second
  for (int i = 0; i < 24; ++i) p.OnForked(1);
  plan = p.MakePlan(empty.span(), lim, kGen, 0, 2);
  EXPECT_TRUE(plan.spawn_pass);
  EXPECT_LE(plan.spawn, 0);  // none left: short, but wait for the tick
  p.OnTick();
  plan = p.MakePlan(empty.span(), lim, kGen, 0, 1000);
  EXPECT_EQ(plan.spawned_this_tick, 0);
  EXPECT_EQ(plan.spawn, 2048);
}

TEST(PoolPolicy, ReloadReplacesThePoolAtTheCapRate) {
  PoolPolicy p;
  p.OnReload();
  EXPECT_EQ(p.spawn_rate(), PoolPolicy::kMaxSpawnRate);
  Table empty;
  EXPECT_EQ(p.MakePlan(empty.span(), Lim(9000, 9000, 100000), kGen, 0, 0).spawn, 8192);
}

TEST(PoolPolicy, SickExitDropsTheRateToOnePerSecond) {
  PoolPolicy p;
  const PoolChild sick{100, 0, kGen, false, SlotState::kEmpty};
  EXPECT_EQ(p.OnDeath(Exited(static_cast<int>(worker::WorkerExit::kSick)), sick, kGen, 0),
            DeathKind::kCrash);
  EXPECT_EQ(p.spawn_rate(), 1);
  EXPECT_FALSE(p.guard().Paused());  // one crash is no loop
  Table t;
  t.Add(SlotState::kConnected);
  auto plan = p.MakePlan(t.span(), Lim(5, 10, 100), kGen, 0, 1);
  EXPECT_EQ(plan.spawn, 1);
  p.OnForked(1);
  plan = p.MakePlan(t.span(), Lim(5, 10, 100), kGen, 0, 2);
  EXPECT_EQ(plan.spawn, 0);
  // The pool stayed short: the ramp starts again from 1/s.
  EXPECT_EQ(p.OnTick().new_rate, 2);
  // An old generation's sick exit does not touch the rate.
  PoolPolicy q;
  const PoolChild old{101, 1, kGen - 1, false, SlotState::kEmpty};
  q.OnDeath(Exited(static_cast<int>(worker::WorkerExit::kSick)), old, kGen, 0);
  EXPECT_EQ(q.spawn_rate(), PoolPolicy::kInitialSpawnRate);
}

TEST(PoolPolicy, OnlyCurrentGenerationCrashesFeedTheBackOff) {
  PoolPolicy p;
  const PoolChild old{100, 0, kGen - 1, false, SlotState::kEmpty};
  const int fatal = Exited(static_cast<int>(worker::WorkerExit::kFatal));
  EXPECT_EQ(p.OnDeath(fatal, old, kGen, 0), DeathKind::kCrash);
  EXPECT_FALSE(p.guard().Paused());
  // Told to leave and TERMed: expected, never counted.
  const PoolChild leaving{101, 1, kGen, true, SlotState::kEmpty};
  EXPECT_EQ(p.OnDeath(Signalled(SIGTERM), leaving, kGen, 0), DeathKind::kExpected);
  EXPECT_EQ(p.OnDeath(Exited(0), leaving, kGen, 0), DeathKind::kExpected);
  // An outside SIGKILL: replaced, no back-off.
  const PoolChild cur{102, 2, kGen, false, SlotState::kEmpty};
  EXPECT_EQ(p.OnDeath(Signalled(SIGKILL), cur, kGen, 0), DeathKind::kOutsideSignal);
  EXPECT_FALSE(p.guard().Paused());
  // kFatal of the current generation pauses at once.
  EXPECT_EQ(p.OnDeath(fatal, cur, kGen, 0), DeathKind::kCrash);
  EXPECT_TRUE(p.guard().Paused());
  EXPECT_EQ(p.spawn_rate(), PoolPolicy::kInitialSpawnRate);  // kFatal is not kSick
}

TEST(PoolPolicy, BackOffTricklesOneWorkerASecondOnlyWhileNoneIsIdle) {
  PoolPolicy p;
  const PoolLimits lim = Lim(5, 10, 100);
  const PoolChild cur{100, 0, kGen, false, SlotState::kEmpty};
  p.OnDeath(Exited(static_cast<int>(worker::WorkerExit::kFatal)), cur, kGen, 10000);  // 1 s pause
  ASSERT_TRUE(p.guard().Paused());
  p.guard().TakeMessages();
  Table none;
  none.Add(2, SlotState::kConnected);
  // Paused, nobody idle: one trickle spawn, and the listeners stay off while
  // it works (the new worker will greet the clients).
  auto plan = p.MakePlan(none.span(), lim, kGen, 0, 10100);
  EXPECT_FALSE(plan.spawn_pass);
  EXPECT_TRUE(plan.trickle);
  auto s = p.Settle(none.span(), lim, kGen, plan, /*trickled=*/true);
  EXPECT_STREQ(s.not_spawning, "spawning is paused (back-off)");
  EXPECT_FALSE(s.full_listening);
  // Within the second: no second trickle; the master answers 421 itself.
  plan = p.MakePlan(none.span(), lim, kGen, 0, 10600);
  EXPECT_FALSE(plan.trickle);
  s = p.Settle(none.span(), lim, kGen, plan, false);
  EXPECT_TRUE(s.full_listening);
  const auto r = p.CheckFull(PoolPolicy::Count(none.span(), kGen), lim);
  EXPECT_FALSE(r.full);
  EXPECT_TRUE(r.no_worker);
  // A worker is idle: no trickle, and connections go to it.
  Table one;
  one.Add(SlotState::kReady).Add(2, SlotState::kConnected);
  plan = p.MakePlan(one.span(), lim, kGen, 0, 10900);
  EXPECT_FALSE(plan.trickle);
  EXPECT_FALSE(plan.spawn_pass);
  s = p.Settle(one.span(), lim, kGen, plan, false);
  EXPECT_FALSE(s.full_listening);
  EXPECT_FALSE(p.CheckFull(PoolPolicy::Count(one.span(), kGen), lim).no_worker);
  // The pause is over (1 s): MakePlan ends it and spawning resumes in full.
  plan = p.MakePlan(none.span(), lim, kGen, 0, 11000);
  EXPECT_FALSE(p.guard().Paused());
  EXPECT_TRUE(AnyContains(p.guard().TakeMessages(), "spawning resumed"));
  EXPECT_TRUE(plan.spawn_pass);
  EXPECT_EQ(plan.spawn, 5);
  s = p.Settle(none.span(), lim, kGen, plan, false);
  EXPECT_EQ(s.not_spawning, nullptr);
  EXPECT_FALSE(s.full_listening);
}

TEST(PoolPolicy, AForkFailureDuringThePassIsSeenBySettle) {
  PoolPolicy p;
  const PoolLimits lim = Lim(5, 10, 100);
  Table none;
  none.Add(SlotState::kIdle);
  const auto plan = p.MakePlan(none.span(), lim, kGen, 0, 0);
  ASSERT_TRUE(plan.spawn_pass);
  p.OnForkFailed(EAGAIN, 0);  // the first fork of the pass failed
  const auto s = p.Settle(none.span(), lim, kGen, plan, false);
  EXPECT_STREQ(s.not_spawning, "spawning is paused (back-off)");
  EXPECT_TRUE(s.full_listening);
  // A fork that works ends that pause at once.
  p.OnForked(5);
  EXPECT_FALSE(p.guard().Paused());
}

TEST(PoolPolicy, TellChildrenSelection) {
  const PoolChild idle_old{100, 0, kGen - 1, false, SlotState::kReady};
  const PoolChild busy_cur{101, 1, kGen, false, SlotState::kTransferring};
  const PoolChild none{0, 2, kGen - 1, false, SlotState::kConnected};
  EXPECT_TRUE(Selected(Whom::kAll, idle_old, kGen));
  EXPECT_TRUE(Selected(Whom::kAll, busy_cur, kGen));
  EXPECT_TRUE(Selected(Whom::kOldGeneration, idle_old, kGen));
  EXPECT_FALSE(Selected(Whom::kOldGeneration, busy_cur, kGen));
  EXPECT_FALSE(Selected(Whom::kBusy, idle_old, kGen));
  EXPECT_TRUE(Selected(Whom::kBusy, busy_cur, kGen));
  for (Whom w : {Whom::kAll, Whom::kOldGeneration, Whom::kBusy})
    EXPECT_FALSE(Selected(w, none, kGen));
}

}  // namespace
}  // namespace poolftpd::master
