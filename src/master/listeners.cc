// The master's listening sockets: opening and reconciling them with the
// config, and answering clients itself while no worker can take them.
#include "master_internal.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "poolftpd/log/log.h"
#include "poolftpd/master/pool_policy.h"
#include "poolftpd/util/io.h"
#include "poolftpd/util/unique_fd.h"

namespace poolftpd::master::detail {

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

void Master::SetFullListening(bool on) {
  // Out of descriptors and no reserve left: the listeners stay unwatched
  // until the pause ends (RefuseAll), however often the loop asks.
  if (on && listen_pause_until_ms_ != 0) {
    if (util::MonotonicMs() < listen_pause_until_ms_) return;
    listen_pause_until_ms_ = 0;
  }
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
      auto accept_one = [&] {
        len = sizeof ss;
        return UniqueFd(::accept4(l.fd.get(), reinterpret_cast<sockaddr*>(&ss), &len,
                                  SOCK_CLOEXEC | SOCK_NONBLOCK));
      };
      UniqueFd c = accept_one();
      bool reserved = false;  // `c` took the reserve descriptor's place
      if (!c && (errno == EMFILE || errno == ENFILE)) {
        const int err = errno;
        if (!fd_shortage_logged_)
          log::Error(Error::FromErrno(err, "accept4").message() +
                     (reserve_fd_ ? ": refusing new connections with 421 until descriptors are free"
                                  : ": not accepting for a second"));
        fd_shortage_logged_ = true;
        if (reserve_fd_) {
          reserve_fd_.reset();  // one descriptor free: take the client, tell it, close
          c = accept_one();
          reserved = true;
        }
        if (!c) {
          // Nothing to accept with: stop watching the listeners for a
          // second (the connection waits in the backlog) instead of being
          // woken for it again at once.
          listen_pause_until_ms_ = util::MonotonicMs() + 1000;
          SetFullListening(false);
          reserve_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
          return;
        }
      }
      if (!c) break;
      const auto peer = net::Endpoint::FromSockaddr(reinterpret_cast<sockaddr*>(&ss));
      const std::string ip = peer.addr.ToString();
      log::Logs::SetClient(ip, ip);
      log::Info(why);
      POOLFTPD_DEBUG(5, "sending reply '", std::string_view(msg).substr(0, msg.size() - 2), "'");
      log::Logs::ClearClient();
      (void)::send(c.get(), msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (reserved) {
        c.reset();
        reserve_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
      }
    }
  }
}

}  // namespace poolftpd::master::detail
