// The worker's seccomp-bpf allowlist: seccomp.h, and docs/SECURITY.md,
// "S14 seccomp", for the groups, why each call is there and where it was
// measured (tests/seccomp_syscalls.py over the integration suite).
#include "poolftpd/worker/seccomp.h"

#include <fcntl.h>
#include <linux/audit.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <initializer_list>

namespace poolftpd::worker {
namespace {

// si_code of a SIGSYS raised by SECCOMP_RET_TRAP (asm-generic/siginfo.h, which
// clashes with glibc's signal.h).
constexpr int kSysSeccomp = 1;

// Where OnSigsys records the trapped call: set before the filter is loaded,
// never changed after.
std::atomic<uint64_t>* g_trap_word = nullptr;

// SIGSYS from the filter (SECCOMP_RET_TRAP). Async-signal-safe: one relaxed
// store of a lock-free atomic, then a raw tgkill.
extern "C" void OnSigsys(int, siginfo_t* si, void*) {
  // SECURITY (S14): only the kernel's report is recorded (a kill(SIGSYS) from
  // outside has another si_code), and the call it names never ran: the kernel
  // skipped it before raising SIGSYS. The word only names it in the log.
  if (si->si_code == kSysSeccomp && g_trap_word != nullptr)
    g_trap_word->store((uint64_t{si->si_arch} << 32) | static_cast<uint32_t>(si->si_syscall),
                       std::memory_order_relaxed);
  // SA_RESETHAND made SIGSYS SIG_DFL on entry and SA_NODEFER left it
  // unblocked: this kills the process now, with SIGSYS as its wait status.
  ::syscall(SYS_tgkill, ::getpid(), ::gettid(), SIGSYS);
  ::_exit(127);  // not reached (exit_group is allowed)
}

// The calls a session makes after the before-accept stage, by group. Each
// was seen in the traces of the integration suite (tests/seccomp_syscalls.py)
// unless its comment says why it is here; docs/SECURITY.md, "S14 seccomp",
// says who makes it. Calls with an argument test are in AddArgumentRules.
const std::initializer_list<int> kSession = {
    // Control and data connections: the pool's accept loop, the control
    // connection's reads and writes, PASV/EPSV listeners and PORT/EPRT
    // connects, sendfile for RETR.
    SYS_accept4,
    SYS_epoll_pwait,
    SYS_epoll_ctl,
    SYS_ppoll,
    SYS_poll,
    SYS_recvfrom,
    SYS_sendto,
    SYS_read,
    SYS_write,
    SYS_sendfile,
    SYS_connect,
    SYS_bind,
    SYS_listen,
    SYS_getsockname,
    SYS_getpeername,
    SYS_setsockopt,
    SYS_getsockopt,
    SYS_shutdown,
    SYS_close,
    SYS_fcntl,
    // The served tree: openat2 (fs/path.cc), directory reading and stat for
    // listings, SIZE and MDTM, file reads for RETR and ASCII mode. readlinkat:
    // LIST shows link targets (fs/dir_listing.cc; not in the traced tests).
    SYS_openat,
    SYS_openat2,
    SYS_newfstatat,
    SYS_getdents64,
    SYS_lseek,
    SYS_pread64,
    SYS_fadvise64,
    SYS_readlinkat,
    // Access checks (fs/access.cc): who the process is.
    SYS_geteuid,
    SYS_getegid,
    SYS_getgroups,
    SYS_capget,
    // Memory (malloc, libstdc++; mremap: glibc's realloc of a large block).
    SYS_brk,
    SYS_mmap,
    SYS_munmap,
    SYS_mremap,
    SYS_mprotect,
    SYS_madvise,
    // The listing's helper threads (fs/dir_listing.cc, 2048 entries or more):
    // their start and end in glibc; clone itself is allowed for threads only.
    SYS_set_robust_list,
    SYS_rseq,
    SYS_futex,
    SYS_sched_getaffinity,
    SYS_exit,
    // The resolver for UseReverseDNS (its UDP socket is AF_INET/AF_INET6).
    SYS_uname,
    // The process: its ids, signals taken inside the waits, the seqlock
    // reader's yield, time (the vDSO normally answers), and leaving.
    SYS_getpid,
    SYS_getppid,
    SYS_gettid,
    SYS_rt_sigreturn,
    SYS_rt_sigprocmask,
    SYS_restart_syscall,
    SYS_sched_yield,
    SYS_clock_gettime,
    SYS_gettimeofday,
    // The scoreboard's SIGBUS guard waits for the master to restore a
    // truncated file with nanosleep (glibc: clock_nanosleep).
    SYS_clock_nanosleep,
    SYS_exit_group,
};

// kRealUsers only: what the after-login stage (privileges.cc) calls.
const std::initializer_list<int> kLogin = {
    SYS_setgroups, SYS_setresgid, SYS_setresuid, SYS_getresuid, SYS_getresgid,
    SYS_setuid,    SYS_chroot,    SYS_chdir,     SYS_capset,    SYS_prctl,
};

#ifdef POOLFTPD_SANITIZER
// Sanitizer builds only (the Makefile defines POOLFTPD_SANITIZER with SAN=),
// measured with an ASan/UBSan build: pipe2 (the runtime's readable-memory
// probe writes through a pipe) and sigaltstack (the runtime's stack for each
// new thread). LeakSanitizer's exit-time check (a ptrace tracer task) is not
// allowed: workers never run it (RunChild ends in _exit, and so does an inetd
// session under the filter in these builds, see RunInetd).
const std::initializer_list<int> kSanitizer = {
    SYS_pipe2,
    SYS_sigaltstack,
};
#endif

Result<void> Fail(int rc, int nr) {
  char* name = ::seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
  std::string what = name ? name : std::to_string(nr);
  std::free(name);
  return Error::FromErrno(-rc, "seccomp_rule_add", what);
}

Result<void> AddRules(scmp_filter_ctx ctx, std::initializer_list<int> calls) {
  for (int nr : calls)
    if (int rc = ::seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0); rc != 0) return Fail(rc, nr);
  return Ok();
}

// The calls allowed (or refused with an errno) only for some arguments.
Result<void> AddArgumentRules(scmp_filter_ctx ctx) {
  struct ArgRule {
    int nr;
    uint32_t action;
    unsigned count;
    scmp_arg_cmp a, b;
  };
  const auto self = static_cast<uint64_t>(::getpid());
  const ArgRule rules[] = {
      // Data connections are TCP over IPv4 or IPv6, the resolver's UDP too.
      {SYS_socket, SCMP_ACT_ALLOW, 1, SCMP_A0(SCMP_CMP_EQ, AF_INET), {}},
      {SYS_socket, SCMP_ACT_ALLOW, 1, SCMP_A0(SCMP_CMP_EQ, AF_INET6), {}},
      // glibc's resolver first asks nscd over a Unix socket and goes on
      // without it when that fails: refused, no local socket is reachable.
      {SYS_socket, SCMP_ACT_ERRNO(EACCES), 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX), {}},
      // FIONREAD only (the control channel's pending bytes).
      {SYS_ioctl, SCMP_ACT_ALLOW, 1, SCMP_A1(SCMP_CMP_EQ, FIONREAD), {}},
      // glibc installs its thread signals at the first pthread_create; the
      // SIGSYS disposition can never change once the filter is loaded.
      {SYS_rt_sigaction, SCMP_ACT_ALLOW, 1, SCMP_A0(SCMP_CMP_NE, SIGSYS), {}},
      // Threads, never processes: clone only with CLONE_THREAD; clone3's
      // flags are in memory a filter cannot read, so it answers ENOSYS and
      // glibc falls back to clone.
      {SYS_clone, SCMP_ACT_ALLOW, 1, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD), {}},
      {SYS_clone3, SCMP_ACT_ERRNO(ENOSYS), 0, {}, {}},
      // Signal 0 sends nothing: the scoreboard's liveness probe of a slot's
      // PID (inetd claimants, CountClientKey for MaxClientsPerHost).
      {SYS_kill, SCMP_ACT_ALLOW, 1, SCMP_A1(SCMP_CMP_EQ, 0), {}},
      // The SIGSYS handler's way out, and abort()'s: a signal to this process
      // only; no signal reaches another process.
      {SYS_tgkill, SCMP_ACT_ALLOW, 2, SCMP_A0(SCMP_CMP_EQ, self), SCMP_A2(SCMP_CMP_EQ, SIGSYS)},
      {SYS_tgkill, SCMP_ACT_ALLOW, 2, SCMP_A0(SCMP_CMP_EQ, self), SCMP_A2(SCMP_CMP_EQ, SIGABRT)},
  };
  for (const ArgRule& r : rules) {
    const int rc = r.count == 0   ? ::seccomp_rule_add(ctx, r.action, r.nr, 0)
                   : r.count == 1 ? ::seccomp_rule_add(ctx, r.action, r.nr, 1, r.a)
                                  : ::seccomp_rule_add(ctx, r.action, r.nr, 2, r.a, r.b);
    if (rc != 0) return Fail(rc, r.nr);
  }
  return Ok();
}

struct FilterCtx {
  scmp_filter_ctx ctx;
  ~FilterCtx() { ::seccomp_release(ctx); }
};

}  // namespace

Result<void> InstallSeccomp(const SeccompOptions& options) {
#if !defined(__x86_64__) || defined(__ILP32__)
  (void)options;
  return Error(ErrorCode::kInvalid,
               "Seccomp on: the allowlist is written for x86_64 only (set Seccomp off)");
#else
  // SECURITY (S14): the allowlist is x86_64's; a call through another ABI
  // (i386's int 0x80, x32 numbers) matches no rule and kills the process.
  if (::seccomp_arch_native() != SCMP_ARCH_X86_64)
    return Error(ErrorCode::kInvalid, "Seccomp on: libseccomp's native architecture is not x86_64");
  FilterCtx f{::seccomp_init(SCMP_ACT_TRAP)};
  if (f.ctx == nullptr) return Error(ErrorCode::kInternal, "seccomp_init failed");
  if (int rc = ::seccomp_attr_set(f.ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS); rc != 0)
    return Error::FromErrno(-rc, "seccomp_attr_set", "SCMP_FLTATR_ACT_BADARCH");
  if (auto r = AddRules(f.ctx, kSession); !r) return r;
  if (options.login_calls) {
    if (auto r = AddRules(f.ctx, kLogin); !r) return r;
  }
#ifdef POOLFTPD_SANITIZER
  if (auto r = AddRules(f.ctx, kSanitizer); !r) return r;
#endif
  if (auto r = AddArgumentRules(f.ctx); !r) return r;

  g_trap_word = options.trap_word;
  struct sigaction sa {};
  sa.sa_sigaction = OnSigsys;
  sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  if (::sigaction(SIGSYS, &sa, nullptr) != 0) return Error::FromErrno(errno, "sigaction", "SIGSYS");
  sigset_t sys;
  sigemptyset(&sys);
  sigaddset(&sys, SIGSYS);
  ::sigprocmask(SIG_UNBLOCK, &sys, nullptr);
  if (int rc = ::seccomp_load(f.ctx); rc != 0)
    return Error::FromErrno(-rc, "seccomp_load", "the worker's allowlist");
  return Ok();
#endif
}

std::string SeccompTrapName(uint64_t trap) {
  if (trap == 0) return "";
  const auto arch = static_cast<uint32_t>(trap >> 32);
  const auto nr = static_cast<int>(static_cast<uint32_t>(trap));
  char* name = ::seccomp_syscall_resolve_num_arch(arch, nr);
  std::string out = name ? std::string(name) : "number " + std::to_string(nr);
  std::free(name);
  return out;
}

}  // namespace poolftpd::worker
