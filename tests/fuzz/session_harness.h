// A whole protocol::Session run in-process for the fuzz targets
// session_fuzz.cc and args_fuzz.cc (include it in one file per binary: it
// defines libc functions). Each input is one session, start to end, in a
// bounded time and with no network I/O beyond loopback:
//  - The control connection is a MemoryStream: Read hands out the input in
//    pieces (sizes from the input), Write keeps the replies, EOF after the
//    last byte; its fd is an eventfd, always readable and writable, so no
//    wait on it ever sleeps.
//  - Virtual time: this binary's ppoll(2) looks without sleeping, and when
//    nothing is ready it moves CLOCK_MONOTONIC (as clock_gettime(2) reports
//    it to this process) past the timeout instead of waiting. The server's
//    sleeps (the failed-login delay, MaxCommandRate) and timeouts (data
//    connection, stall, login, idle) then pass at once, in order.
//  - Passive mode: when the session answers 227/229, the harness connects
//    to that loopback port (as the client would), and drains and closes the
//    data connection.
//  - Active mode: this binary's connect(2) sends every IPv4 loopback target
//    (the only one the session accepts: the client's address) to the
//    harness's own sink listener, and refuses everything else, so PORT and
//    EPRT never reach another process's port.
// Test-only code; the file names and the fd counting assume Linux.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "poolftpd/config/config.h"
#include "poolftpd/fs/path.h"
#include "poolftpd/log/log.h"
#include "poolftpd/net/stream.h"
#include "poolftpd/protocol/session.h"
#include "poolftpd/scoreboard/scoreboard.h"
#include "poolftpd/util/net.h"
#include "poolftpd/util/unique_fd.h"

namespace poolftpd::fuzz {

inline std::atomic<int64_t> g_virtual_ns{0};  // added to CLOCK_MONOTONIC
inline int g_sink_port = 0;                   // the active-mode sink (network order)

inline int RealConnect(int fd, const sockaddr* sa, socklen_t len) {
  return static_cast<int>(::syscall(SYS_connect, fd, sa, len));
}

}  // namespace poolftpd::fuzz

// --- the libc functions this binary replaces (see the file comment) ---------
// The fuzz build compiles without _FORTIFY_SOURCE, so calls reach these and
// not __ppoll_chk; the sanitizers' interceptors of the same names are weak.

extern "C" int ppoll(struct pollfd* fds, nfds_t nfds, const struct timespec* timeout,
                     const sigset_t* sigmask) {
  if (timeout == nullptr) {  // no deadline: the real wait (a hang is a finding)
    return static_cast<int>(::syscall(SYS_ppoll, fds, nfds, nullptr, sigmask, _NSIG / 8));
  }
  struct timespec zero = {0, 0};
  const int rc = static_cast<int>(::syscall(SYS_ppoll, fds, nfds, &zero, sigmask, _NSIG / 8));
  if (rc != 0) return rc;
  poolftpd::fuzz::g_virtual_ns +=
      static_cast<int64_t>(timeout->tv_sec) * 1000000000 + timeout->tv_nsec + 1;
  return 0;
}

extern "C" int clock_gettime(clockid_t clk, struct timespec* ts) {
  const int rc = static_cast<int>(::syscall(SYS_clock_gettime, clk, ts));
  if (rc == 0 && clk == CLOCK_MONOTONIC) {
    const int64_t ns = static_cast<int64_t>(ts->tv_sec) * 1000000000 + ts->tv_nsec +
                       poolftpd::fuzz::g_virtual_ns.load();
    ts->tv_sec = static_cast<time_t>(ns / 1000000000);
    ts->tv_nsec = static_cast<long>(ns % 1000000000);
  }
  return rc;
}

extern "C" int connect(int fd, const struct sockaddr* sa, socklen_t len) {
  if (sa != nullptr && sa->sa_family == AF_INET && len >= sizeof(sockaddr_in) &&
      poolftpd::fuzz::g_sink_port != 0) {
    sockaddr_in in;
    std::memcpy(&in, sa, sizeof in);
    if ((ntohl(in.sin_addr.s_addr) >> 24) == 127) {
      in.sin_port = static_cast<in_port_t>(poolftpd::fuzz::g_sink_port);
      in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      // Blocking for the call: the handshake on loopback completes inside
      // it, so the session never depends on how fast the kernel is.
      const int fl = ::fcntl(fd, F_GETFL);
      if (fl >= 0) ::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
      const int rc = poolftpd::fuzz::RealConnect(fd, reinterpret_cast<sockaddr*>(&in), sizeof in);
      const int err = errno;
      if (fl >= 0) ::fcntl(fd, F_SETFL, fl);
      errno = err;
      return rc;
    }
  }
  errno = ECONNREFUSED;
  return -1;
}

namespace poolftpd::fuzz {

// Open fds of this process (a session must leave none behind).
inline int CountFds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  int n = 0;
  while (const dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n - 1;  // the directory's own fd
}

class Harness;

class MemoryStream final : public net::Stream {
 public:
  MemoryStream(std::string_view input, unsigned seed, Harness* h)
      : in_(input), rng_(seed), max_piece_(1 + seed % 97), h_(h) {
    fd_.reset(::eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!fd_) std::abort();
  }
  ssize_t Read(void* buf, size_t len) override;
  ssize_t Write(const void* buf, size_t len) override;
  ssize_t SendFile(int file_fd, uint64_t* offset, size_t count) override {
    return net::SendFileByCopy(*this, file_fd, offset, count);
  }
  void SetBlockingSendFile(int) override {}
  void Shutdown() override { shut_ = true; }
  size_t Buffered() const override { return 0; }  // as TcpStream: the rest is "in the kernel"
  void DiscardBuffered() override {}
  bool InputPending() const override { return pos_ < in_.size(); }
  void PrepareControl() override {}
  int fd() const override { return fd_.get(); }

  const std::string& output() const { return out_; }
  bool shut() const { return shut_; }

 private:
  std::string_view in_;
  size_t pos_ = 0;
  std::minstd_rand rng_;
  size_t max_piece_;
  Harness* h_;
  UniqueFd fd_;
  std::string out_;
  size_t scan_ = 0;  // start of the first reply line not yet seen whole
  bool shut_ = false;
};

// The fixed world of every session: a scratch tree served as the
// <Anonymous> root, a config, the sink listener, logs to /dev/null.
class Harness {
 public:
  // The content of the file outside the root.
  static constexpr const char* kSentinel = "SENTINEL-outside-the-root-7f3a";

  Harness() {
    ::signal(SIGPIPE, SIG_IGN);  // as the worker: sendfile to a closed socket
    const std::string root = dir_ / "root";
    Mkdir(root);
    for (const char* d : {"pub", "pub/sub", "pub/empty", "hidden", "private"})
      Mkdir(root + "/" + d);
    WriteWholeFile(root + "/pub/file.txt", "hello world\n");
    WriteWholeFile(root + "/pub/lines.txt", "one\ntwo\r\nthree\n");
    WriteWholeFile(root + "/pub/big.bin", std::string(70000, 'x'));
    WriteWholeFile(root + "/pub/sub/deep.txt", "deep\n");
    WriteWholeFile(root + "/hidden/h.txt", "hidden\n");
    WriteWholeFile(root + "/private/p.txt", "private\n");
    WriteWholeFile(root + "/pub/cr\rlf\nname", "odd\n");
    WriteWholeFile(dir_ / "outside.txt", std::string(kSentinel) + "\n");
    WriteWholeFile(dir_ / "welcome.msg", "Welcome, %U\nline two\r\n");
    if (::mkfifo((root + "/pub/fifo").c_str(), 0644) != 0 ||
        ::symlink("../../outside.txt", (root + "/pub/escape").c_str()) != 0 ||
        ::symlink("file.txt", (root + "/pub/link").c_str()) != 0 ||
        ::symlink("/", (root + "/pub/rootlink").c_str()) != 0)
      std::abort();
    const std::string conf = dir_ / "poolftpd.conf";
    WriteWholeFile(conf,
                   "ServerName \"fuzz\"\n"
                   "MaxLoginAttempts 3\n"
                   "TimeoutLogin 300\n"
                   "TimeoutIdle 600\n"
                   "TimeoutNoTransfer 900\n"
                   "TimeoutStalled 60\n"
                   "MaxCommandRate 200\n"
                   "<Anonymous " +
                       root +
                       ">\n"
                       "  User ftp\n"
                       "  Group ftp\n"
                       "  UserAlias anonymous ftp\n"
                       "  DisplayLogin " +
                       (dir_ / "welcome.msg") +
                       "\n"
                       "  <Directory hidden>\n"
                       "    <Limit ALL>\n      DenyAll\n    </Limit>\n"
                       "  </Directory>\n"
                       "  <Directory private/*>\n"
                       "    <Limit RETR>\n      Order deny,allow\n      Deny from 127.0.0.1\n"
                       "    </Limit>\n"
                       "  </Directory>\n"
                       "  <Limit SITE_CHMOD MKD>\n    DenyAll\n  </Limit>\n"
                       "</Anonymous>\n");
    auto cfg = config::Load(conf, {});
    if (!cfg) {
      std::fprintf(stderr, "fuzz: %s\n", cfg.error().message().c_str());
      std::abort();
    }
    config_ = *cfg;
    auto r = fs::Root::OpenDir(root);
    if (!r) std::abort();
    root_ = std::move(*r);
    if (!log::Logs::Open("/dev/null", "/dev/null", true)) std::abort();
    log::Logs::SetClient("", "127.0.0.1");

    sink_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (!sink_ || ::bind(sink_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(sink_.get(), 64) != 0 ||
        ::getsockname(sink_.get(), reinterpret_cast<sockaddr*>(&a), &alen) != 0)
      std::abort();
    g_sink_port = a.sin_port;

    env_.config = config_.get();
    env_.scoreboard = nullptr;
    env_.record = &record_;
    env_.anon_root = &root_;
    env_.anon_real_root = root;
    env_.socket_ready = true;
    env_.names = [](bool is_group, unsigned id) -> std::string {
      if (id == 0) return is_group ? "root" : "root";
      return id == 65534 ? "nobody" : "";
    };
  }

  // Runs one session over `input`; returns what it wrote on the control
  // connection. `debug` 0-9 is the session's debug level.
  std::string Run(std::string_view input, unsigned seed, int debug) {
    log::Logs::SetDebugLevel(debug);
    sentinel_seen_ = false;
    record_ = sb::SlotRecord{};
    std::string out;
    {
      MemoryStream control(input, seed, this);
      protocol::Session s(env_, control, net::Endpoint{Ip("127.0.0.1"), 21},
                          net::Endpoint{Ip("127.0.0.1"), 40000}, "");
      (void)s.Run();
      out = control.output();
    }
    Pump();
    CloseAll();
    return out;
  }

  // Harness I/O between the session's calls: accepts and drains sink
  // connections, drains passive ones, closes those at EOF.
  void Pump() {
    for (;;) {
      const int c = ::accept4(sink_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) break;
      data_.emplace_back(c);
    }
    char buf[65536];
    for (auto it = data_.begin(); it != data_.end();) {
      ssize_t n;
      while ((n = ::read(it->get(), buf, sizeof buf)) > 0) {
        if (std::string_view(buf, static_cast<size_t>(n)).find(kSentinel) != std::string_view::npos)
          sentinel_seen_ = true;
      }
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) it = data_.erase(it);
      else
        ++it;
    }
  }

  // The session answered `line` (one complete reply line, CRLF removed).
  void OnReplyLine(std::string_view line) {
    unsigned port = 0;
    if (line.starts_with("227 ")) {
      unsigned h[6];
      const size_t open = line.find('(');
      if (open == std::string_view::npos) return;
      const std::string nums(line.substr(open + 1));
      if (std::sscanf(nums.c_str(), "%u,%u,%u,%u,%u,%u", &h[0], &h[1], &h[2], &h[3], &h[4],
                      &h[5]) != 6 ||
          h[0] != 127)
        return;
      port = h[4] * 256 + h[5];
    } else if (line.starts_with("229 ")) {
      const size_t at = line.find("(|||");
      if (at == std::string_view::npos) return;
      port = static_cast<unsigned>(std::atoi(std::string(line.substr(at + 4)).c_str()));
    } else {
      return;
    }
    if (port == 0 || port > 65535) return;
    // As a client: connect to the announced port (blocking, on loopback
    // the handshake is done when connect returns), then read it later.
    UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (!c || RealConnect(c.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
    ::fcntl(c.get(), F_SETFL, O_NONBLOCK);
    data_.push_back(std::move(c));
  }

  void CloseAll() { data_.clear(); }
  // Whether the sentinel came over a data connection since the last Run.
  bool sentinel_seen() const { return sentinel_seen_; }

 private:
  static void Mkdir(const std::string& p) {
    if (::mkdir(p.c_str(), 0755) != 0) std::abort();
  }
  static net::IpAddress Ip(std::string_view s) { return *net::IpAddress::Parse(s); }

  ScratchDir dir_{"session_fuzz"};
  std::shared_ptr<const config::Config> config_;
  fs::Root root_;
  sb::SlotRecord record_;
  protocol::SessionEnv env_;
  UniqueFd sink_;
  std::vector<UniqueFd> data_;
  bool sentinel_seen_ = false;
};

inline ssize_t MemoryStream::Read(void* buf, size_t len) {
  h_->Pump();
  if (pos_ == in_.size()) return 0;
  const size_t n = std::min({len, in_.size() - pos_, 1 + rng_() % max_piece_});
  std::memcpy(buf, in_.data() + pos_, n);
  pos_ += n;
  return static_cast<ssize_t>(n);
}

inline ssize_t MemoryStream::Write(const void* buf, size_t len) {
  out_.append(static_cast<const char*>(buf), len);
  // Complete new lines: the harness acts on 227/229 as a client would.
  for (;;) {
    const size_t end = out_.find("\r\n", scan_);
    if (end == std::string::npos) break;
    h_->OnReplyLine(std::string_view(out_).substr(scan_, end - scan_));
    scan_ = end + 2;
  }
  h_->Pump();
  return static_cast<ssize_t>(len);
}

// The RFC 959 shape of everything the session wrote: lines end in CRLF (no
// bare LF), a reply is "ddd text" or "ddd-" ... "ddd text" with inner lines
// that cannot pass for a closing line, and there are at most `lines` + 2
// final (non-1xx) replies: one per command line, the 220 greeting and one
// closing 421. Returns the codes of the replies.
inline std::vector<int> CheckReplies(const std::string& out, size_t lines) {
  std::vector<int> codes;
  size_t finals = 0;
  size_t pos = 0;
  int open = 0;  // code of an open multi-line reply
  auto digits = [](std::string_view l) {
    return l.size() >= 4 && l[0] >= '1' && l[0] <= '5' && l[1] >= '0' && l[1] <= '9' &&
           l[2] >= '0' && l[2] <= '9';
  };
  while (pos < out.size()) {
    const size_t end = out.find("\r\n", pos);
    FUZZ_CHECK(end != std::string::npos, "reply output ends without CRLF: \"%s\"",
               Printable(std::string_view(out).substr(pos)).c_str());
    const std::string_view l(out.data() + pos, end - pos);
    FUZZ_CHECK(l.find('\n') == std::string_view::npos, "bare LF in reply line \"%s\"",
               Printable(l).c_str());
    for (size_t i = 0; i < l.size(); ++i)
      if (l[i] == '\r')
        FUZZ_CHECK(i + 1 < l.size() && l[i + 1] == '\0', "CR without NUL in reply line \"%s\"",
                   Printable(l).c_str());
    if (open == 0) {
      FUZZ_CHECK(digits(l) && (l[3] == ' ' || l[3] == '-'), "not a reply line: \"%s\"",
                 Printable(l).c_str());
      const int code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
      if (l[3] == '-') {
        open = code;
      } else {
        codes.push_back(code);
        if (code >= 200) ++finals;
      }
    } else if (digits(l) && l[3] == ' ' &&
               (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0') == open) {
      codes.push_back(open);
      if (open >= 200) ++finals;
      open = 0;
    } else {
      FUZZ_CHECK(!l.empty() && l[0] == ' ',
                 "inner line of a %d reply does not start with a space: \"%s\"", open,
                 Printable(l).c_str());
    }
    pos = end + 2;
  }
  FUZZ_CHECK(open == 0, "multi-line %d reply not closed", open);
  FUZZ_CHECK(finals <= lines + 2, "%zu final replies for %zu command lines", finals, lines);
  return codes;
}

}  // namespace poolftpd::fuzz
