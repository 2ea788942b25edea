#include "poolftpd/worker/worker.h"

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
#include <map>
#include <memory>

#include "poolftpd/fs/path.h"
#include "poolftpd/log/log.h"
#include "poolftpd/protocol/session.h"
#include "poolftpd/util/io.h"
#include "poolftpd/util/strings.h"

namespace poolftpd::worker {
namespace {

std::atomic<int> g_term{0};   // TERM: end the session now, then exit
std::atomic<int> g_leave{0};  // USR1: leave after the current session
std::atomic<int> g_kick{0};   // USR2: end the current session (ftpdctl kick)

extern "C" void OnWorkerSignal(int signo) {  // Async-signal-safe.
  const int saved = errno;
  if (signo == SIGTERM) g_term.store(1, std::memory_order_relaxed);
  else if (signo == SIGUSR1) g_leave.store(1, std::memory_order_relaxed);
  else if (signo == SIGUSR2) g_kick.store(1, std::memory_order_relaxed);
  errno = saved;
}

[[noreturn]] void Exit(WorkerExit code) { ::_exit(static_cast<int>(code)); }

// Closes every fd except 0-2 and `keep` (sorted, unique).
void CloseAllBut(std::vector<int> keep) {
  keep.push_back(0);
  keep.push_back(1);
  keep.push_back(2);
  std::sort(keep.begin(), keep.end());
  keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
  unsigned next = 0;
  for (int fd : keep) {
    if (fd < 0) continue;
    if (static_cast<unsigned>(fd) > next) ::close_range(next, static_cast<unsigned>(fd) - 1, 0);
    next = static_cast<unsigned>(fd) + 1;
  }
  ::close_range(next, ~0u, 0);
}

// uid/gid -> name, cached; resolved before chroot where possible.
class NameCache {
 public:
  std::string Lookup(bool is_group, unsigned id) {
    auto& m = is_group ? groups_ : users_;
    auto it = m.find(id);
    if (it != m.end()) return it->second;
    std::string name;
    if (is_group) {
      if (const group* g = ::getgrgid(id)) name = g->gr_name;
    } else {
      if (const passwd* p = ::getpwuid(id)) name = p->pw_name;
    }
    if (m.size() < 256) m.emplace(id, name);
    return name;
  }

 private:
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

}  // namespace

[[noreturn]] void RunChild(const ChildSpec& spec) noexcept {
  try {
    const config::Config& cfg = *spec.config;
    // Signals: TERM/USR1/USR2 set flags and stay blocked except while we
    // wait (ppoll/epoll_pwait), so no order is ever lost between check and
    // wait. HUP/QUIT/INT sent to a worker directly are ignored.
    struct sigaction sa{};
    sa.sa_handler = OnWorkerSignal;
    sigemptyset(&sa.sa_mask);
    for (int s : {SIGTERM, SIGUSR1, SIGUSR2}) ::sigaction(s, &sa, nullptr);
    struct sigaction ign{};
    ign.sa_handler = SIG_IGN;
    for (int s : {SIGHUP, SIGQUIT, SIGINT, SIGPIPE}) ::sigaction(s, &ign, nullptr);
    struct sigaction dfl{};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGCHLD, &dfl, nullptr);
    sigset_t blocked, wait_mask;
    sigemptyset(&blocked);
    for (int s : {SIGTERM, SIGUSR1, SIGUSR2}) sigaddset(&blocked, s);
    ::sigprocmask(SIG_SETMASK, &blocked, nullptr);
    sigemptyset(&wait_mask);

    std::vector<int> keep = spec.listen_fds;
    keep.push_back(spec.notify_fd);
    keep.insert(keep.end(), spec.keep_fds.begin(), spec.keep_fds.end());
    CloseAllBut(keep);

    sb::Scoreboard& board = *spec.scoreboard;
    sb::SlotRecord rec;
    rec.pid = ::getpid();
    rec.generation = spec.generation;
    rec.state = sb::SlotState::kStarting;
    board.Publish(spec.slot, rec);

    // Everything that needs the real file system or root comes first.
    NameCache names;
    names.Lookup(false, 0);
    names.Lookup(true, 0);
    names.Lookup(false, spec.identity.uid);
    names.Lookup(true, spec.identity.gid);
    std::unique_ptr<fs::Root> root;
    std::string anon_real;
    if (cfg.anonymous) {
      anon_real = cfg.anonymous->root;
      auto r = fs::Root::OpenDir(anon_real);
      if (!r) {
        log::Error("cannot open <Anonymous> root: " + r.error().message());
      } else {
        struct stat st;
        if (::fstat(r->fd(), &st) == 0) {
          names.Lookup(false, st.st_uid);
          names.Lookup(true, st.st_gid);
        }
        root = std::make_unique<fs::Root>(std::move(*r));
      }
    }
    if (auto d = DropPrivileges(spec.identity); !d) {
      log::Error("worker privilege drop failed: " + d.error().message());
      Exit(WorkerExit::kFatal);
    }
    // After the credential change (which clears it): die with the master.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != spec.master_pid) Exit(WorkerExit::kOk);

    UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
    if (!ep) {
      log::Error(Error::FromErrno(errno, "epoll_create1").message());
      Exit(WorkerExit::kSick);
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

    protocol::SessionEnv env;
    env.config = &cfg;
    env.scoreboard = &board;
    env.slot = spec.slot;
    env.record = &rec;
    env.anon_root = root.get();
    env.anon_real_root = anon_real;
    env.wait_mask = &wait_mask;
    // Runs in the main flow after a wait was interrupted by a signal. A busy
    // worker told to leave (HUP, QUIT, USR1) closes its listener copies at
    // once, so after a graceful stop or a listener change no connection waits
    // in a backlog that this worker will never accept from.
    bool listeners_closed = false;
    env.stop_requested = [&] {
      if (g_leave.load(std::memory_order_relaxed) != 0 && !listeners_closed) {
        for (int fd : spec.listen_fds) ::close(fd);
        listeners_closed = true;
      }
      return g_term.load(std::memory_order_relaxed) != 0 || g_kick.load(std::memory_order_relaxed) != 0;
    };
    env.names = [&names](bool is_group, unsigned id) { return names.Lookup(is_group, id); };

    uint64_t served = 0;
    for (;;) {
      if (g_term.load() || g_leave.load()) Exit(WorkerExit::kOk);
      if (board.ReadHeader().generation != spec.generation) Exit(WorkerExit::kOk);
      if (cfg.max_sessions_per_worker > 0 && served >= static_cast<uint64_t>(cfg.max_sessions_per_worker))
        Exit(WorkerExit::kOk);
      rec = sb::SlotRecord{};
      rec.pid = ::getpid();
      rec.generation = spec.generation;
      rec.state = sb::SlotState::kReady;
      rec.sessions_served = served;
      rec.last_activity_ns = util::RealtimeNs();
      board.Publish(spec.slot, rec);

      epoll_event evs[8];
      const int n = ::epoll_pwait(ep.get(), evs, 8, 1000, &wait_mask);
      if (n <= 0) continue;  // EINTR (flags checked above) or the periodic check
      UniqueFd conn;
      sockaddr_storage peer_ss{}, local_ss{};
      for (int i = 0; i < n && !conn; ++i) {
        socklen_t len = sizeof peer_ss;
        conn.reset(::accept4(evs[i].data.fd, reinterpret_cast<sockaddr*>(&peer_ss), &len,
                             SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (!conn && (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS)) {
          log::Error(Error::FromErrno(errno, "accept4").message());
          Exit(WorkerExit::kSick);
        }
      }
      if (!conn) continue;  // another worker (or the master) was faster
      add_listeners(false);
      Notify(spec.notify_fd);
      g_kick.store(0);

      socklen_t llen = sizeof local_ss;
      ::getsockname(conn.get(), reinterpret_cast<sockaddr*>(&local_ss), &llen);
      const auto peer = net::Endpoint::FromSockaddr(reinterpret_cast<sockaddr*>(&peer_ss));
      const auto local = net::Endpoint::FromSockaddr(reinterpret_cast<sockaddr*>(&local_ss));
      std::string peer_name;
      if (cfg.use_reverse_dns) {
        char host[NI_MAXHOST];
        if (::getnameinfo(reinterpret_cast<sockaddr*>(&peer_ss), sizeof peer_ss, host, sizeof host, nullptr,
                          0, NI_NAMEREQD) == 0)
          peer_name = util::EscapeControl(host);
      }
      const std::string ip = peer.addr.ToString();
      log::Logs::SetClient(peer_name.empty() ? ip : peer_name, ip);
      rec.session_start_ns = util::RealtimeNs();
      util::CopyTruncated(rec.client_addr, sizeof rec.client_addr,
                          peer_name.empty() ? ip : peer_name + "[" + ip + "]");
      util::CopyTruncated(rec.server_addr, sizeof rec.server_addr, local.ToString());
      util::CopyTruncated(rec.protocol, sizeof rec.protocol, "ftp");
      util::CopyTruncated(rec.cwd, sizeof rec.cwd, "/");
      rec.state = sb::SlotState::kConnected;
      board.Publish(spec.slot, rec);
      board.CountSession();

      bool refused = false;
      if (cfg.max_clients_per_host > 0) {
        const uint64_t key = ClientKey(peer.addr);
        board.SetClientKey(spec.slot, key);
        if (board.CountClientKey(key) > static_cast<uint32_t>(cfg.max_clients_per_host)) {
          log::Info("Connection refused (MaxClientsPerHost " + std::to_string(cfg.max_clients_per_host) + ")");
          std::string text = cfg.max_clients_per_host_message.empty()
                                 ? "Sorry, the maximum number of clients (%m) from your host are already connected."
                                 : cfg.max_clients_per_host_message;
          for (size_t at; (at = text.find("%m")) != std::string::npos;)
            text.replace(at, 2, std::to_string(cfg.max_clients_per_host));
          protocol::Session::Refuse(conn.get(), 421, text);
          refused = true;
        }
      }
      if (!refused) {
        protocol::Session session(env, std::move(conn), local, peer, peer_name);
        session.Run();
        ++served;
      }
      conn.reset();
      board.SetClientKey(spec.slot, 0);
      log::Logs::ClearClient();
      if (g_term.load() || g_leave.load() || listeners_closed) Exit(WorkerExit::kOk);
      add_listeners(true);
      Notify(spec.notify_fd);
    }
  } catch (const std::exception& e) {
    log::Error(std::string("worker: fatal: ") + e.what());
    Exit(WorkerExit::kFatal);
  } catch (...) {
    Exit(WorkerExit::kFatal);
  }
}

}  // namespace poolftpd::worker
