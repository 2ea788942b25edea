// The standalone master: set-up, spawning and reaping workers, the event
// loop; the entry points of master.h.
#include "master_internal.h"

#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/single_threaded.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <ctime>

#include "poolftpd/log/log.h"
#include "poolftpd/master/notify.h"
#include "poolftpd/master/pidfile.h"
#include "poolftpd/master/pool_policy.h"
#include "poolftpd/master/spawn_guard.h"
#include "poolftpd/scoreboard/scoreboard.h"
#include "poolftpd/scoreboard/shutdown.h"
#include "poolftpd/util/debug_signal.h"
#include "poolftpd/util/io.h"
#include "poolftpd/util/strings.h"
#include "poolftpd/worker/seccomp.h"
#include "poolftpd/worker/worker.h"

namespace poolftpd::master::detail {

Result<worker::Identity> ResolveIdentity(const config::Config& cfg) {
  worker::Identity id;
  if (::geteuid() != 0) return id;  // unprivileged: same code, no switch
  id.switch_user = true;
  std::string user = cfg.user, group_name = cfg.group;
  if (cfg.anonymous) {
    user = cfg.anonymous->user;
    group_name = cfg.anonymous->group;
    id.chroot_dir = cfg.anonymous->root;
  }
  if (user.empty()) user = "nobody";
  if (group_name.empty()) group_name = "nogroup";
  const passwd* pw = ::getpwnam(user.c_str());
  if (pw == nullptr)
    return Error(ErrorCode::kInvalid, "User \"" + user + "\": no such user on this system");
  const struct group* gr = ::getgrnam(group_name.c_str());
  if (gr == nullptr)
    return Error(ErrorCode::kInvalid, "Group \"" + group_name + "\": no such group on this system");
  // SECURITY (S1): workers parse network input; they never run as root.
  if (pw->pw_uid == 0)
    return Error(ErrorCode::kInvalid,
                 "User \"" + user + "\" is root: refusing to run workers as root");
  id.uid = pw->pw_uid;
  id.gid = gr->gr_gid;
  return id;
}

// DebugLevel wins over -d, as in ProFTPD.
int ConfiguredDebugLevel(const Options& opts, const config::Config& cfg) {
  return cfg.debug_level.value_or(opts.debug_level);
}

// "SystemLog none" silences the log entirely.
std::string SystemLogPath(const config::Config& cfg) {
  return cfg.system_log_none ? "/dev/null" : cfg.system_log;
}

Result<void> Master::Setup() {
  auto id = ResolveIdentity(*cfg_);
  if (!id) return id.error();
  identity_ = *id;
  names_ = worker::PrepareWorkers(*cfg_, identity_);

  // The PidFile first: a live poolftpd on it means "already running".
  if (auto p = pidfile_.Write(cfg_->pid_file); !p)
    return Error(p.error().code(), "PidFile: " + p.error().message());
  if (!pidfile_.note().empty()) log::Warn(pidfile_.note());

  auto ls = Reconcile(*cfg_);
  if (!ls) return ls.error();
  SetListeners(std::move(*ls));

  // /run is a tmpfs: create the run directory (one level) when missing.
  for (const std::string* f : {&cfg_->scoreboard_file, &cfg_->pid_file}) {
    const size_t slash = f->rfind('/');
    if (slash != std::string::npos && slash > 0) {
      const std::string dir = f->substr(0, slash);
      if (::mkdir(dir.c_str(), 0755) == 0) log::Info("created directory " + dir);
    }
  }
  const uint32_t slots = static_cast<uint32_t>(cfg_->max_clients + cfg_->max_spare_servers);
  auto board = sb::Scoreboard::Create(cfg_->scoreboard_file, slots, cfg_->server_name,
                                      static_cast<uint32_t>(cfg_->max_clients));
  if (!board) return Error(board.error().code(), "ScoreboardFile: " + board.error().message());
  board_opt_.emplace(std::move(*board));
  board_ = &*board_opt_;
  // A shrunk file (truncate -s 0) would kill us with SIGBUS: put the size
  // back and carry on (CheckScoreboard logs it and rewrites the header).
  board_->GuardTruncation(sb::TruncationPolicy::kRestore);
  worker::GuardScoreboardWrites(board_);
  board_->SetGeneration(generation_);
  {
    // ftpdctl status shows which file the master runs on.
    char real[PATH_MAX];
    board_->SetConfigFile(::realpath(opts_.config_file.c_str(), real) ? real : opts_.config_file);
  }
  children_.assign(slots, Child{});
  snapshot_.reserve(slots);
  policy_.Reserve(slots);
  free_bits_.assign((children_.size() + 63) / 64, ~uint64_t{0});
  if (children_.size() % 64) free_bits_.back() = (uint64_t{1} << (children_.size() % 64)) - 1;

  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD}) sigaddset(&set, s);
  sigaddset(&set, util::DebugLevelSignal());
  sigfd_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sigfd_) return Error::FromErrno(errno, "signalfd");
  epfd_.reset(::epoll_create1(EPOLL_CLOEXEC));
  timerfd_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  int pipefd[2];
  if (!epfd_ || !timerfd_ || ::pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) != 0)
    return Error::FromErrno(errno, "epoll/timerfd/pipe");
  notify_rd_.reset(pipefd[0]);
  notify_wr_.reset(pipefd[1]);
  reserve_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  itimerspec its{};
  its.it_interval.tv_sec = 1;
  its.it_value.tv_sec = 1;
  ::timerfd_settime(timerfd_.get(), 0, &its, nullptr);
  auto add = [&](int fd, uint64_t tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    ::epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd, &ev);
  };
  add(sigfd_.get(), kTagSignal);
  add(timerfd_.get(), kTagTimer);
  add(notify_rd_.get(), kTagNotify);
  return Ok();
}

void Master::FreeSlot(size_t slot) {
  children_[slot] = Child{};
  free_bits_[slot / 64] |= uint64_t{1} << (slot % 64);
}

// _Fork() while this process is single-threaded (the master starts no
// threads): plain fork() would also, in the child, bump glibc's pthread_once
// generation and re-initialise ld.so's locks -- state only another thread
// could have left held -- and run pthread_atfork child handlers (none are
// registered here: nothing initialises OpenSSL in the master). Those writes
// cost every worker 4 private pages. A handler registered in the master in
// future would not run in workers: re-initialise such state in RunChild.
pid_t ForkWorker() {
  if (__libc_single_threaded) return ::_Fork();
  return ::fork();
}

bool Master::SpawnOne() {
  // The lowest free slot: first set bit of free_bits_ (~190 words at
  // 12,000 slots).
  size_t slot = children_.size();
  for (size_t w = 0; w < free_bits_.size(); ++w) {
    if (free_bits_[w] != 0) {
      slot = w * 64 + static_cast<size_t>(std::countr_zero(free_bits_[w]));
      break;
    }
  }
  if (slot == children_.size()) return false;
  // The master writes the slot before fork and after reap; the worker in between.
  sb::SlotRecord rec;
  rec.generation = generation_;
  rec.state = sb::SlotState::kStarting;
  board_->Clear(slot);
  board_->Publish(slot, rec);

  // Nothing allocated per spawn (see worker::ChildSpec).
  const int keep_fds[] = {log::Logs::system_fd(), log::Logs::transfer_fd()};
  worker::ChildSpec spec;
  spec.config = cfg_.get();
  spec.scoreboard = board_;
  spec.slot = slot;
  spec.generation = generation_;
  spec.master_pid = ::getpid();
  spec.listen_fds = listen_fds_;
  spec.listeners = listen_specs_;
  spec.notify_fd = notify_wr_.get();
  spec.keep_fds = keep_fds;
  spec.identity = &identity_;
  spec.names = &names_;
  const pid_t pid = ForkWorker();
  if (pid == 0) worker::RunChild(spec);  // [[noreturn]]
  if (pid < 0) {
    const int err = errno;
    board_->Clear(slot);
    policy_.OnForkFailed(err, util::MonotonicMs());  // pauses; logged once per pause
    LogSpawnGuard();
    return false;
  }
  policy_.OnForked(util::MonotonicMs());
  hwm_floor_ = std::max(hwm_floor_, static_cast<uint32_t>(slot + 1));
  children_[slot] = Child{pid, generation_, false};
  free_bits_[slot / 64] &= ~(uint64_t{1} << (slot % 64));
  by_pid_[pid] = slot;
  POOLFTPD_DEBUG(9, "pool: forked worker ", pid, " into slot ", slot, " (generation ", generation_,
                 ")");
  return true;
}

void Master::LogSpawnGuard() {
  for (const std::string& m : policy_.guard().TakeMessages()) {
    if (policy_.guard().Paused()) log::Error(m);
    else
      log::Info(m);
  }
}

void Master::Tell(size_t slot, int signo) {
  Child& c = children_[slot];
  if (c.pid > 0) ::kill(c.pid, signo);  // a PID from our own table only
}

int Master::TellChildren(int signo, Whom whom, bool leave) {
  int told = 0;
  for (size_t i = 0; i < children_.size(); ++i) {
    Child& c = children_[i];
    if (c.pid == 0) continue;
    PoolChild pc{c.pid, i, c.generation, c.leaving, sb::SlotState::kEmpty};
    if (whom == Whom::kBusy) pc.state = board_->PeekState(i);
    if (!Selected(whom, pc, generation_)) continue;
    if (leave) c.leaving = true;
    Tell(i, signo);
    ++told;
  }
  return told;
}

std::span<const PoolChild> Master::TakeSnapshot() {
  // Only live children's slots are read (not the whole scoreboard): this runs
  // on every accept wake-up.
  snapshot_.clear();
  for (const auto& [pid, i] : by_pid_) {
    const Child& c = children_[i];
    snapshot_.push_back(PoolChild{pid, i, c.generation, c.leaving, board_->PeekState(i)});
  }
  return snapshot_;
}

void Master::Reap() {
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) break;
    auto it = by_pid_.find(pid);
    if (it == by_pid_.end()) continue;
    const size_t slot = it->second;
    by_pid_.erase(it);
    const Child c = children_[slot];
    FreeSlot(slot);
    // Read before Clear() zeroes it: the call a seccomp filter trapped.
    const uint64_t trap = board_->SeccompTrap(slot);
    board_->Clear(slot);
    const bool signalled = WIFSIGNALED(status);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    const DeathKind kind = policy_.OnDeath(
        status, PoolChild{pid, slot, c.generation, c.leaving, sb::SlotState::kEmpty}, generation_,
        util::MonotonicMs());
    POOLFTPD_DEBUG(9, "pool: reaped worker ", pid, " (slot ", slot, ", generation ", c.generation,
                   "): ", signalled ? "killed by signal " : "exited with status ",
                   signalled ? WTERMSIG(status) : code,
                   kind == DeathKind::kExpected ? "" : " (unexpected)");
    if (kind != DeathKind::kExpected) {
      const int sig = signalled ? WTERMSIG(status) : 0;
      // SECURITY (S14): the word is only a name for the log (a worker could
      // write anything there); the death itself is the kernel's SIGSYS.
      const std::string how =
          signalled && sig == SIGSYS && trap != 0
              ? "killed by seccomp (syscall " + util::EscapeControl(worker::SeccompTrapName(trap)) +
                    ")"
          : signalled ? "was killed by signal " + std::to_string(sig) + " (" + SignalName(sig) + ")"
                      : "exited with status " + std::to_string(code);
      log::Warn("worker " + std::to_string(pid) + " " + how + "; slot cleared, replacing it" +
                (kind == DeathKind::kOutsideSignal ? " (sent from outside: not counted as a crash)"
                                                   : ""));
      if (c.generation == generation_) LogSpawnGuard();
    }
  }
}

void Master::Maintain() {
  if (stop_ || graceful_) return;
  const std::span<const PoolChild> kids = TakeSnapshot();
  const PoolLimits limits = Limits();
  const int64_t now_ms = util::MonotonicMs();
  const PoolPolicy::Plan plan =
      policy_.MakePlan(kids, limits, generation_, accepted_since_maintain_, now_ms);
  accepted_since_maintain_ = 0;
  LogSpawnGuard();
  bool trickled = false;
  if (plan.spawn_pass) {
    POOLFTPD_DEBUG(9, "pool: spawning ", std::max(plan.spawn, 0), " worker(s): idle ",
                   plan.counts.idle, ", MinSpareServers ", limits.min_spare_servers, ", wanted ",
                   plan.want, ", busy ", plan.counts.busy, ", room ", plan.room, ", rate ",
                   plan.rate, "/s (", plan.spawned_this_tick, " this second)");
    for (int i = 0; i < plan.spawn; ++i) {
      if (!SpawnOne()) break;
    }
  } else if (plan.trickle) {
    POOLFTPD_DEBUG(9, "pool: spawn paused but no worker is idle: spawning one (trickle)");
    trickled = SpawnOne();
  }
  const PoolPolicy::Settled settled = policy_.Settle(kids, limits, generation_, plan, trickled);
  if (settled.not_spawning != nullptr && log::DebugEnabled(9))
    log::DebugJoin(9, "pool: short of ", plan.want,
                   " idle worker(s) but not spawning: ", settled.not_spawning);
  for (const size_t k : settled.retire) {
    const PoolChild& pc = kids[k];
    children_[pc.slot].leaving = true;
    POOLFTPD_DEBUG(9, "pool: retiring idle worker ", pc.pid, " (idle ",
                   plan.counts.idle + (trickled ? 1 : 0), " > MaxSpareServers ",
                   limits.max_spare_servers, ")");
    Tell(pc.slot, SIGUSR1);
  }
  SetFullListening(settled.full_listening);
}

void Master::Loop() {
  while (!stop_) {
    epoll_event evs[16];
    const int n = ::epoll_wait(epfd_.get(), evs, 16, maintain_due_ ? 1 : 1000);
    bool refuse = false;
    for (int i = 0; i < n; ++i) {
      const uint64_t tag = evs[i].data.u64;
      if (tag == kTagSignal) {
        DrainSignals();
      } else if (tag == kTagTimer) {
        uint64_t ticks;
        (void)!::read(timerfd_.get(), &ticks, sizeof ticks);
        // Spawn rate doubles each second we stayed short (httpd prefork).
        const PoolPolicy::RateChange rc = policy_.OnTick();
        if (rc.new_rate != rc.old_rate)
          POOLFTPD_DEBUG(9, "pool: spawn rate ", rc.old_rate, "/s -> ", rc.new_rate, "/s",
                         rc.was_short ? " (the pool stayed short)" : " (back to the initial rate)");
        CheckScoreboard();
        WatchShutdownFile(false);
        EnforceDisconnect();
      } else if (tag == kTagNotify) {
        char buf[4096];
        ssize_t got;
        while ((got = ::read(notify_rd_.get(), buf, sizeof buf)) > 0)
          accepted_since_maintain_ += static_cast<int>(got);
      } else if (tag >= kTagListenBase) {
        refuse = true;
      }
    }
    if (reap_) {
      reap_ = false;
      Reap();
    }
    if (stop_) break;
    if (reload_) {
      reload_ = false;
      Reload();
    }
    if (reopen_) {
      reopen_ = false;
      log::Info("received SIGUSR1 -- reopening logs");
      ReopenLogs();
      // Workers write through inherited fds: replace them gracefully.
      TellChildren(SIGUSR1, Whom::kAll, /*leave=*/true);
    }
    if (graceful_) {
      // Stop accepting; sessions finish (bounded by GracefulStopTimeout); then exit.
      if (graceful_since_ms_ == 0) {
        graceful_since_ms_ = util::MonotonicMs();
        notifier_.Send("STOPPING=1");
        log::Info("received SIGQUIT -- graceful stop: waiting up to " +
                  std::to_string(cfg_->graceful_stop_timeout) + " s for sessions to finish");
        SetFullListening(false);
        SetListeners({});
        TellChildren(SIGUSR1, Whom::kAll, /*leave=*/true);
      }
      if (by_pid_.empty()) break;
      if (util::MonotonicMs() - graceful_since_ms_ >= cfg_->graceful_stop_timeout * 1000LL) {
        log::Info("GracefulStopTimeout (" + std::to_string(cfg_->graceful_stop_timeout) +
                  " s) reached: ending " + std::to_string(by_pid_.size()) + " remaining sessions");
        break;  // Stop() TERMs (421 to clients), then KILLs stragglers
      }
      continue;
    }
    // Accept wake-ups come in bursts: maintain at most every millisecond
    // (the epoll timeout above brings us back for the deferred pass).
    const int64_t now_ms = util::MonotonicMs();
    if (refuse || now_ms - last_maintain_ms_ >= 1) {
      last_maintain_ms_ = now_ms;
      Maintain();
      if (refuse) RefuseFull();
      SendStatus();
      maintain_due_ = false;
    } else {
      maintain_due_ = true;
    }
  }
}

int Master::Run(int ready_fd) {
  notifier_.Init();
  auto report = [&](const std::string& msg) {
    if (ready_fd >= 0) {
      (void)util::WriteAll(ready_fd, msg);
      ::close(ready_fd);
      ready_fd = -1;
    } else if (msg != "OK\n") {
      (void)util::WriteAll(STDERR_FILENO, msg);
    }
  };
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD}) sigaddset(&set, s);
  sigaddset(&set,
            util::DebugLevelSignal());  // workers inherit it blocked until their handler is set
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  if (auto r = log::Logs::Open(SystemLogPath(*cfg_), cfg_->transfer_log, opts_.foreground); !r) {
    report("poolftpd: " + r.error().message() + "\n");
    return 1;
  }
  log::Logs::SetDebugLevel(ConfiguredDebugLevel(opts_, *cfg_));
  if (auto r = Setup(); !r) {
    log::Error("fatal: " + r.error().message());
    if (ready_fd >= 0 || log::Logs::system_fd() >= 0)
      report("poolftpd: " + r.error().message() + "\n");
    return 1;
  }
  // Initial pool.
  const int start = std::min(cfg_->start_servers, cfg_->max_clients);
  for (int i = 0; i < start; ++i) SpawnOne();
  std::string where;
  for (const auto& l : listeners_)
    where += (where.empty() ? "" : ", ") + l.spec.endpoint.ToString();
  log::Info("poolftpd " POOLFTPD_VERSION " (" + cfg_->server_name +
            ") standalone mode STARTUP, listening on " + where);
  // An operator who forgot an ftpshut file must see why logins are refused.
  const std::string pending = WatchShutdownFile(true);
  if (!pending.empty() && !opts_.quiet && ready_fd < 0)
    (void)util::WriteAll(STDERR_FILENO, "poolftpd: " + pending + "\n");
  report(pending.empty() ? "OK\n" : "OK\npoolftpd: " + pending + "\n");
  notifier_.Send("READY=1\nSTATUS=listening on " + where +
                 "\nMAINPID=" + std::to_string(::getpid()));
  Loop();
  if (stop_ && stop_signal_ != 0)
    log::Info("received " + SignalName(stop_signal_) + " -- stopping");
  notifier_.Send("STOPPING=1");
  Stop();
  board_->ClearMaster();
  pidfile_.Remove();
  log::Info("poolftpd " POOLFTPD_VERSION " standalone mode SHUTDOWN");
  return 0;
}

}  // namespace poolftpd::master::detail

namespace poolftpd::master {

int RunInetd(const Options& opts, std::shared_ptr<const config::Config> cfg) {
  if (auto r =
          log::Logs::Open(detail::SystemLogPath(*cfg), cfg->transfer_log, /*foreground=*/false);
      !r)
    return 1;
  log::Logs::SetDebugLevel(detail::ConfiguredDebugLevel(opts, *cfg));
  auto id = detail::ResolveIdentity(*cfg);
  if (!id) {
    log::Error("fatal: " + id.error().message());
    return 1;
  }
  return worker::RunInetd(*cfg, *id);
}

int Run(const Options& opts, std::shared_ptr<const config::Config> cfg, int ready_fd) {
  detail::Master m(opts, std::move(cfg));
  return m.Run(ready_fd);
}

}  // namespace poolftpd::master
