// The worker process: entry point after fork. Drops privileges, waits on the
// shared listeners with EPOLLEXCLUSIVE, serves one session at a time, and
// leaves on the master's order, on a new generation, or after
// MaxSessionsPerWorker sessions. Never returns into the master's frames.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "poolftpd/config/config.h"
#include "poolftpd/scoreboard/scoreboard.h"

namespace poolftpd::worker {

// Exit codes the master reads (nginx's 2, httpd's APEXIT_*).
enum class WorkerExit : int { kOk = 0, kSessionError = 1, kFatal = 2, kSick = 3 };

// Who a worker becomes. Resolved by the master from the config.
struct Identity {
  bool switch_user = false;  // started as root: chroot + setres[ug]id
  uid_t uid = 0;
  gid_t gid = 0;
  std::string chroot_dir;    // empty: no chroot
};

struct ChildSpec {
  const config::Config* config = nullptr;
  sb::Scoreboard* scoreboard = nullptr;
  size_t slot = 0;
  uint32_t generation = 0;
  pid_t master_pid = 0;
  std::vector<int> listen_fds;
  int notify_fd = -1;         // write end of the master's wake-up pipe
  std::vector<int> keep_fds;  // log fds and the like; everything else is closed
  Identity identity;
};

// Runs the worker; ends in _exit() with a WorkerExit code. Call right after fork().
[[noreturn]] void RunChild(const ChildSpec& spec) noexcept;

// ServerType inetd: serves the one session on stdin (a socket from the
// superserver), in this process, with no master. Claims a scoreboard slot when
// ScoreboardFile's directory exists (released at exit). Returns the exit code.
int RunInetd(const config::Config& cfg, const Identity& identity) noexcept;

// Drops to `id` (chroot, groups, gid, uid, no capabilities, no_new_privs),
// then verifies it. Only this function changes credentials.
Result<void> DropPrivileges(const Identity& id);

}  // namespace poolftpd::worker
