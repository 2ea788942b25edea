// The master's signals: draining the signalfd, log reopening, the status
// line, and the debug level (ftpdctl debug).
#include "master_internal.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>

#include "poolftpd/log/log.h"
#include "poolftpd/master/notify.h"
#include "poolftpd/scoreboard/scoreboard.h"
#include "poolftpd/util/debug_signal.h"
#include "poolftpd/util/io.h"

namespace poolftpd::master::detail {

void Master::DrainSignals() {
  signalfd_siginfo si;
  while (::read(sigfd_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    if (static_cast<int>(si.ssi_signo) == util::DebugLevelSignal()) OnDebugSignal(si);
    switch (si.ssi_signo) {
      case SIGTERM:
      case SIGINT:
        stop_ = true;
        stop_signal_ = static_cast<int>(si.ssi_signo);
        break;
      case SIGQUIT:
        graceful_ = true;
        break;
      case SIGHUP:
        reload_ = true;
        break;
      case SIGUSR1:
        reopen_ = true;
        break;
      case SIGCHLD:
        reap_ = true;
        break;
      default:
        break;
    }
  }
}

void Master::ReopenLogs() {
  if (auto r = log::Logs::Reopen(SystemLogPath(*cfg_), cfg_->transfer_log); !r)
    log::Error("reopening logs failed: " + r.error().message() +
               "; still writing to the old files");
}

void Master::SendStatus() {
  if (!notifier_.enabled()) return;
  int idle = 0, busy = 0;
  for (const auto& [pid, i] : by_pid_) {
    if (IsBusy(board_->PeekState(i))) ++busy;
    else
      ++idle;
  }
  const std::string status = "STATUS=" + std::to_string(busy) + " sessions, " +
                             std::to_string(idle) + " idle workers, generation " +
                             std::to_string(generation_);
  if (status != last_status_) {
    notifier_.Send(status);
    last_status_ = status;
  }
}

void Master::OnDebugSignal(const signalfd_siginfo& si) {
  const int level = si.ssi_int;
  // SECURITY (S10): who may change the level. The kernel delivers this signal only
  // from root (CAP_KILL) or a process of our own uid -- the right that TERM
  // needs too -- and that is the real boundary: ssi_uid is what the sender
  // wrote (sigqueue(3) and ftpdctl put their real uid there, a raw
  // rt_sigqueueinfo(2) could claim any). The check below states the policy
  // and drops a stray sender; SI_QUEUE only, since a plain kill carries no
  // level, and only 0-9.
  if (si.ssi_code != SI_QUEUE || (si.ssi_uid != 0 && si.ssi_uid != ::geteuid()) ||
      level < util::kMinDebugLevel || level > util::kMaxDebugLevel) {
    log::Warn("ignored a debug-level signal from pid " + std::to_string(si.ssi_pid) + " uid " +
              std::to_string(si.ssi_uid) + " (code " + std::to_string(si.ssi_code) + ", level " +
              std::to_string(level) + ")");
    return;
  }
  SetDebugLevel(level);
  // Logged after the workers were told: a test (or an operator) that sees
  // this line knows every worker has the signal queued.
  log::Info("debug level changed to " + std::to_string(level) + " by uid " +
            std::to_string(si.ssi_uid));
}

void Master::SetDebugLevel(int level) {
  log::Logs::SetDebugLevel(level);  // new workers inherit it by fork
  sigval value{};
  value.sival_int = level;
  int told = 0;
  for (const Child& c : children_) {
    // PIDs from our own table only (a zombie not yet reaped takes it harmlessly).
    if (c.pid > 0 && ::sigqueue(c.pid, util::DebugLevelSignal(), value) == 0) ++told;
  }
  POOLFTPD_DEBUG(9, "pool: debug level ", level, " queued to ", told, " worker(s)");
}

}  // namespace poolftpd::master::detail
