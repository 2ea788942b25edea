// The standalone master's private parts, shared by the files of src/master
// that implement it (master.cc: set-up, spawning, reaping and the loop;
// listeners.cc; scoreboard_upkeep.cc; signals.cc; reload.cc). Not part of
// the module's interface: include/poolftpd/master/master.h is.
#pragma once

#include <sys/signalfd.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "poolftpd/config/config.h"
#include "poolftpd/master/master.h"
#include "poolftpd/master/notify.h"
#include "poolftpd/master/pidfile.h"
#include "poolftpd/master/pool_policy.h"
#include "poolftpd/scoreboard/scoreboard.h"
#include "poolftpd/util/dontfork.h"
#include "poolftpd/util/result.h"
#include "poolftpd/util/unique_fd.h"
#include "poolftpd/worker/worker.h"

namespace poolftpd::master::detail {

constexpr int kListenBacklog = 4096;
// Spawning (PoolPolicy): FTP logins come in bursts (a mirror sync, a
// release), so the pool replaces every worker that accepts at once and ramps
// its rate quickly (1024/s doubling to 8192/s), unlike httpd's 32/s.
constexpr int kStopGraceMs = 3000;          // TERM -> KILL for stragglers
constexpr int64_t kDamageReportMs = 60000;  // repeated header damage: one line a minute

struct Listener {
  config::ListenerSpec spec;
  UniqueFd fd;
};

struct Child {
  pid_t pid = 0;
  uint32_t generation = 0;
  bool leaving = false;  // told to leave (USR1) or TERMed
};

// Epoll tags.
constexpr uint64_t kTagSignal = 1, kTagTimer = 2, kTagNotify = 3, kTagListenBase = 100;

// A bound, listening, non-blocking socket for `ep` (IPV6_V6ONLY unless
// `dual_stack`); accepted connections inherit SO_OOBINLINE and TCP_NODELAY.
Result<UniqueFd> OpenListener(const net::Endpoint& ep, bool dual_stack);

// The credentials workers take. As root: the <Anonymous> User/Group (and its
// root as the chroot) if there is one, else User/Group (default nobody/
// nogroup); a User of uid 0 is refused. Not root: no switch at all.
Result<worker::Identity> ResolveIdentity(const config::Config& cfg);

// DebugLevel wins over -d, as in ProFTPD.
int ConfiguredDebugLevel(const Options& opts, const config::Config& cfg);

// "SystemLog none" silences the log entirely.
std::string SystemLogPath(const config::Config& cfg);

// fork() for a worker (_Fork() while single-threaded: master.cc says why).
pid_t ForkWorker();

class Master {
 public:
  Master(const Options& opts, std::shared_ptr<const config::Config> cfg)
      : opts_(opts), cfg_(std::move(cfg)) {}
  int Run(int ready_fd);

 private:
  Result<void> Setup();
  Result<std::vector<Listener>> Reconcile(const config::Config& cfg);
  void Loop();
  void DrainSignals();
  void Reap();
  void Maintain();
  bool SpawnOne();
  void LogSpawnGuard();
  // Every tick: a truncated file or a damaged header is repaired from the
  // master's own state, and logged.
  void CheckScoreboard();
  void Reload();
  void ReopenLogs();
  void Stop();
  void SetFullListening(bool on);
  void RefuseFull();
  // Accepts what is pending (up to 64 per listener) and answers `msg`.
  void RefuseAll(const std::string& msg, const std::string& why);
  void Tell(size_t slot, int signo);
  // Sends `signo` to every child `whom` selects (slot order); `leave`: marks
  // them as told to leave. Returns how many were told.
  int TellChildren(int signo, Whom whom, bool leave);
  // The live children (by_pid_ order) with their slot states, into the
  // reused snapshot_ (no allocation: reserved for every slot).
  std::span<const PoolChild> TakeSnapshot();
  PoolLimits Limits() const {
    return PoolLimits{cfg_->min_spare_servers, cfg_->max_spare_servers, cfg_->max_clients};
  }
  void SendStatus();
  // ftpdctl debug N: a queued DebugLevelSignal (util/debug_signal.h).
  void OnDebugSignal(const signalfd_siginfo& si);
  // Sets this process's level and queues it to every child in our table.
  void SetDebugLevel(int level);
  // ftpshut: re-read ShutdownFile when it changed (or `force`), publish it.
  // Returns a description when a shutdown is pending.
  std::string WatchShutdownFile(bool force);
  void EnforceDisconnect();
  void SetListeners(std::vector<Listener> ls);
  void FreeSlot(size_t slot);

  Options opts_;
  std::shared_ptr<const config::Config> cfg_;
  worker::Identity identity_;
  worker::KnownNames names_;  // resolved here so workers need no NSS (PrepareWorkers)
  std::vector<Listener> listeners_;
  std::vector<int> listen_fds_;                     // listeners_' fds, handed to every worker
  std::vector<config::ListenerSpec> listen_specs_;  // their specs, in the same order
  std::optional<sb::Scoreboard> board_opt_;
  sb::Scoreboard* board_ = nullptr;
  PidFile pidfile_;
  UniqueFd sigfd_, epfd_, timerfd_, notify_rd_, notify_wr_;
  // By slot, and the pid index: written after every fork, so kept where
  // workers do not share them (util/dontfork.h).
  std::vector<Child, util::DontForkAllocator<Child>> children_;
  std::unordered_map<pid_t, size_t, std::hash<pid_t>, std::equal_to<pid_t>,
                     util::DontForkAllocator<std::pair<const pid_t, size_t>>>
      by_pid_;
  uint32_t generation_ = 1;
  // Bit i set: slot i is free. A spawn clears it, FreeSlot sets it;
  // SpawnOne takes the lowest, so live slots stay dense at the bottom and
  // tools read only up to the scoreboard's mark. Written after every fork,
  // so kept where workers do not share it.
  std::vector<uint64_t, util::DontForkAllocator<uint64_t>> free_bits_;
  int64_t last_maintain_ms_ = 0;
  bool maintain_due_ = false;
  bool full_listening_ = false;
  // Descriptors exhausted (EMFILE/ENFILE): /dev/null held open so that one
  // fd can be freed to accept and refuse a client with 421 (RefuseAll);
  // without it the master stops watching the listeners until
  // listen_pause_until_ms_, so a pending connection cannot make it spin.
  UniqueFd reserve_fd_;
  int64_t listen_pause_until_ms_ = 0;
  bool fd_shortage_logged_ = false;
  // CheckScoreboard: whether ScoreboardFile still names our file.
  bool scoreboard_at_path_ = true;
  // Spawn policy: decisions in policy_, executed here.
  PoolPolicy policy_;
  std::vector<PoolChild> snapshot_;
  int accepted_since_maintain_ = 0;  // wake-up bytes: one per accept
  uint32_t hwm_floor_ = 0;           // one past the highest slot ever handed out
  int64_t damage_logged_ms_ = 0;
  int damage_unreported_ = 0;
  // Pending orders from signals.
  int stop_signal_ = 0;
  bool stop_ = false, graceful_ = false, reload_ = false, reopen_ = false, reap_ = false;
  int64_t graceful_since_ms_ = 0;
  Notifier notifier_;
  struct FileStamp {
    bool exists = false;
    int64_t mtime_ns = 0, size = 0, ino = 0;
    friend bool operator==(const FileStamp&, const FileStamp&) = default;
  } shutdown_stamp_;
  std::string last_status_;
};

}  // namespace poolftpd::master::detail
