// The worker process: entry point after fork. Enters the before-accept
// privilege stage (privileges.h), waits on the shared listeners with
// EPOLLEXCLUSIVE, serves one session at a time, and leaves on the master's
// order, on a new generation, or after MaxSessionsPerWorker sessions. Never
// returns into the master's frames.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "poolftpd/config/config.h"
#include "poolftpd/scoreboard/scoreboard.h"
#include "poolftpd/worker/privileges.h"

namespace poolftpd::worker {

// Exit codes the master reads (nginx's 2, httpd's APEXIT_*).
enum class WorkerExit : int { kOk = 0, kSessionError = 1, kFatal = 2, kSick = 3 };

// uid/gid names a worker shows in listings (root, its own identity, the
// <Anonymous> root's owner), resolved once by the master before it forks. NSS
// in each worker would read /etc/passwd and /etc/group through malloc'd stdio
// buffers and libc's static result areas: about 6 private pages per worker.
struct KnownNames {
  struct Entry {
    bool is_group = false;
    unsigned id = 0;
    std::string name;  // empty: no such entry
  };
  std::vector<Entry> entries;
  // nullptr: `id` was not resolved here.
  const std::string* Find(bool is_group, unsigned id) const;
};

// Master only, at start-up and reload (it still sees the real /etc and runs
// as root): the names above, and what else every worker would otherwise
// look up for itself (the ephemeral port range).
KnownNames PrepareWorkers(const config::Config& cfg, const Identity& id);

// What RunChild needs, by pointer and span: the master fills it on its
// SpawnOne frame (which the child inherits) without heap copies, since every
// master write to a heap page after a fork leaves that page's previous
// version private to the workers forked before.
struct ChildSpec {
  const config::Config* config = nullptr;
  sb::Scoreboard* scoreboard = nullptr;
  size_t slot = 0;
  uint32_t generation = 0;
  pid_t master_pid = 0;
  std::span<const int> listen_fds;
  std::span<const config::ListenerSpec> listeners;  // listen_fds[i] listens as listeners[i]
  int notify_fd = -1;                               // write end of the master's wake-up pipe
  std::span<const int> keep_fds;  // log fds and the like; everything else is closed
  const Identity* identity = nullptr;
  const KnownNames* names = nullptr;  // from PrepareWorkers; null: the worker looks them up
};

// The master, once its scoreboard exists and before it forks: every
// scoreboard write of this process and of the workers it forks first checks
// that the writer is the master or a worker whose parent it still is; a
// worker whose master is gone cuts its mapping off the file instead (a new
// master may have taken the file over) and writes nothing.
void GuardScoreboardWrites(sb::Scoreboard* board);

// Runs the worker; ends in _exit() with a WorkerExit code. Call right after fork().
[[noreturn]] void RunChild(const ChildSpec& spec) noexcept;

// ServerType inetd: serves the one session on stdin (a socket from the
// superserver), in this process, with no master. Claims a scoreboard slot when
// ScoreboardFile's directory exists (released at exit). Returns the exit code.
int RunInetd(const config::Config& cfg, const Identity& identity) noexcept;

}  // namespace poolftpd::worker
