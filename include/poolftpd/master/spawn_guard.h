// The master's answer to workers that die: which deaths count as a crash
// loop, when spawning pauses and for how long, and when it may resume. Pure
// policy over an injected monotonic clock (milliseconds), so the unit test
// drives it; the master feeds it deaths and fork results and logs what it
// says (TakeMessages). See docs/ARCHITECTURE.md, "Pool policy".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace poolftpd::master {

// What a reaped worker's wait status means for the pool.
enum class DeathKind {
  kExpected,       // exit 0, or TERM/KILL after the master told it to leave
  kOutsideSignal,  // killed by a signal someone else sent (SIGKILL from an OOM
                   // killer or an admin, SIGTERM...): replace it, no back-off
  kCrash,          // a fault signal (SEGV, BUS, ILL, FPE, ABRT, SYS, TRAP,
                   // XCPU, XFSZ) or a non-zero exit: may be a crash loop
};
// `status` as waitpid() returned it; `told_to_leave`: the master sent it
// USR1/TERM itself.
DeathKind ClassifyDeath(int status, bool told_to_leave);
// "SIGKILL", "SIGSEGV", ... ("signal N" for one without a name).
std::string SignalName(int signo);

class SpawnGuard {
 public:
  struct Limits {
    int crash_window_ms = 10000;  // crashes are counted over this window
    int crash_limit = 10;         // ... and this many in it start a pause
    int first_pause_ms = 1000;    // the first pause; each next one doubles
    int max_pause_ms = 60000;
    int quiet_reset_ms = 10000;  // no crash or fork failure this long after
                                 // a pause ended: the next pause is short again
    int trickle_ms = 1000;       // during a pause, at most one spawn this often
  };
  SpawnGuard() = default;
  explicit SpawnGuard(const Limits& limits) : limits_(limits) {}

  // A worker of the current generation died with `kind`; `fatal` when it
  // exited kFatal (a crash loop by itself: it cannot even start).
  void OnDeath(DeathKind kind, bool fatal, int64_t now_ms);
  // fork() failed with `err`: pauses (logged once per pause with errno).
  void OnForkFailed(int err, int64_t now_ms);
  // fork() worked: a pause caused by fork failures ends at once.
  void OnForkOk(int64_t now_ms);
  // Ends a pause whose time is up (logged) and resets the back-off after a
  // quiet period. Call before Paused() on every pool pass.
  void Poll(int64_t now_ms);
  bool Paused() const { return paused_; }
  // During a pause: whether one spawn is allowed now (the pool keeps one
  // idle worker at a trickle), and records it.
  bool TakeTrickle(int64_t now_ms);
  // The length of the current (or last) pause.
  int pause_ms() const { return pause_ms_; }
  // Lines for the SystemLog since the last call: every pause start (cause
  // and length), every end, and back-off resets.
  std::vector<std::string> TakeMessages();

 private:
  void StartPause(int64_t now_ms, const std::string& cause);
  void EndPause(int64_t now_ms, const std::string& why);

  Limits limits_;
  std::vector<int64_t> crashes_;  // times within the window
  bool paused_ = false;
  bool fork_pause_ = false;         // fork failures keep this pause going
  bool fork_error_logged_ = false;  // errno logged for this pause
  int64_t pause_start_ms_ = 0, pause_until_ms_ = 0, pause_end_ms_ = 0;
  int64_t last_trouble_ms_ = 0;  // last crash or fork failure
  int64_t last_trickle_ms_ = 0;
  int pause_ms_ = 0;  // 0: no back-off armed; next pause is the first
  std::vector<std::string> messages_;
};

}  // namespace poolftpd::master
