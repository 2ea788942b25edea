// ftpdctl's trust decisions: which files it believes (PidFile, scoreboard),
// what /proc says about a PID, whether that PID is poolftpd's master or one
// of its workers, and signalling through a pidfd so that a PID reused
// between the checks and the signal is never hit. Used by ftpdctl only
// (and its unit test); signals only through ProcessHandle::Signal().
//
// The order that makes a check stick to the process it checked:
//   1. pidfd_open(PID)              -> the handle pins one process;
//   2. read /proc/PID (stat, exe)   -> may describe a later process if the
//                                      first one died and its PID was reused;
//   3. pidfd_send_signal(fd, 0)     -> succeeds only if the pinned process
//                                      still lives: then PID was never
//                                      reused, so step 2 described it;
//   4. checks on that description, then pidfd_send_signal(fd, SIG): a
//      process that died meanwhile gets nothing (ESRCH), and no other
//      process can be behind the fd.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "poolftpd/scoreboard/scoreboard.h"
#include "poolftpd/util/result.h"
#include "poolftpd/util/unique_fd.h"

namespace poolftpd::ftpdctl {

// What /proc says about one process.
struct ProcessInfo {
  int32_t pid = 0;
  char state = '?';          // field 3: R, S, D, Z, ...
  int32_t ppid = 0;          // field 4
  uint64_t start_ticks = 0;  // field 22
  std::string comm;          // field 2 without the parentheses (15 bytes at most)
  std::string exe;           // readlink(/proc/PID/exe), "" when unreadable
  int exe_errno = 0;         // why exe is "" (EACCES for another user's or a
                             // non-dumpable process, ENOENT for a zombie)
  bool zombie() const { return state == 'Z' || state == 'X' || state == 'x'; }
};

// Reads /proc/PID/stat and /proc/PID/exe. kNotFound when there is no such
// process. Never signals anything.
Result<ProcessInfo> ReadProcessInfo(int32_t pid);

// Parses the text of /proc/PID/stat (exposed for tests). kInvalid when it
// does not have the expected shape.
Result<ProcessInfo> ParseProcStat(int32_t pid, std::string_view text);

// Whether `exe` (a /proc/PID/exe target) is a poolftpd binary: its base
// name is "poolftpd", with the kernel's " (deleted)" suffix tolerated (a
// binary replaced by an upgrade while the server runs).
bool IsPoolftpdExe(std::string_view exe);

// A process pinned by a pidfd, with what /proc said about it while it was
// provably the same process (see the top of this file).
class ProcessHandle {
 public:
  // kNotFound: no such process (or it exited during the checks). kSystem:
  // the kernel has no pidfd_open (Linux < 5.3): ftpdctl then refuses to
  // signal at all rather than fall back to kill(2).
  static Result<ProcessHandle> Open(int32_t pid);

  int32_t pid() const { return info_.pid; }
  const ProcessInfo& info() const { return info_; }
  // False when the caller lacks the right to signal it (EPERM on the probe).
  bool may_signal() const { return may_signal_; }

  // pidfd_send_signal(2). kNotFound when the process has exited,
  // kPermission when not allowed.
  Result<void> Signal(int signo) const;
  // The same with a value, as sigqueue(3) sends it (si_code SI_QUEUE, the
  // value in si_value.sival_int): for ftpdctl debug N.
  Result<void> Queue(int signo, int value) const;
  // Waits up to `timeout_ms` for the process to exit (the pidfd becomes
  // readable); true when it did.
  bool WaitExit(int timeout_ms) const;

 private:
  ProcessHandle() = default;
  Result<void> SignalError(int err) const;  // errno of a failed send -> Error
  UniqueFd pidfd_;
  ProcessInfo info_;
  bool may_signal_ = false;
};

// SECURITY (S13): the PidFile and the scoreboard tell ftpdctl whom to signal, so,
// as start-stop-daemon does for a PidFile, they are believed only when no
// one but root or the caller could have written them: owned by uid 0 or by
// `caller_uid` (the real uid), and not writable by group or others.
// `what` names the file in the message ("PidFile /run/x.pid").
Result<void> CheckTrusted(const std::string& what, uint32_t owner_uid, uint32_t mode,
                          uint32_t caller_uid);

// Reads the PID from a PidFile (O_NOFOLLOW, fstat-checked with
// CheckTrusted). nullopt when the file does not exist. kInvalid for
// contents that are not one decimal PID (an optional newline after it),
// kPermission for an untrusted or unreadable file; messages name the file.
Result<std::optional<int32_t>> ReadPidFile(const std::string& path);

// The checks that make `proc` (read after its pidfd was opened) the master
// the PidFile (`pidfile_pid`) and the scoreboard (`header`) name:
// - the scoreboard records a master (kStale "... not running" when 0);
// - header.master_pid == pidfile_pid (kInvalid otherwise);
// - not a zombie (kStale);
// - start ticks equal header.master_start_ticks (kStale: the PID was
//   reused; kInvalid when the header records none);
// - /proc/PID/exe is a poolftpd binary (IsPoolftpdExe; kStale otherwise).
//   When the exe link is unreadable (EACCES/EPERM: a server of another
//   user), the command name must be "poolftpd" instead (kStale otherwise):
//   the start-time match already ties the PID to the process that wrote
//   the (trusted) scoreboard.
Result<void> CheckMaster(const ProcessInfo& proc, int32_t pidfile_pid,
                         const sb::HeaderView& header);

// The checks that make `proc` a worker of the verified `master`:
// - not a zombie (kStale);
// - its parent is the master (ppid) and it started no earlier (kInvalid);
// - its exe equals the master's (kInvalid otherwise). Workers are not
//   dumpable, so another user than root cannot read their exe link: then
//   its command name must equal the master's. The parent check is what
//   proves the process: only the master forks children with that ppid
//   while the (verified, live) master holds the PID.
Result<void> CheckWorker(const ProcessInfo& proc, const ProcessInfo& master);

}  // namespace poolftpd::ftpdctl
