#include "poolftpd/master/master.h"

#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/single_threaded.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <optional>
#include <unordered_map>

#include "poolftpd/config/environment.h"
#include "poolftpd/log/log.h"
#include "poolftpd/master/notify.h"
#include "poolftpd/master/pidfile.h"
#include "poolftpd/master/pool_policy.h"
#include "poolftpd/master/spawn_guard.h"
#include "poolftpd/scoreboard/scoreboard.h"
#include "poolftpd/scoreboard/shutdown.h"
#include "poolftpd/util/debug_signal.h"
#include "poolftpd/util/dontfork.h"
#include "poolftpd/util/io.h"
#include "poolftpd/util/unique_fd.h"
#include "poolftpd/worker/worker.h"

namespace poolftpd::master {
namespace {

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

Result<UniqueFd> OpenListener(const net::Endpoint& ep, bool dual_stack) {
  const int family = ep.addr.is_v4() ? AF_INET : AF_INET6;
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return Error::FromErrno(errno, "socket", ep.ToString());
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // Accepted control connections inherit these (the session relies on it):
  // Telnet Synch before ABOR stays in band, and replies are never delayed by Nagle.
  ::setsockopt(fd.get(), SOL_SOCKET, SO_OOBINLINE, &one, sizeof one);
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (family == AF_INET6) {
    const int v6only = dual_stack ? 0 : 1;
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
  }
  sockaddr_storage ss;
  const unsigned len = ep.ToSockaddr(&ss);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return Error::FromErrno(errno, "bind", ep.ToString());
  if (::listen(fd.get(), kListenBacklog) != 0)
    return Error::FromErrno(errno, "listen", ep.ToString());
  return fd;
}

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
  // SECURITY: workers parse network input; they never run as root.
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

// Epoll tags.
constexpr uint64_t kTagSignal = 1, kTagTimer = 2, kTagNotify = 3, kTagListenBase = 100;

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

Result<std::vector<Listener>> Master::Reconcile(const config::Config& cfg) {
  std::vector<Listener> out;
  for (const config::ListenerSpec& want : config::Listeners(cfg)) {
    const net::Endpoint& ep = want.endpoint;
    const bool dual = want.dual_stack;
    // An unchanged listener keeps its socket (and its backlog of clients).
    auto it = std::find_if(listeners_.begin(), listeners_.end(), [&](const Listener& l) {
      return l.fd.valid() && l.spec.endpoint.port == ep.port && l.spec.endpoint.addr == ep.addr &&
             l.spec.dual_stack == dual;
    });
    if (it != listeners_.end()) {
      Listener l;
      l.spec = want;
      l.spec.endpoint = it->spec.endpoint;
      l.fd.reset(::fcntl(it->fd.get(), F_DUPFD_CLOEXEC, 3));
      out.push_back(std::move(l));
      continue;
    }
    auto fd = OpenListener(ep, dual);
    if (!fd && dual && fd.error().sys_errno() == EAFNOSUPPORT) {
      // No IPv6 on this host: fall back to IPv4 only.
      config::ListenerSpec v4 = want;
      v4.endpoint = net::Endpoint{*net::IpAddress::Parse("0.0.0.0"), ep.port};
      v4.dual_stack = false;
      fd = OpenListener(v4.endpoint, false);
      if (fd) {
        out.push_back(Listener{v4, std::move(*fd)});
        continue;
      }
    }
    if (!fd) return fd.error();
    out.push_back(Listener{want, std::move(*fd)});
  }
  return out;
}

void Master::SetListeners(std::vector<Listener> ls) {
  listeners_ = std::move(ls);
  listen_fds_.clear();
  listen_specs_.clear();
  for (const auto& l : listeners_) {
    listen_fds_.push_back(l.fd.get());
    listen_specs_.push_back(l.spec);
  }
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
      const std::string how =
          signalled ? "was killed by signal " + std::to_string(sig) + " (" + SignalName(sig) + ")"
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

void Master::SetFullListening(bool on) {
  if (on == full_listening_) return;
  full_listening_ = on;
  POOLFTPD_DEBUG(
      9, on ? "pool: full (MaxClients " : "pool: no longer full (MaxClients ", cfg_->max_clients,
      on ? "): the master answers new connections with 421" : "): connections go to workers again");
  for (size_t i = 0; i < listeners_.size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kTagListenBase + i;
    ::epoll_ctl(epfd_.get(), on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, listeners_[i].fd.get(),
                on ? &ev : nullptr);
  }
}

void Master::RefuseFull() {
  // Re-check: a worker may have become free since the wake-up.
  const PoolPolicy::Refusal r =
      policy_.CheckFull(PoolPolicy::Count(TakeSnapshot(), generation_), Limits());
  // Spawning paused and no worker free (no_worker): nobody would greet the client.
  if (!r.full && !r.no_worker) {
    SetFullListening(false);
    return;
  }
  if (r.no_worker) {
    RefuseAll("421 Service not available, please try again later.\r\n",
              "Connection refused (no worker available: spawning paused)");
    return;
  }
  std::string text =
      cfg_->max_clients_message.empty()
          ? "Sorry, the maximum number of clients (%m) for this server are already connected."
          : cfg_->max_clients_message;
  // ProFTPD's %m cookie: the limit itself.
  for (size_t at; (at = text.find("%m")) != std::string::npos;)
    text.replace(at, 2, std::to_string(cfg_->max_clients));
  RefuseAll("421 " + text + "\r\n",
            "Connection refused (MaxClients " + std::to_string(cfg_->max_clients) + ")");
}

void Master::RefuseAll(const std::string& msg, const std::string& why) {
  for (const auto& l : listeners_) {
    for (int n = 0; n < 64; ++n) {
      sockaddr_storage ss;
      socklen_t len = sizeof ss;
      UniqueFd c(::accept4(l.fd.get(), reinterpret_cast<sockaddr*>(&ss), &len,
                           SOCK_CLOEXEC | SOCK_NONBLOCK));
      if (!c) break;
      const auto peer = net::Endpoint::FromSockaddr(reinterpret_cast<sockaddr*>(&ss));
      const std::string ip = peer.addr.ToString();
      log::Logs::SetClient(ip, ip);
      log::Info(why);
      POOLFTPD_DEBUG(5, "sending reply '", std::string_view(msg).substr(0, msg.size() - 2), "'");
      log::Logs::ClearClient();
      (void)::send(c.get(), msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
  }
}

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

std::string Master::WatchShutdownFile(bool force) {
  // ftpshut writes the file, then the header: a published shutdown with no
  // file means the file went away, even if it came and went between checks.
  const bool published = board_->ReadHeader().shutdown_time != 0;
  FileStamp now;
  struct stat st;
  if (::stat(cfg_->shutdown_file.c_str(), &st) == 0) {
    now.exists = true;
    now.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    now.size = st.st_size;
    now.ino = static_cast<int64_t>(st.st_ino);
  }
  if (!force && now == shutdown_stamp_ && (now.exists || !published)) return "";
  const bool was = shutdown_stamp_.exists;
  shutdown_stamp_ = now;
  auto info = sb::ReadShutdownFile(cfg_->shutdown_file);
  if (!info) {
    log::Error("ShutdownFile " + info.error().message() + "; ignored");
    board_->SetShutdown(0, 0, 0, "");
    return "";
  }
  if (!info->has_value()) {
    board_->SetShutdown(0, 0, 0, "");
    if (was) log::Info("ShutdownFile " + cfg_->shutdown_file + " removed: accepting logins again");
    return "";
  }
  const sb::ShutdownInfo& i = **info;
  board_->SetShutdown(i.shutdown_time, i.deny_time, i.disconnect_time, i.message);
  const std::string what = "shutdown pending (ShutdownFile " + cfg_->shutdown_file +
                           "): shutdown at " + sb::FormatShutdownTime(i.shutdown_time) +
                           ", new logins refused from " + sb::FormatShutdownTime(i.deny_time) +
                           ", sessions closed at " + sb::FormatShutdownTime(i.disconnect_time);
  log::Warn(what);
  return what;
}

void Master::EnforceDisconnect() {
  // The header is the live state: ftpshut publishes there before the file
  // change is noticed. Past the disconnect time, busy workers get USR2 and
  // end their session with the shutdown message.
  const sb::HeaderView h = board_->ReadHeader();
  if (h.shutdown_time == 0) return;
  const int64_t disconnect = h.disconnect_time ? h.disconnect_time : h.shutdown_time;
  if (std::time(nullptr) < disconnect) return;
  TellChildren(SIGUSR2, Whom::kBusy, /*leave=*/false);
}

void Master::CheckScoreboard() {
  const std::string& file = board_->path();
  const sb::TruncationEvents faults = sb::TakeTruncationEvents();
  const sb::Scoreboard::SizeCheck size = board_->RestoreSize();
  const int err = faults.restore_errno != 0 ? faults.restore_errno : size.restore_errno;
  if (err != 0 || sb::MappingDetached()) {
    log::Error("scoreboard " + file + " was truncated and its size cannot be restored (" +
               std::strerror(err) + "): stopping; remove the file and start again");
    stop_ = true;
    return;
  }
  if (faults.restored > 0 || size.truncated) {
    // The pages past the old end read as zeros again: the header is ours to
    // rewrite; each worker republishes its own slot (idle ones within a
    // second, sessions at their next command).
    board_->RepairHeader(hwm_floor_);
    WatchShutdownFile(true);
    log::Error("scoreboard " + file + " was truncated" +
               (size.truncated ? " (to " + std::to_string(size.seen_size) + " bytes)" : "") +
               "; size restored (" + std::to_string(size.mapped_size) +
               " bytes) and header rewritten");
    return;
  }
  const std::string damage = board_->CheckHeader(hwm_floor_);
  if (damage.empty()) return;
  // SECURITY: the file is writable by whoever can write its directory (and
  // by every worker): the master decides from its own copy and puts the
  // header back; it never adopts what it found there.
  board_->RepairHeader(hwm_floor_);
  WatchShutdownFile(true);
  const int64_t now = util::MonotonicMs();
  if (damage_logged_ms_ != 0 && now - damage_logged_ms_ < kDamageReportMs) {
    ++damage_unreported_;
    return;
  }
  std::string line = "scoreboard " + file + ": header damaged (" + damage +
                     "); rewritten from the master's own state";
  if (damage_unreported_ > 0)
    line +=
        " (also repaired " + std::to_string(damage_unreported_) + " times since the last report)";
  log::Error(line);
  damage_logged_ms_ = now;
  damage_unreported_ = 0;
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
  // SECURITY: who may change the level. The kernel delivers this signal only
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

void Master::Reload() {
  log::Info("received SIGHUP -- master server reparsing configuration file");
  notifier_.Reloading();
  struct ReadyAgain {  // READY=1 whether the reload worked or not
    const Notifier& n;
    ~ReadyAgain() { n.Send("READY=1"); }
  } ready_again{notifier_};
  auto loaded = config::Load(opts_.config_file, opts_.defines);
  if (!loaded) {
    log::Error(loaded.error().message() +
               " (reload failed; still running on the old configuration)");
    return;
  }
  std::shared_ptr<const config::Config> next = *loaded;
  if (next->server_type != config::ServerType::kStandalone) {
    log::Error(opts_.config_file +
               ": ServerType inetd is not supported (reload failed; still running on the old "
               "configuration)");
    return;
  }
  if (auto env = config::CheckEnvironment(*next, ::geteuid() == 0); !env) {
    log::Error(env.error().message() + " (reload failed; still running on the old configuration)");
    return;
  }
  auto id = ResolveIdentity(*next);
  if (!id) {
    log::Error(id.error().message() + " (reload failed; still running on the old configuration)");
    return;
  }
  auto ls = Reconcile(*next);
  if (!ls) {
    log::Error(ls.error().message() + " (reload failed; still running on the old configuration)");
    return;
  }
  if (next->scoreboard_file != cfg_->scoreboard_file || next->pid_file != cfg_->pid_file)
    log::Warn("ScoreboardFile/PidFile changes take effect at the next restart");
  const int slots = static_cast<int>(children_.size());
  if (next->max_clients + next->max_spare_servers > slots)
    log::Warn("MaxClients + MaxSpareServers above " + std::to_string(slots) +
              " needs a restart; the pool stays within the current scoreboard");
  SetFullListening(false);
  SetListeners(std::move(*ls));
  cfg_ = std::move(next);
  if (const int d = ConfiguredDebugLevel(opts_, *cfg_); d != log::Logs::debug_level()) {
    log::Info("debug level " + std::to_string(d) + " from the configuration (was " +
              std::to_string(log::Logs::debug_level()) + ")");
    SetDebugLevel(d);
  }
  identity_ = *id;
  names_ = worker::PrepareWorkers(*cfg_, identity_);
  ReopenLogs();
  ++generation_;
  board_->SetGeneration(generation_);
  board_->SetMaxClients(static_cast<uint32_t>(cfg_->max_clients));
  board_->SetServerName(cfg_->server_name);
  // Idle old-generation workers leave at once; busy ones after their session.
  TellChildren(SIGUSR1, Whom::kOldGeneration, /*leave=*/true);
  policy_.OnReload();  // replace the pool at once
  POOLFTPD_DEBUG(9, "pool: reload: old-generation workers told to leave; spawn rate ",
                 policy_.spawn_rate(), "/s");
  WatchShutdownFile(true);
  log::Info("configuration reloaded (generation " + std::to_string(generation_) + ")");
}

void Master::Stop() {
  SetFullListening(false);
  SetListeners({});
  TellChildren(SIGTERM, Whom::kAll, /*leave=*/true);
  const int64_t deadline = util::MonotonicMs() + kStopGraceMs;
  while (!by_pid_.empty()) {
    Reap();
    if (by_pid_.empty()) break;
    if (util::MonotonicMs() >= deadline) {
      TellChildren(SIGKILL, Whom::kAll, /*leave=*/false);
      while (!by_pid_.empty()) {
        int status;
        const pid_t pid = ::waitpid(-1, &status, 0);
        if (pid < 0) break;
        auto it = by_pid_.find(pid);
        if (it != by_pid_.end()) {
          board_->Clear(it->second);
          FreeSlot(it->second);
          by_pid_.erase(it);
        }
      }
      break;
    }
    timespec ts{0, 10 * 1000000};
    ::nanosleep(&ts, nullptr);
  }
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

}  // namespace

int RunInetd(const Options& opts, std::shared_ptr<const config::Config> cfg) {
  if (auto r = log::Logs::Open(SystemLogPath(*cfg), cfg->transfer_log, /*foreground=*/false); !r)
    return 1;
  log::Logs::SetDebugLevel(ConfiguredDebugLevel(opts, *cfg));
  auto id = ResolveIdentity(*cfg);
  if (!id) {
    log::Error("fatal: " + id.error().message());
    return 1;
  }
  return worker::RunInetd(*cfg, *id);
}

int Run(const Options& opts, std::shared_ptr<const config::Config> cfg, int ready_fd) {
  Master m(opts, std::move(cfg));
  return m.Run(ready_fd);
}

}  // namespace poolftpd::master
