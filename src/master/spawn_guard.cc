#include "poolftpd/master/spawn_guard.h"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "poolftpd/worker/worker.h"

namespace poolftpd::master {
namespace {

// Seconds with one decimal: "1.0 s", "60.0 s".
std::string Seconds(int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
  return buf;
}

}  // namespace

std::string SignalName(int signo) {
  // sigabbrev_np (glibc 2.32) is "KILL" for SIGKILL; NULL for unknown numbers.
  if (const char* abbrev = ::sigabbrev_np(signo)) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(signo);
}

DeathKind ClassifyDeath(int status, bool told_to_leave) {
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status) == static_cast<int>(worker::WorkerExit::kOk) ? DeathKind::kExpected
                                                                            : DeathKind::kCrash;
  }
  if (!WIFSIGNALED(status)) return DeathKind::kCrash;
  const int sig = WTERMSIG(status);
  if (told_to_leave && (sig == SIGTERM || sig == SIGKILL)) return DeathKind::kExpected;
  switch (sig) {
    // Raised by the process's own execution: the same code will do it again.
    case SIGSEGV:
    case SIGBUS:
    case SIGILL:
    case SIGFPE:
    case SIGABRT:
    case SIGSYS:
    case SIGTRAP:
    case SIGXCPU:
    case SIGXFSZ:
      return DeathKind::kCrash;
    default:
      // SIGKILL (OOM killer, an admin), SIGTERM, ...: sent from outside.
      return DeathKind::kOutsideSignal;
  }
}

void SpawnGuard::OnDeath(DeathKind kind, bool fatal, int64_t now_ms) {
  if (kind != DeathKind::kCrash) return;
  last_trouble_ms_ = now_ms;
  // During a pause nothing new is started but the trickle: its deaths do not
  // re-arm or lengthen the pause (the next pause, if any, doubles).
  if (paused_) return;
  crashes_.push_back(now_ms);
  const int64_t window = limits_.crash_window_ms;
  crashes_.erase(std::remove_if(crashes_.begin(), crashes_.end(),
                                [&](int64_t t) { return now_ms - t > window; }),
                 crashes_.end());
  if (fatal) {
    StartPause(now_ms, "a worker could not start (exit status " +
                           std::to_string(static_cast<int>(worker::WorkerExit::kFatal)) + ")");
  } else if (static_cast<int>(crashes_.size()) >= limits_.crash_limit) {
    StartPause(now_ms, std::to_string(crashes_.size()) + " workers crashed within " +
                           Seconds(limits_.crash_window_ms));
  }
}

void SpawnGuard::OnForkFailed(int err, int64_t now_ms) {
  last_trouble_ms_ = now_ms;
  const std::string cause =
      std::string("fork failed: ") + std::strerror(err) + " (errno " + std::to_string(err) + ")";
  if (paused_) {
    // Once per pause, not per attempt.
    if (!fork_error_logged_) messages_.push_back(cause + " during the spawn pause");
    fork_error_logged_ = true;
    fork_pause_ = true;
    return;
  }
  StartPause(now_ms, cause);
  fork_pause_ = true;
  fork_error_logged_ = true;
}

void SpawnGuard::OnForkOk(int64_t now_ms) {
  if (paused_ && fork_pause_) EndPause(now_ms, "fork works again");
}

void SpawnGuard::Poll(int64_t now_ms) {
  if (paused_) {
    if (now_ms >= pause_until_ms_) EndPause(now_ms, "pause over");
    return;
  }
  if (pause_ms_ > 0 &&
      now_ms - std::max(last_trouble_ms_, pause_end_ms_) >= limits_.quiet_reset_ms) {
    pause_ms_ = 0;
    crashes_.clear();
    messages_.push_back("no worker crash or fork failure for " + Seconds(limits_.quiet_reset_ms) +
                        ": spawn back-off reset");
  }
}

bool SpawnGuard::TakeTrickle(int64_t now_ms) {
  if (!paused_) return true;
  if (last_trickle_ms_ != 0 && now_ms - last_trickle_ms_ < limits_.trickle_ms) return false;
  last_trickle_ms_ = now_ms;
  return true;
}

std::vector<std::string> SpawnGuard::TakeMessages() {
  std::vector<std::string> out;
  out.swap(messages_);
  return out;
}

void SpawnGuard::StartPause(int64_t now_ms, const std::string& cause) {
  pause_ms_ =
      pause_ms_ == 0 ? limits_.first_pause_ms : std::min(pause_ms_ * 2, limits_.max_pause_ms);
  paused_ = true;
  fork_pause_ = false;
  fork_error_logged_ = false;
  pause_start_ms_ = now_ms;
  pause_until_ms_ = now_ms + pause_ms_;
  last_trickle_ms_ = 0;
  crashes_.clear();
  messages_.push_back(cause + "; spawning paused for " + Seconds(pause_ms_) +
                      " (meanwhile one spawn every " + Seconds(limits_.trickle_ms) +
                      " at most, only while no worker is idle; clients get 421 "
                      "while none is free)");
}

void SpawnGuard::EndPause(int64_t now_ms, const std::string& why) {
  paused_ = false;
  fork_pause_ = false;
  pause_end_ms_ = now_ms;
  messages_.push_back("spawning resumed after " + Seconds(now_ms - pause_start_ms_) + " (" + why +
                      ")");
}

}  // namespace poolftpd::master
