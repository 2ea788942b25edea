// The worker's seccomp allowlist (src/worker/seccomp.cc): each test forks a
// child that installs the filter and then makes one call; the parent checks
// how the child ended and what its SIGSYS handler recorded.
#include "poolftpd/worker/seccomp.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <thread>

namespace poolftpd::worker {
namespace {

struct Outcome {
  int status = 0;
  uint64_t trap = 0;  // the word the child's handler stored
};

// Runs `body` in a child under the filter; the child exits 0 if `body`
// returns, 3 if the filter could not be installed.
Outcome RunConfined(const std::function<void()>& body, bool login_calls = false) {
  void* mem = ::mmap(nullptr, sizeof(std::atomic<uint64_t>), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  EXPECT_NE(mem, MAP_FAILED);
  auto* word = new (mem) std::atomic<uint64_t>(0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    SeccompOptions o;
    o.trap_word = word;
    o.login_calls = login_calls;
    if (!InstallSeccomp(o)) ::_exit(3);
    body();
    ::_exit(0);
  }
  Outcome out;
  EXPECT_EQ(::waitpid(pid, &out.status, 0), pid);
  out.trap = word->load();
  ::munmap(mem, sizeof(std::atomic<uint64_t>));
  return out;
}

uint64_t Trap(int nr) { return (uint64_t{AUDIT_ARCH_X86_64} << 32) | static_cast<uint32_t>(nr); }

bool KilledBySigsys(const Outcome& o) {
  return WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGSYS;
}

TEST(Seccomp, SessionCallsRunUnderTheFilter) {
  // A call no session makes (sysinfo) traps...
  const Outcome o = RunConfined([] {
    struct sysinfo si;
    if (::sysinfo(&si) == 0) ::_exit(10);
  });
  EXPECT_TRUE(KilledBySigsys(o));
  EXPECT_EQ(o.trap, Trap(SYS_sysinfo));
  // ...and the session's calls run.

  const Outcome ok = RunConfined([] {
    const int fd = ::openat(AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC);
    char b;
    if (fd < 0 || ::read(fd, &b, 1) != 0 || ::close(fd) != 0) ::_exit(10);
    if (::getpid() <= 0 || ::getppid() <= 0) ::_exit(11);
    void* m = ::mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED || ::munmap(m, 1 << 20) != 0) ::_exit(12);
    // The SIGBUS guard's wait on a truncated scoreboard (kWait).
    timespec ts{0, 1000 * 1000};
    if (::nanosleep(&ts, nullptr) != 0) ::_exit(13);
  });
  EXPECT_TRUE(WIFEXITED(ok.status) && WEXITSTATUS(ok.status) == 0) << ok.status;
  EXPECT_EQ(ok.trap, 0u);
}

TEST(Seccomp, ForbiddenCallNeverRunsAndIsRecorded) {
  // personality(PER_LINUX32) would change the persona if it ran; the child
  // reports (exit 20) if it survived with the persona changed.
  const Outcome o = RunConfined([] {
    ::syscall(SYS_personality, PER_LINUX32);
    if (::personality(0xffffffff) == PER_LINUX32) ::_exit(20);
  });
  EXPECT_TRUE(KilledBySigsys(o)) << o.status;
  EXPECT_EQ(o.trap, Trap(SYS_personality));
  EXPECT_EQ(SeccompTrapName(o.trap), "personality");
}

TEST(Seccomp, SignalsToOtherProcessesAreForbidden) {
  // The targets are a PID that just died, so nothing is hit if a check fails.
  const pid_t gone = ::fork();
  if (gone == 0) ::_exit(0);
  ::waitpid(gone, nullptr, 0);
  const pid_t parent = ::getpid();
  // Signal 0 (a liveness probe, which sends nothing) is allowed.
  const Outcome probe = RunConfined([parent] {
    if (::kill(parent, 0) != 0) ::_exit(10);
  });
  EXPECT_TRUE(WIFEXITED(probe.status) && WEXITSTATUS(probe.status) == 0) << probe.status;
  const Outcome k = RunConfined([gone] { ::kill(gone, SIGTERM); });
  EXPECT_TRUE(KilledBySigsys(k));
  EXPECT_EQ(SeccompTrapName(k.trap), "kill");
  // tgkill is allowed to the process itself only (the handler's way out).
  const Outcome t = RunConfined([gone] { ::syscall(SYS_tgkill, gone, gone, SIGSYS); });
  EXPECT_TRUE(KilledBySigsys(t));
  EXPECT_EQ(SeccompTrapName(t.trap), "tgkill");
}

#ifndef POOLFTPD_SANITIZER
TEST(Seccomp, TheSigsysHandlerCannotBeReplaced) {
  const Outcome o = RunConfined([] {
    struct sigaction sa {};
    sa.sa_handler = SIG_IGN;
    ::sigaction(SIGSYS, &sa, nullptr);
  });
  EXPECT_TRUE(KilledBySigsys(o));
  EXPECT_EQ(SeccompTrapName(o.trap), "rt_sigaction");
}
#endif

TEST(Seccomp, OtherAbisAreKilledWithoutReachingTheHandler) {
  // x32: x86_64's arch with __X32_SYSCALL_BIT set in the number.
  const Outcome x32 = RunConfined([] { ::syscall(0x40000000 | SYS_getpid); });
  EXPECT_TRUE(KilledBySigsys(x32)) << x32.status;
  EXPECT_EQ(x32.trap, 0u);
  // i386 through int 0x80 (getpid is 20 there): AUDIT_ARCH_I386.
  const Outcome i386 = RunConfined([] {
    long ret = 20;
    asm volatile("int $0x80" : "+a"(ret) : : "memory");
  });
  EXPECT_TRUE(KilledBySigsys(i386)) << i386.status;
  EXPECT_EQ(i386.trap, 0u);
}

TEST(Seccomp, LoginCallsOnlyWhenAsked) {
  // setresuid to the current ids changes nothing, and needs no privilege.
  auto same_ids = [] {
    if (::syscall(SYS_setresuid, -1, -1, -1) != 0) ::_exit(10);
  };
  const Outcome anon = RunConfined(same_ids);
  EXPECT_TRUE(KilledBySigsys(anon));
  EXPECT_EQ(SeccompTrapName(anon.trap), "setresuid");
  const Outcome real = RunConfined(same_ids, /*login_calls=*/true);
  EXPECT_TRUE(WIFEXITED(real.status) && WEXITSTATUS(real.status) == 0) << real.status;
}

TEST(Seccomp, ThreadsStartButProcessesDoNot) {
  const Outcome t = RunConfined([] {
    int v = 0;
    std::thread th([&v] { v = 1; });
    th.join();
    if (v != 1) ::_exit(10);
    if (::syscall(SYS_clone3, nullptr, 0) != -1 || errno != ENOSYS) ::_exit(11);
  });
  EXPECT_TRUE(WIFEXITED(t.status) && WEXITSTATUS(t.status) == 0) << t.status;
  const Outcome f = RunConfined([] {
    if (::fork() == 0) ::_exit(12);  // the child would exit 12 and the parent go on
  });
  EXPECT_TRUE(KilledBySigsys(f)) << f.status;
  EXPECT_EQ(SeccompTrapName(f.trap), "clone");
}

TEST(Seccomp, SocketFamilies) {
  const Outcome o = RunConfined([] {
    const int tcp = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (tcp < 0) ::_exit(10);
    ::close(tcp);
    // A Unix socket is refused, not fatal (glibc's nscd probe).
    if (::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) != -1 || errno != EACCES) ::_exit(11);
  });
  EXPECT_TRUE(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0) << o.status;
  const Outcome n = RunConfined([] { ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0); });
  EXPECT_TRUE(KilledBySigsys(n));
  EXPECT_EQ(SeccompTrapName(n.trap), "socket");
}

TEST(Seccomp, TrapNames) {
  EXPECT_EQ(SeccompTrapName(0), "");
  EXPECT_EQ(SeccompTrapName(Trap(SYS_ptrace)), "ptrace");
  EXPECT_EQ(SeccompTrapName(Trap(4000)), "number 4000");
}

}  // namespace
}  // namespace poolftpd::worker
