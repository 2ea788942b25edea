#include "poolftpd/worker/worker.h"

#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <span>

#include "poolftpd/data/data_channel.h"
#include "poolftpd/fs/path.h"
#include "poolftpd/log/log.h"
#include "poolftpd/net/stream.h"
#include "poolftpd/protocol/session.h"
#include "poolftpd/scoreboard/shutdown.h"
#include "poolftpd/util/debug_signal.h"
#include "poolftpd/util/io.h"
#include "poolftpd/util/strings.h"
#include "poolftpd/worker/seccomp.h"

namespace poolftpd::worker {
namespace {

std::atomic<int> g_term{0};   // TERM: end the session now, then exit
std::atomic<int> g_leave{0};  // USR1: leave after the current session
std::atomic<int> g_kick{0};   // USR2: end the current session (ftpdctl kick)
// MasterGoneSignal (PR_SET_PDEATHSIG): the master may be gone; getppid() says.
std::atomic<int> g_master_gone{0};

// The parent-death signal. Not TERM: a worker whose master died finishes the
// transfer it is running (see master_gone in RunChild). Blocked like the
// others, but deliverable during a blocking sendfile step too (send_mask),
// so the listeners go at once even under a slow download.
int MasterGoneSignal() { return SIGRTMIN + 2; }

extern "C" void OnWorkerSignal(int signo) {  // Async-signal-safe.
  const int saved = errno;
  if (signo == SIGTERM) g_term.store(1, std::memory_order_relaxed);
  else if (signo == SIGUSR1)
    g_leave.store(1, std::memory_order_relaxed);
  else if (signo == SIGUSR2)
    g_kick.store(1, std::memory_order_relaxed);
  else if (signo == MasterGoneSignal())
    g_master_gone.store(1, std::memory_order_relaxed);
  errno = saved;
}

// inetd mode has no master: debug-level signals count from any queued
// sender the kernel lets through. Pool workers never store it (a store would
// copy the page it shares with the master).
std::atomic<int> g_debug_any_sender{0};

// ftpdctl debug N, forwarded by the master: the new level is in si_value.
extern "C" void OnDebugLevelSignal(int, siginfo_t* si, void*) {  // Async-signal-safe.
  const int saved = errno;
  const int level = si->si_value.sival_int;
  const bool any = g_debug_any_sender.load(std::memory_order_relaxed) != 0;
  // SECURITY (S10): only the kernel's permission check (root, or our own uid --
  // who may TERM us anyway) guards this; si_pid is the sender's claim. It
  // still filters a stray kill(1) (SI_USER) or another process's queue, and
  // the level is range-checked: the worst a sender can do is make us log.
  if (si->si_code == SI_QUEUE && (any || si->si_pid == ::getppid()) &&
      level >= util::kMinDebugLevel && level <= util::kMaxDebugLevel)
    log::SetDebugLevelFromSignal(level);
  errno = saved;
}

[[noreturn]] void Exit(WorkerExit code) { ::_exit(static_cast<int>(code)); }

// The scoreboard write gate (sb::SetWriteGate, GuardScoreboardWrites):
// before every write, whether this process is the master or a worker whose
// parent is still that master; if neither, the mapping is cut off the file
// first (a restarted master reuses it). Set by the master before any fork,
// so no worker writes these words (their page stays shared).
pid_t g_gate_master = 0;
sb::Scoreboard* g_gate_board = nullptr;
// No system call while MasterGoneSignal has not come (the hot path: a login
// session makes about ten slot writes): the kernel sends it as the master
// dies, and it is taken at the next wait or sendfile step, so what a worker
// writes between two waits after a SIGKILL is the most it can write late.
bool MasterStillThere() {
  if (g_master_gone.load(std::memory_order_relaxed) == 0) return true;
  if (::getppid() == g_gate_master || ::getpid() == g_gate_master) return true;
  g_gate_board->DetachFromFile();
  return false;
}

// SECURITY (S14): the allowlist, after the before-accept stage and before the
// first client byte (Seccomp on, the default). `trap_word`: the slot's word
// that names a trapped call for the master (null: none).
Result<void> Confine(const config::Config& cfg, const Identity& id,
                     std::atomic<uint64_t>* trap_word) {
  if (!cfg.seccomp) return Ok();
  SeccompOptions o;
  o.login_calls = id.model == PrivilegeModel::kRealUsers;
  o.trap_word = trap_word;
  return InstallSeccomp(o);
}

// A failed privilege stage for the SystemLog: the message and the errno.
std::string StageFailure(const Error& e) {
  std::string text = e.message();
  if (e.sys_errno() != 0) text += " (errno " + std::to_string(e.sys_errno()) + ")";
  return text;
}

// Closes every fd except 0-2 and those in `keep` (any order, duplicates
// allowed). Allocates nothing: right after fork every heap page touched
// becomes private to the worker. The lists are a handful of fds, so the next
// kept fd is found by scanning them all.
void CloseAllBut(std::initializer_list<std::span<const int>> keep) {
  unsigned next = 3;
  for (;;) {
    int lowest = -1;
    for (std::span<const int> list : keep)
      for (int fd : list)
        if (fd >= static_cast<int>(next) && (lowest < 0 || fd < lowest)) lowest = fd;
    if (lowest < 0) break;
    if (static_cast<unsigned>(lowest) > next)
      ::close_range(next, static_cast<unsigned>(lowest) - 1, 0);
    next = static_cast<unsigned>(lowest) + 1;
  }
  ::close_range(next, ~0u, 0);
}

std::string NssName(bool is_group, unsigned id) {
  if (is_group) {
    if (const group* g = ::getgrgid(id)) return g->gr_name;
  } else {
    if (const passwd* p = ::getpwuid(id)) return p->pw_name;
  }
  return {};
}

// uid/gid -> name: first the master's table (no NSS in the worker), then a
// cache filled lazily (a LIST naming other owners); resolved before chroot
// where possible.
class NameCache {
 public:
  void SetKnown(const KnownNames* known) { known_ = known; }
  std::string Lookup(bool is_group, unsigned id) {
    if (known_ != nullptr) {
      if (const std::string* n = known_->Find(is_group, id)) return *n;
    }
    auto& m = is_group ? groups_ : users_;
    auto it = m.find(id);
    if (it != m.end()) return it->second;
    std::string name = NssName(is_group, id);
    if (m.size() < 256) m.emplace(id, name);
    return name;
  }

 private:
  const KnownNames* known_ = nullptr;
  std::map<unsigned, std::string> users_, groups_;
};

void Notify(int fd) {
  if (fd < 0) return;
  const char b = 'w';
  (void)!::write(fd, &b, 1);  // O_NONBLOCK: a full pipe already wakes the master
}

uint64_t ClientKey(const net::IpAddress& a) {
  // FNV-1a over family + bytes; 0 is reserved for "no client".
  uint64_t h = 1469598103934665603ULL ^ static_cast<uint64_t>(a.family);
  for (uint8_t b : a.bytes) h = (h ^ b) * 1099511628211ULL;
  return h == 0 ? 1 : h;
}

// ---- shared by the pool worker and inetd mode ----

// UseReverseDNS. Not inlined: its 1 KiB buffer stays out of Serve's frame,
// which is on the stack for the whole session.
// SECURITY (S11): a PTR answer is chosen by whoever controls the client's
// reverse zone, so it only labels the client (logs, slot, %R) and decides
// nothing. NI_NAMEREQD: no answer yields "" (the caller shows the address),
// never a numeric string posing as a name; the name is bounded by NI_MAXHOST
// and its control characters are escaped. It is not forward-confirmed.
[[gnu::noinline]] std::string ReverseName(const sockaddr_storage& ss, socklen_t len) {
  char host[NI_MAXHOST];
  if (::getnameinfo(reinterpret_cast<const sockaddr*>(&ss), len, host, sizeof host, nullptr, 0,
                    NI_NAMEREQD) != 0)
    return {};
  return util::EscapeControl(host);
}

// The published ftpshut state as a ShutdownInfo (shutdown_time 0: none).
sb::ShutdownInfo PublishedShutdown(const sb::HeaderView& h) {
  sb::ShutdownInfo info;
  info.shutdown_time = h.shutdown_time;
  info.deny_time = h.deny_time ? h.deny_time : h.shutdown_time;
  info.disconnect_time = h.disconnect_time ? h.disconnect_time : h.shutdown_time;
  info.message = h.shutdown_msg;
  return info;
}

std::string ShutdownText(const sb::ShutdownInfo& info, const sb::CookieContext& ctx) {
  std::string text = sb::ExpandShutdownMessage(info.message, info, ctx);
  if (text.empty()) text = "FTP server shut down -- please try again later";
  return text;
}

}  // namespace

namespace {

// Blocks TERM/USR1/USR2, MasterGoneSignal and the debug-level signal (they
// are taken only inside ppoll/epoll_pwait, whose mask `wait_mask` unblocks
// them, so no other system call ever sees EINTR from them; `send_mask`, the
// mask of a blocking sendfile step, lets MasterGoneSignal alone through) and
// ignores HUP/QUIT/INT/PIPE. Debug-level signals count from the master only
// (the parent), or from any queued sender when `inetd`.
void SetUpSignals(sigset_t* wait_mask, sigset_t* send_mask, bool inetd) {
  struct sigaction sa {};
  sa.sa_handler = OnWorkerSignal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGTERM, SIGUSR1, SIGUSR2, MasterGoneSignal()}) ::sigaction(s, &sa, nullptr);
  if (inetd) g_debug_any_sender.store(1, std::memory_order_relaxed);
  struct sigaction dbg {};
  dbg.sa_sigaction = OnDebugLevelSignal;
  dbg.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&dbg.sa_mask);
  ::sigaction(util::DebugLevelSignal(), &dbg, nullptr);
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  for (int s : {SIGHUP, SIGQUIT, SIGINT, SIGPIPE}) ::sigaction(s, &ign, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGCHLD, &dfl, nullptr);
  sigset_t blocked;
  sigemptyset(&blocked);
  for (int s : {SIGTERM, SIGUSR1, SIGUSR2}) sigaddset(&blocked, s);
  sigaddset(&blocked, util::DebugLevelSignal());
  *send_mask = blocked;
  sigaddset(&blocked, MasterGoneSignal());
  ::sigprocmask(SIG_SETMASK, &blocked, nullptr);
  sigemptyset(wait_mask);
}

// What one worker process holds across its sessions: the anonymous root,
// names, its slot record, and the SessionEnv handed to each Session. `board`
// is null in inetd mode without a scoreboard.
class Worker {
 public:
  Worker(const config::Config& cfg, sb::Scoreboard* board, size_t slot, uint32_t generation)
      : cfg_(cfg), board_(board), slot_(slot) {
    rec_.pid = ::getpid();
    rec_.generation = generation;
  }

  // Before the privilege drop: open the root and resolve names (unless the
  // master did: `known`).
  void Prepare(const Identity& id, const KnownNames* known) {
    names_.SetKnown(known);
    if (known == nullptr) {  // else the master did all of it (PrepareWorkers)
      data::ReadEphemeralRange();
      names_.Lookup(false, 0);
      names_.Lookup(true, 0);
      names_.Lookup(false, id.uid);
      names_.Lookup(true, id.gid);
    }
    if (!cfg_.anonymous) return;
    auto r = fs::Root::OpenDir(cfg_.anonymous->root);
    if (!r) {
      log::Error("cannot open <Anonymous> root: " + r.error().message());
      return;
    }
    struct stat st;
    if (known == nullptr && ::fstat(r->fd(), &st) == 0) {
      names_.Lookup(false, st.st_uid);
      names_.Lookup(true, st.st_gid);
    }
    root_.emplace(std::move(*r));
  }

  void SetUpEnv(const sigset_t* wait_mask, const sigset_t* send_mask,
                std::function<bool()> stop_requested, bool socket_ready) {
    env_.socket_ready = socket_ready;
    env_.config = &cfg_;
    env_.scoreboard = board_;
    env_.slot = slot_;
    env_.record = &rec_;
    env_.anon_root = root_ ? &*root_ : nullptr;
    if (cfg_.anonymous) env_.anon_real_root = cfg_.anonymous->root;
    env_.wait_mask = wait_mask;
    env_.send_mask = send_mask;
    env_.stop_requested = std::move(stop_requested);
    env_.names = [this](bool is_group, unsigned id) { return names_.Lookup(is_group, id); };
    cookies_.server_name = cfg_.server_name;
    // Why a session is being ended: ftpshut's disconnect time, else a kick
    // (ftpdctl) or the server stopping.
    env_.stop_text = [this](std::string_view user, std::string_view cwd) -> std::string {
      const sb::ShutdownInfo info = Shutdown();
      if (info.shutdown_time != 0 && std::time(nullptr) >= info.disconnect_time) {
        sb::CookieContext c = cookies_;
        c.user = std::string(user);
        c.cwd = std::string(cwd);
        return ShutdownText(info, c);
      }
      if (g_kick.load()) return "Session terminated by the administrator";
      if (orphaned_) return "Service not available, closing control connection (server restarting)";
      return "";
    };
  }

  sb::SlotRecord& rec() { return rec_; }
  // The master is gone (RunChild's master_gone): stop_text says so.
  void SetOrphaned() { orphaned_ = true; }
  void Publish() {
    if (board_) board_->Publish(slot_, rec_);
  }

  // Serves one accepted connection to its end; true if a session ran.
  // `via`: the listener that accepted `conn` (null: inetd).
  bool Serve(UniqueFd conn, const config::ListenerSpec* via = nullptr) {
    env_.listener = via;
    sockaddr_storage peer_ss{}, local_ss{};
    socklen_t plen = sizeof peer_ss, llen = sizeof local_ss;
    ::getpeername(conn.get(), reinterpret_cast<sockaddr*>(&peer_ss), &plen);
    ::getsockname(conn.get(), reinterpret_cast<sockaddr*>(&local_ss), &llen);
    const auto peer = net::Endpoint::FromSockaddr(reinterpret_cast<sockaddr*>(&peer_ss));
    const auto local = net::Endpoint::FromSockaddr(reinterpret_cast<sockaddr*>(&local_ss));
    const std::string peer_name = cfg_.use_reverse_dns ? ReverseName(peer_ss, plen) : std::string();
    // The control connection as the session sees it: plain TCP here; a
    // PROXY header reader or implicit TLS would wrap the socket instead.
    net::TcpStream control(std::move(conn));
    const std::string ip = peer.addr.ToString();
    log::Logs::SetClient(peer_name.empty() ? ip : peer_name, ip);
    rec_.session_start_ns = util::RealtimeNs();
    util::CopyTruncated(rec_.client_addr, sizeof rec_.client_addr,
                        peer_name.empty() ? ip : peer_name + "[" + ip + "]");
    util::CopyTruncated(rec_.server_addr, sizeof rec_.server_addr, local.ToString());
    util::CopyTruncated(rec_.protocol, sizeof rec_.protocol, "ftp");
    util::CopyTruncated(rec_.cwd, sizeof rec_.cwd, "/");
    rec_.state = sb::SlotState::kConnected;
    Publish();
    if (board_) board_->CountSession();

    bool refused = false;
    // ftpshut: from the deny time on, refuse; before it, warn in the greeting.
    cookies_.local_host = local.addr.ToString();
    cookies_.remote_host = peer_name.empty() ? ip : peer_name;
    env_.greeting_warning.clear();
    if (const sb::ShutdownInfo info = Shutdown(); info.shutdown_time != 0) {
      if (std::time(nullptr) >= info.deny_time) {
        log::Info("Connection refused (server shutting down)");
        protocol::Session::Refuse(control, 421, ShutdownText(info, cookies_));
        refused = true;
      } else {
        env_.greeting_warning = ShutdownText(info, cookies_);
      }
    }
    if (!refused && board_ && cfg_.max_clients_per_host > 0) {
      const uint64_t key = ClientKey(peer.addr);
      board_->SetClientKey(slot_, key);
      if (board_->CountClientKey(key) > static_cast<uint32_t>(cfg_.max_clients_per_host)) {
        log::Info("Connection refused (MaxClientsPerHost " +
                  std::to_string(cfg_.max_clients_per_host) + ")");
        std::string text =
            cfg_.max_clients_per_host_message.empty()
                ? "Sorry, the maximum number of clients (%m) from your host are already connected."
                : cfg_.max_clients_per_host_message;
        for (size_t at; (at = text.find("%m")) != std::string::npos;)
          text.replace(at, 2, std::to_string(cfg_.max_clients_per_host));
        protocol::Session::Refuse(control, 421, text);
        refused = true;
      }
    }
    if (!refused) {
      protocol::Session session(env_, control, local, peer, peer_name);
      session.Run();
    }
    control.Close();
    if (board_) board_->SetClientKey(slot_, 0);
    log::Logs::ClearClient();
    return !refused;
  }

 private:
  sb::ShutdownInfo Shutdown() const {
    return board_ ? PublishedShutdown(board_->ReadHeader()) : sb::ShutdownInfo{};
  }

  const config::Config& cfg_;
  sb::Scoreboard* board_;
  size_t slot_;
  sb::SlotRecord rec_;
  NameCache names_;
  std::optional<fs::Root> root_;  // in the object: no heap block per worker
  protocol::SessionEnv env_;
  sb::CookieContext cookies_;
  bool orphaned_ = false;
};

}  // namespace

const std::string* KnownNames::Find(bool is_group, unsigned id) const {
  for (const Entry& e : entries)
    if (e.is_group == is_group && e.id == id) return &e.name;
  return nullptr;
}

void GuardScoreboardWrites(sb::Scoreboard* board) {
  g_gate_master = ::getpid();
  g_gate_board = board;
  sb::SetWriteGate(&MasterStillThere);
}

KnownNames PrepareWorkers(const config::Config& cfg, const Identity& id) {
  data::ReadEphemeralRange();  // inherited by every worker
  KnownNames k;
  auto add = [&k](bool is_group, unsigned n) {
    if (k.Find(is_group, n) == nullptr) k.entries.push_back({is_group, n, NssName(is_group, n)});
  };
  add(false, 0);
  add(true, 0);
  add(false, id.uid);
  add(true, id.gid);
  struct stat st;
  if (cfg.anonymous && ::stat(cfg.anonymous->root.c_str(), &st) == 0) {
    add(false, st.st_uid);
    add(true, st.st_gid);
  }
  return k;
}

[[noreturn]] void RunChild(const ChildSpec& spec) noexcept {
  try {
    const config::Config& cfg = *spec.config;
    log::Logs::AfterFork();
    sigset_t wait_mask, send_mask;
    SetUpSignals(&wait_mask, &send_mask, /*inetd=*/false);
    const int notify_fd[] = {spec.notify_fd};
    // SECURITY (S7): this closes the master's scoreboard fd too: a worker keeps
    // only the mapping, so it can write its slot but never shrink the file.
    CloseAllBut({spec.listen_fds, notify_fd, spec.keep_fds});

    sb::Scoreboard& board = *spec.scoreboard;
    Worker w(cfg, &board, spec.slot, spec.generation);
    w.rec().state = sb::SlotState::kStarting;
    w.Publish();

    // Everything that needs the real file system or root comes first.
    w.Prepare(*spec.identity, spec.names);
    // SECURITY (S1): the before-accept stage; on failure nothing is
    // accepted and the master pauses spawning (kFatal).
    if (auto d = EnterBeforeAccept(*spec.identity); !d) {
      log::Error("worker privilege drop failed: " + StageFailure(d.error()));
      Exit(WorkerExit::kFatal);
    }
    // After the credential change (which clears it): hear of the master's
    // death at once, whatever it died of (MasterGone below).
    ::prctl(PR_SET_PDEATHSIG, MasterGoneSignal());
    if (::getppid() != spec.master_pid) Exit(WorkerExit::kOk);

    UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
    if (!ep) {
      // Without a wait set nothing can be accepted: a worker that cannot
      // start (EMFILE under an exhausted RLIMIT_NOFILE), so spawning pauses.
      log::Error("worker cannot start: " + Error::FromErrno(errno, "epoll_create1").message());
      Exit(WorkerExit::kFatal);
    }
    auto add_listeners = [&](bool add) {
      for (int fd : spec.listen_fds) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLEXCLUSIVE;
        ev.data.fd = fd;
        ::epoll_ctl(ep.get(), add ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, add ? &ev : nullptr);
      }
    };
    add_listeners(true);

    bool listeners_closed = false;
    auto close_listeners = [&] {
      if (listeners_closed) return;
      for (int fd : spec.listen_fds) ::close(fd);
      listeners_closed = true;
    };
    // Whether the master is gone (it died, even by SIGKILL: the kernel sends
    // MasterGoneSignal). The first time, in the main flow: the worker cuts
    // its scoreboard mapping off the file (a new master may take the file
    // over) and then closes its listener copies, so a restarted master can
    // bind at once.
    // SECURITY (S1): the signal is only a wake-up (anyone with our uid can
    // send it); getppid() decides, and a worker never outlives its session
    // without a master.
    bool orphaned = false;
    auto master_gone = [&] {
      if (orphaned) return true;
      if (g_master_gone.load(std::memory_order_relaxed) == 0) return false;
      if (::getppid() == spec.master_pid) {
        g_master_gone.store(0, std::memory_order_relaxed);  // not from the kernel
        return false;
      }
      orphaned = true;
      board.DetachFromFile();
      close_listeners();
      w.SetOrphaned();
      const sb::SlotState state = w.rec().state;
      if (state != sb::SlotState::kReady && state != sb::SlotState::kStarting)
        log::Warn("the master (pid " + std::to_string(spec.master_pid) +
                  ") is gone: listeners closed; " +
                  (state == sb::SlotState::kTransferring
                       ? "the running transfer is finished, then the session ends"
                       : "the session ends"));
      return true;
    };

    // Runs in the main flow after a wait was interrupted by a signal (and
    // between commands, and after each blocking sendfile step). A busy
    // worker told to leave (HUP, QUIT, USR1) closes its listener copies at
    // once, so after a graceful stop or a listener change no connection waits
    // in a backlog that this worker will never accept from. Without a
    // master, a running transfer goes on to its end (226) and the session
    // ends with 421 right after it (or at once when none runs).
    w.SetUpEnv(
        &wait_mask, &send_mask,
        [&] {
          if (g_leave.load(std::memory_order_relaxed) != 0) close_listeners();
          if (master_gone() && w.rec().state != sb::SlotState::kTransferring) return true;
          return g_term.load(std::memory_order_relaxed) != 0 ||
                 g_kick.load(std::memory_order_relaxed) != 0;
        },
        /*socket_ready=*/true);
    if (auto f = Confine(cfg, *spec.identity, board.SeccompTrapWord(spec.slot)); !f) {
      log::Error("worker seccomp filter failed: " + StageFailure(f.error()));
      Exit(WorkerExit::kFatal);
    }

    uint64_t served = 0;
    for (;;) {
      if (g_term.load() || g_leave.load() || master_gone()) Exit(WorkerExit::kOk);
      // SECURITY (S7): no order is taken from the header (anyone who can write
      // the file can write it): a reload reaches old workers as USR1 from
      // the master. A worker whose mapping had to be cut off from the file
      // (it stayed truncated, see sb::TruncationPolicy) leaves.
      if (sb::MappingDetached()) Exit(WorkerExit::kOk);
      if (cfg.max_sessions_per_worker > 0 &&
          served >= static_cast<uint64_t>(cfg.max_sessions_per_worker))
        Exit(WorkerExit::kOk);
      sb::SlotRecord& rec = w.rec();
      rec = sb::SlotRecord{};
      rec.pid = ::getpid();
      rec.generation = spec.generation;
      rec.state = sb::SlotState::kReady;
      rec.sessions_served = served;
      rec.last_activity_ns = util::RealtimeNs();
      w.Publish();

      epoll_event evs[8];
      const int n = ::epoll_pwait(ep.get(), evs, 8, 1000, &wait_mask);
      if (n <= 0) continue;  // EINTR (flags checked above) or the periodic check
      UniqueFd conn;
      int accepted_on = -1;
      for (int i = 0; i < n && !conn; ++i) {
        accepted_on = evs[i].data.fd;
        conn.reset(::accept4(evs[i].data.fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (!conn && (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS)) {
          log::Error(Error::FromErrno(errno, "accept4").message());
          Exit(WorkerExit::kSick);
        }
      }
      if (!conn) continue;  // another worker (or the master) was faster
      add_listeners(false);
      Notify(spec.notify_fd);
      // Only when set: a store, even of 0, would copy the page it shares.
      if (g_kick.load(std::memory_order_relaxed) != 0) g_kick.store(0);
      const config::ListenerSpec* via = nullptr;
      for (size_t i = 0; i < spec.listen_fds.size() && i < spec.listeners.size(); ++i)
        if (spec.listen_fds[i] == accepted_on) via = &spec.listeners[i];
      if (w.Serve(std::move(conn), via)) ++served;
      if (g_term.load() || g_leave.load() || listeners_closed) Exit(WorkerExit::kOk);
      // No wake-up for the master here: a worker becoming idle never needs a
      // spawn, and the 1 s tick handles a surplus.
      add_listeners(true);
    }
  } catch (const std::exception& e) {
    log::Error(std::string("worker: fatal: ") + e.what());
    Exit(WorkerExit::kFatal);
  } catch (...) {
    Exit(WorkerExit::kFatal);
  }
}

int RunInetd(const config::Config& cfg, const Identity& identity) noexcept {
  try {
    sigset_t wait_mask, send_mask;
    SetUpSignals(&wait_mask, &send_mask, /*inetd=*/true);
    // The superserver hands us the connection on stdin (and stdout).
    UniqueFd conn(::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3));
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (!conn || ::getpeername(conn.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
      log::Error("ServerType inetd: standard input is not a network connection");
      return 1;
    }
    // stdout would be the same socket: keep our own text off it.
    const int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
      ::dup2(devnull, STDIN_FILENO);
      ::dup2(devnull, STDOUT_FILENO);
      ::close(devnull);
    }

    // A scoreboard, when its directory exists: claim a free slot atomically
    // so ftpwho sees this session; released at exit.
    std::optional<sb::Scoreboard> board;
    std::optional<size_t> slot;
    const uint32_t slots = static_cast<uint32_t>(cfg.max_clients + cfg.max_spare_servers);
    if (auto b = sb::Scoreboard::OpenOrCreateShared(cfg.scoreboard_file, slots, cfg.server_name)) {
      board.emplace(std::move(*b));
      // No master repairs a shrunk file here: after a short wait the session
      // goes on with private pages instead of dying of SIGBUS.
      board->GuardTruncation(sb::TruncationPolicy::kWait);
      slot = board->ClaimFreeSlot(::getpid());
      if (!slot) {
        log::Info("Connection refused (MaxClients " + std::to_string(cfg.max_clients) +
                  ": no free scoreboard slot)");
        net::TcpStream control(std::move(conn));
        protocol::Session::Refuse(control, 421,
                                  "Sorry, the maximum number of clients (" +
                                      std::to_string(cfg.max_clients) +
                                      ") for this server are already connected.");
        return 0;
      }
    } else {
      log::Debug(1, "inetd session without a scoreboard: " + b.error().message());
    }
    Worker w(cfg, slot ? &*board : nullptr, slot.value_or(0), 0);
    w.Prepare(identity, nullptr);
    // SECURITY (S1): the before-accept stage, before any client byte is read.
    if (auto d = EnterBeforeAccept(identity); !d) {
      log::Error("privilege drop failed: " + StageFailure(d.error()));
      if (slot) board->ReleaseSlot(*slot);
      return 2;
    }
    w.SetUpEnv(
        &wait_mask, &send_mask,
        [] {
          return g_term.load(std::memory_order_relaxed) != 0 ||
                 g_kick.load(std::memory_order_relaxed) != 0;
        },
        /*socket_ready=*/false);
    if (auto f = Confine(cfg, identity, slot ? board->SeccompTrapWord(*slot) : nullptr); !f) {
      log::Error("seccomp filter failed: " + StageFailure(f.error()));
      if (slot) board->ReleaseSlot(*slot);
      return 2;
    }
    w.Serve(std::move(conn));
    if (slot) board->ReleaseSlot(*slot);
#ifdef POOLFTPD_SANITIZER
    // SECURITY (S14): LeakSanitizer's exit-time check needs a ptrace tracer
    // task, which the filter forbids: under it, end as a pool worker does.
    if (cfg.seccomp) ::_exit(0);
#endif
    return 0;
  } catch (const std::exception& e) {
    log::Error(std::string("inetd session: fatal: ") + e.what());
    return 2;
  }
}

}  // namespace poolftpd::worker
