// The worker's seccomp-bpf allowlist (docs/SECURITY.md, "S14 seccomp").
//
// InstallSeccomp runs once per worker, right after the before-accept stage
// (privileges.h) and before the first client byte is read: in the pool
// worker (RunChild) and in the inetd session process (RunInetd). From then
// on a system call outside the list never executes: the kernel skips it and
// raises SIGSYS (SECCOMP_RET_TRAP). The worker's SIGSYS handler stores the
// call into the slot's seccomp_trap word (scoreboard/FORMAT.md) and dies of
// SIGSYS; the master, reaping it, logs `worker PID killed by seccomp
// (syscall NAME)` (SeccompTrapName) and spawns a replacement.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "poolftpd/util/result.h"

namespace poolftpd::worker {

struct SeccompOptions {
  // kRealUsers: the after-login stage still changes credentials and root
  // (setgroups, setresuid, chroot, capset, ...), so those calls stay allowed.
  bool login_calls = false;
  // Where the SIGSYS handler records the trapped call (the worker's slot
  // word, Scoreboard::SeccompTrapWord); null: recorded nowhere.
  std::atomic<uint64_t>* trap_word = nullptr;
};

// Installs the SIGSYS handler, then loads the filter. An error (a kernel
// without seccomp filters, another architecture than x86_64) leaves no filter
// loaded: the caller must not serve a client then.
Result<void> InstallSeccomp(const SeccompOptions& options);

// A seccomp_trap word as "NAME" (libseccomp's name for the call on that
// architecture), or "number N" when libseccomp does not know it; "" for 0.
std::string SeccompTrapName(uint64_t trap);

}  // namespace poolftpd::worker
