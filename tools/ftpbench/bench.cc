#include "bench.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "poolftpd/util/unique_fd.h"
#include "procfs.h"
#include "protocol.h"
#include "stats.h"

namespace poolftpd::ftpbench {

namespace {

// Control receive buffer per client: replies are short; a longer line is
// cut (LineBuffer), its code and start are all ftpbench needs.
constexpr std::size_t kControlBuffer = 2048;
// Data is read into one shared scratch buffer (RETR data is discarded by
// the kernel with MSG_TRUNC and never copied).
constexpr std::size_t kScratch = 256 * 1024;
constexpr int kMaxEvents = 1024;
// Full-buffer data reads per wakeup before other clients get their turn.
constexpr int kReadsPerTurn = 16;
// A login/small client that failed waits this long before reconnecting, so
// a dead server does not turn the run into a busy loop.
constexpr int64_t kBackoffNs = 10'000'000;
constexpr int64_t kNsPerSec = 1'000'000'000;
// File descriptors kept free for stdio, epoll and /proc reads.
constexpr long kSpareFds = 32;
constexpr std::size_t kMaxSamples = 10;

volatile sig_atomic_t g_interrupted = 0;

extern "C" void OnInterrupt(int) {  // Async-signal-safe.
  g_interrupted = 1;
}

int64_t NowNs() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

std::string ErrnoText(int err) {
  char buf[128];
  return ::strerror_r(err, buf, sizeof buf);
}

enum class State : uint8_t {
  kFree,  // no session: not started yet, or finished for good
  kBackoff,
  kConnecting,
  kGreeting,
  kUser,
  kPass,
  kType,
  kEpsv,
  kPasv,
  kDataConnecting,
  kTransfer,
  kBarrier,  // big: logged in, waiting until every client is
  kHeld,     // idle: logged in and held
  kQuit,
};

enum class Xfer : uint8_t { kRetr, kList, kMlsd };
enum class TimerId : uint8_t { kNone, kTimeout, kBackoff };

struct Client {
  Client() : in(kControlBuffer) {}

  int ctrl = -1;
  int data = -1;
  uint32_t ctrl_gen = 0;  // bumped per socket; tags epoll events
  uint32_t data_gen = 0;
  State state = State::kFree;
  Xfer xfer = Xfer::kRetr;
  bool data_connected = false;
  bool got_mark = false;   // 150/125 seen
  bool got_final = false;  // 226/250 seen
  bool data_eof = false;
  bool read_pending = false;  // queued in pending_reads_
  int xfers_done = 0;         // big: RETRs; list: LIST+MLSD pairs
  int64_t session_start_ns = 0;
  int64_t op_start_ns = 0;
  uint64_t data_bytes = 0;
  // Intrusive FIFO timer list membership (all deadlines of one list share
  // one delay, so insertion order is deadline order).
  int64_t deadline_ns = 0;
  int32_t prev = -1;
  int32_t next = -1;
  TimerId timer = TimerId::kNone;
  LineBuffer in;
  ReplyParser parser;
  ListingCounter counter;
};

class TimerList {
 public:
  TimerList(std::vector<Client>* clients, TimerId id) : c_(clients), id_(id) {}

  bool empty() const { return head_ < 0; }
  int32_t front() const { return head_; }
  int64_t front_deadline() const { return (*c_)[static_cast<std::size_t>(head_)].deadline_ns; }

  void PushBack(int32_t i, int64_t deadline) {
    Client& c = (*c_)[static_cast<std::size_t>(i)];
    c.deadline_ns = deadline;
    c.timer = id_;
    c.prev = tail_;
    c.next = -1;
    if (tail_ >= 0) {
      (*c_)[static_cast<std::size_t>(tail_)].next = i;
    } else {
      head_ = i;
    }
    tail_ = i;
  }

  void Remove(int32_t i) {
    Client& c = (*c_)[static_cast<std::size_t>(i)];
    if (c.prev >= 0) {
      (*c_)[static_cast<std::size_t>(c.prev)].next = c.next;
    } else {
      head_ = c.next;
    }
    if (c.next >= 0) {
      (*c_)[static_cast<std::size_t>(c.next)].prev = c.prev;
    } else {
      tail_ = c.prev;
    }
    c.prev = c.next = -1;
    c.timer = TimerId::kNone;
  }

 private:
  std::vector<Client>* c_;
  TimerId id_;
  int32_t head_ = -1;
  int32_t tail_ = -1;
};

uint64_t EventTag(int32_t index, bool is_data, uint32_t gen) {
  return (static_cast<uint64_t>(index) << 32) | ((gen & 0x7fffffffu) << 1) | (is_data ? 1u : 0u);
}

// The local ports connect() can pick from for one destination.
std::optional<long> LocalPortCount() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  long lo = 0, hi = 0;
  if (!(in >> lo >> hi) || hi < lo) return std::nullopt;
  return hi - lo + 1;
}

class Engine {
 public:
  Engine(const Options& options, const sockaddr_storage& addr, socklen_t addr_len)
      : o_(options),
        addr_(addr),
        addr_len_(addr_len),
        timeouts_(&clients_, TimerId::kTimeout),
        backoffs_(&clients_, TimerId::kBackoff) {}

  Result<Report> Run();

 private:
  Client& C(int32_t i) { return clients_[static_cast<std::size_t>(i)]; }

  // --- session steps ---
  void StartSession(int32_t i);
  bool Send(int32_t i, std::string_view command, State next);
  void OnControlEvent(int32_t i, uint32_t events);
  void ReadControl(int32_t i, bool drain);
  void OnReply(int32_t i, int code, std::string_view text);
  void AfterLogin(int32_t i);
  void AfterType(int32_t i);
  void StartTransfer(int32_t i, Xfer xfer);
  void OpenData(int32_t i, uint16_t port);
  void DataConnected(int32_t i);
  void OnDataEvent(int32_t i, uint32_t events);
  void ReadData(int32_t i, bool drain);
  void MaybeTransferDone(int32_t i);
  void SessionDone(int32_t i);
  void Fail(int32_t i, std::string_view text);
  void FailErrno(int32_t i, std::string_view what, int err);

  // --- bookkeeping ---
  void Touch(int32_t i);
  void Unlink(int32_t i);
  void CloseData(int32_t i);
  void CloseSockets(int32_t i);
  void Free(int32_t i);
  std::string Step(const Client& c) const;
  void CheckBarrier();
  void Tick();
  void ExpireTimers();
  int WaitMillis() const;
  void AbortAll(std::string_view why);
  void MeasureIdleServer();
  Report BuildReport(int64_t end_ns);

  const Options& o_;
  sockaddr_storage addr_;
  socklen_t addr_len_;
  UniqueFd epoll_;
  std::vector<Client> clients_;
  TimerList timeouts_;
  TimerList backoffs_;
  std::unique_ptr<char[]> scratch_;
  // Data sockets that still had data after kReadsPerTurn reads (edge-
  // triggered epoll will not report them again): read again next round.
  std::vector<std::pair<int32_t, uint32_t>> pending_reads_, pending_work_;

  // Pre-built command lines: no formatting per session.
  std::string cmd_user_, cmd_pass_, cmd_retr_, cmd_list_, cmd_mlsd_;

  int64_t now_ = 0;
  int64_t t0_ = 0;
  int64_t timeout_ns_ = 0;
  std::string timeout_suffix_;  // ": timed out after 10 s"
  int active_ = 0;              // clients not in kFree
  bool use_pasv_ = false;
  FailureTally tally_;
  uint64_t bytes_ = 0;
  uint64_t transfers_ = 0;

  // login/small
  bool running_ = true;
  int64_t window_end_ns_ = 0;
  uint64_t sessions_in_window_ = 0;
  std::vector<uint32_t> latencies_us_;

  // big
  bool barrier_released_ = false;
  int barrier_waiting_ = 0;
  int barrier_failed_ = 0;
  int64_t xfer_t0_ = 0;
  int64_t xfer_end_ = 0;

  // list
  std::vector<double> list_ms_, mlsd_ms_;
  uint64_t list_entries_ = 0, mlsd_entries_ = 0;

  // idle
  enum class Phase : uint8_t { kOpening, kHolding, kQuitting } phase_ = Phase::kOpening;
  int launched_ = 0;
  int logged_in_ = 0;  // ever reached 230
  int open_failed_ = 0;
  int held_ = 0;  // currently held
  int64_t first_connect_ns_ = 0;
  int64_t last_login_ns_ = 0;
  int64_t hold_end_ns_ = 0;
  uint64_t held_at_measure_ = 0;
  std::optional<uint64_t> server_processes_;
  std::optional<MemoryUsage> server_memory_;
  std::vector<std::string> notes_;
};

// --- bookkeeping ---------------------------------------------------------------

void Engine::Touch(int32_t i) {
  Unlink(i);
  timeouts_.PushBack(i, now_ + timeout_ns_);
}

void Engine::Unlink(int32_t i) {
  switch (C(i).timer) {
    case TimerId::kTimeout:
      timeouts_.Remove(i);
      break;
    case TimerId::kBackoff:
      backoffs_.Remove(i);
      break;
    case TimerId::kNone:
      break;
  }
}

void Engine::CloseData(int32_t i) {
  Client& c = C(i);
  if (c.data >= 0) ::close(c.data);  // also leaves the epoll set
  c.data = -1;
  c.data_connected = false;
  c.read_pending = false;  // a queued entry for the old socket no longer matches
}

void Engine::CloseSockets(int32_t i) {
  Client& c = C(i);
  CloseData(i);
  if (c.ctrl >= 0) ::close(c.ctrl);
  c.ctrl = -1;
}

void Engine::Free(int32_t i) {
  Client& c = C(i);
  Unlink(i);
  CloseSockets(i);
  if (c.state != State::kFree) --active_;
  c.state = State::kFree;
}

std::string Engine::Step(const Client& c) const {
  switch (c.state) {
    case State::kConnecting:
      return "connect";
    case State::kGreeting:
      return "greeting";
    case State::kUser:
      return "USER";
    case State::kPass:
      return "PASS";
    case State::kType:
      return "TYPE I";
    case State::kEpsv:
      return "EPSV";
    case State::kPasv:
      return "PASV";
    case State::kDataConnecting:
      return "data connect";
    case State::kTransfer:
      return c.xfer == Xfer::kRetr ? "RETR" : c.xfer == Xfer::kList ? "LIST" : "MLSD";
    case State::kBarrier:
      return "logged in, waiting for the other clients";
    case State::kHeld:
      return "held idle session";
    case State::kQuit:
      return "QUIT";
    case State::kFree:
    case State::kBackoff:
      break;
  }
  return "session";
}

// --- session steps -------------------------------------------------------------

void Engine::StartSession(int32_t i) {
  Client& c = C(i);
  if (c.state == State::kFree) ++active_;
  Unlink(i);
  c.state = State::kConnecting;
  c.session_start_ns = NowNs();
  c.in.Clear();
  c.parser.Reset();
  c.xfers_done = 0;
  c.data_connected = c.got_mark = c.got_final = c.data_eof = false;
  Touch(i);
  const int fd = ::socket(addr_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return FailErrno(i, "connect: socket", errno);
  c.ctrl = fd;
  ++c.ctrl_gen;
  const int one = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = EventTag(i, false, c.ctrl_gen);
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) {
    return FailErrno(i, "connect: epoll_ctl", errno);
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr_), addr_len_) == 0) {
    c.state = State::kGreeting;
  } else if (errno != EINPROGRESS) {
    return FailErrno(i, "connect", errno);
  }
}

bool Engine::Send(int32_t i, std::string_view command, State next) {
  Client& c = C(i);
  c.state = next;
  // Commands are far smaller than a fresh socket's send buffer and only one
  // is outstanding, so a short write means something is badly wrong.
  const ssize_t n = ::send(c.ctrl, command.data(), command.size(), MSG_NOSIGNAL);
  if (n == static_cast<ssize_t>(command.size())) {
    Touch(i);
    return true;
  }
  if (n < 0) {
    FailErrno(i, Step(c) + ": send", errno);
  } else {
    Fail(i, Step(c) + ": short write on the control connection");
  }
  return false;
}

void Engine::OnControlEvent(int32_t i, uint32_t events) {
  Client& c = C(i);
  if (c.state == State::kConnecting) {
    if ((events & EPOLLERR) || ((events & EPOLLHUP) && !(events & EPOLLIN))) {
      int err = 0;
      socklen_t len = sizeof err;
      (void)::getsockopt(c.ctrl, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0 || !(events & EPOLLIN)) return FailErrno(i, "connect", err ? err : ECONNRESET);
    }
    if (!(events & (EPOLLOUT | EPOLLIN))) return;
    c.state = State::kGreeting;
    Touch(i);
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    ReadControl(i, (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
  }
}

void Engine::ReadControl(int32_t i, bool drain) {
  Client& c = C(i);
  const uint32_t gen = c.ctrl_gen;
  for (;;) {
    const std::span<char> space = c.in.Space();
    const ssize_t n = ::recv(c.ctrl, space.data(), space.size(), 0);
    if (n > 0) {
      c.in.Commit(static_cast<std::size_t>(n));
      while (auto line = c.in.NextLine()) {
        const auto status = c.parser.Feed(*line);
        if (status == ReplyParser::Status::kMalformed) {
          return Fail(
              i, Step(c) + ": malformed reply: " + std::string(line->substr(0, kReplyTextKept)));
        }
        if (status == ReplyParser::Status::kDone) {
          OnReply(i, c.parser.code(), c.parser.text());
          if (c.ctrl_gen != gen || c.ctrl < 0) return;  // session ended or restarted
        }
      }
      // Edge-triggered: a short read emptied the socket, and anything
      // arriving later raises a new event. After a hang-up, read to EOF.
      if (static_cast<std::size_t>(n) < space.size() && !drain) return;
      continue;
    }
    if (n == 0) {
      if (c.state == State::kHeld) return Fail(i, "held idle session: closed by the server");
      return Fail(i, Step(c) + ": connection closed by the server");
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    return FailErrno(i, Step(c) + ": recv", errno);
  }
}

void Engine::OnReply(int32_t i, int code, std::string_view text) {
  Client& c = C(i);
  const auto unexpected = [&] { Fail(i, Step(c) + ": " + std::string(text)); };
  switch (c.state) {
    case State::kGreeting:
      if (code == 220) {
        Send(i, cmd_user_, State::kUser);
      } else if (code != 120) {  // 120: "ready in n minutes", 220 follows
        unexpected();
      }
      return;
    case State::kUser:
      if (code == 331) {
        Send(i, cmd_pass_, State::kPass);
      } else if (code == 230) {  // no password needed
        AfterLogin(i);
      } else {
        unexpected();
      }
      return;
    case State::kPass:
      return code == 230 ? AfterLogin(i) : unexpected();
    case State::kType:
      return code == 200 ? AfterType(i) : unexpected();
    case State::kEpsv:
      if (code == 229) {
        const auto port = ParseEpsvPort(text);
        if (!port) return Fail(i, "EPSV: cannot parse reply: " + std::string(text));
        return OpenData(i, *port);
      }
      if ((code == 500 || code == 501 || code == 502) && addr_.ss_family == AF_INET) {
        use_pasv_ = true;  // no EPSV here: PASV from now on
        Send(i, "PASV\r\n", State::kPasv);
        return;
      }
      return unexpected();
    case State::kPasv:
      if (code == 227) {
        // The address in the reply is ignored (it may be a NAT's view); the
        // data connection goes to the control connection's server address.
        const auto pasv = ParsePasv(text);
        if (!pasv) return Fail(i, "PASV: cannot parse reply: " + std::string(text));
        return OpenData(i, pasv->port);
      }
      return unexpected();
    case State::kTransfer:
      if (code == 125 || code == 150) {
        if (c.got_mark) return unexpected();
        c.got_mark = true;
        return;
      }
      if (code == 226 || code == 250) {
        if (!c.got_mark)
          return Fail(i, Step(c) + ": final reply without 150: " + std::string(text));
        c.got_final = true;
        return MaybeTransferDone(i);
      }
      return unexpected();
    case State::kQuit:
      return code == 221 ? SessionDone(i) : unexpected();
    case State::kConnecting:
    case State::kDataConnecting:
    case State::kBarrier:
    case State::kHeld:
    case State::kFree:
    case State::kBackoff:
      return unexpected();
  }
}

void Engine::AfterLogin(int32_t i) {
  switch (o_.mode) {
    case Mode::kLogin:
      Send(i, "QUIT\r\n", State::kQuit);
      return;
    case Mode::kSmall:
    case Mode::kBig:
      Send(i, "TYPE I\r\n", State::kType);
      return;
    case Mode::kList:
      StartTransfer(i, Xfer::kList);
      return;
    case Mode::kIdle:
      Unlink(i);
      C(i).state = State::kHeld;
      ++held_;
      ++logged_in_;
      last_login_ns_ = NowNs();
      return;
  }
}

void Engine::AfterType(int32_t i) {
  if (o_.mode != Mode::kBig || barrier_released_) return StartTransfer(i, Xfer::kRetr);
  Unlink(i);
  C(i).state = State::kBarrier;
  ++barrier_waiting_;
  CheckBarrier();
}

void Engine::CheckBarrier() {
  if (barrier_released_ || barrier_waiting_ + barrier_failed_ < o_.clients) return;
  barrier_released_ = true;
  xfer_t0_ = NowNs();
  xfer_end_ = xfer_t0_;
  for (int32_t i = 0; i < static_cast<int32_t>(clients_.size()); ++i) {
    if (C(i).state == State::kBarrier) StartTransfer(i, Xfer::kRetr);
  }
}

void Engine::StartTransfer(int32_t i, Xfer xfer) {
  Client& c = C(i);
  c.xfer = xfer;
  c.got_mark = c.got_final = c.data_eof = false;
  c.data_bytes = 0;
  c.op_start_ns = NowNs();
  if (use_pasv_) {
    Send(i, "PASV\r\n", State::kPasv);
  } else {
    Send(i, "EPSV\r\n", State::kEpsv);
  }
}

void Engine::OpenData(int32_t i, uint16_t port) {
  Client& c = C(i);
  c.state = State::kDataConnecting;
  Touch(i);
  sockaddr_storage addr = addr_;
  if (addr.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&addr)->sin_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port = htons(port);
  }
  const int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return FailErrno(i, "data connect: socket", errno);
  c.data = fd;
  c.data_connected = false;
  ++c.data_gen;
  if (o_.rcvlowat && ::setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &*o_.rcvlowat, sizeof(int)) < 0) {
    return FailErrno(i, "data connect: SO_RCVLOWAT", errno);
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = EventTag(i, true, c.data_gen);
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) {
    return FailErrno(i, "data connect: epoll_ctl", errno);
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), addr_len_) == 0) {
    return DataConnected(i);
  }
  if (errno != EINPROGRESS) return FailErrno(i, "data connect", errno);
}

void Engine::DataConnected(int32_t i) {
  Client& c = C(i);
  c.data_connected = true;
  switch (c.xfer) {
    case Xfer::kRetr:
      Send(i, cmd_retr_, State::kTransfer);
      return;
    case Xfer::kList:
      c.counter.Reset(ListingCounter::Kind::kList);
      Send(i, cmd_list_, State::kTransfer);
      return;
    case Xfer::kMlsd:
      c.counter.Reset(ListingCounter::Kind::kMlsd);
      Send(i, cmd_mlsd_, State::kTransfer);
      return;
  }
}

void Engine::OnDataEvent(int32_t i, uint32_t events) {
  Client& c = C(i);
  if (!c.data_connected) {
    if (c.state != State::kDataConnecting) return;
    if ((events & EPOLLERR) || ((events & EPOLLHUP) && !(events & EPOLLIN))) {
      int err = 0;
      socklen_t len = sizeof err;
      (void)::getsockopt(c.data, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0 || !(events & EPOLLIN)) {
        return FailErrno(i, "data connect", err ? err : ECONNRESET);
      }
    }
    if (!(events & (EPOLLOUT | EPOLLIN))) return;
    const uint32_t gen = c.data_gen;
    DataConnected(i);
    if (c.data_gen != gen || c.data < 0) return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    ReadData(i, (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
  }
}

void Engine::ReadData(int32_t i, bool drain) {
  Client& c = C(i);
  const bool discard = c.xfer == Xfer::kRetr;
  for (int turn = 0; turn < kReadsPerTurn; ++turn) {
    // MSG_TRUNC on TCP discards the bytes in the kernel (tcp(7)).
    const ssize_t n = ::recv(c.data, scratch_.get(), kScratch, discard ? MSG_TRUNC : 0);
    if (n > 0) {
      c.data_bytes += static_cast<uint64_t>(n);
      bytes_ += static_cast<uint64_t>(n);
      if (!discard) c.counter.Feed(std::string_view(scratch_.get(), static_cast<std::size_t>(n)));
      Touch(i);  // progress: the timeout bounds stalls, not whole transfers
      if (static_cast<std::size_t>(n) < kScratch && !drain) return;
      continue;
    }
    if (n == 0) {
      CloseData(i);
      c.data_eof = true;
      if (!discard) c.counter.Finish();
      return MaybeTransferDone(i);
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    return FailErrno(i, Step(c) + ": data recv", errno);
  }
  if (!c.read_pending) {
    c.read_pending = true;
    pending_reads_.emplace_back(i, c.data_gen);
  }
}

void Engine::MaybeTransferDone(int32_t i) {
  Client& c = C(i);
  if (!c.got_final || !c.data_eof) return;
  const int64_t end = NowNs();
  const double ms = static_cast<double>(end - c.op_start_ns) / 1e6;
  switch (c.xfer) {
    case Xfer::kRetr:
      if (o_.size && c.data_bytes != *o_.size) {
        if (o_.mode == Mode::kBig) xfer_end_ = end;
        return Fail(i, "RETR: received " + std::to_string(c.data_bytes) + " bytes, expected " +
                           std::to_string(*o_.size));
      }
      ++transfers_;
      if (o_.mode == Mode::kBig) {
        xfer_end_ = end;
        if (++c.xfers_done < o_.repeat) return StartTransfer(i, Xfer::kRetr);
      }
      Send(i, "QUIT\r\n", State::kQuit);
      return;
    case Xfer::kList:
      list_ms_.push_back(ms);
      list_entries_ = c.counter.entries();
      if (o_.entries && list_entries_ != *o_.entries) {
        return Fail(i, "LIST: " + std::to_string(list_entries_) + " entries, expected " +
                           std::to_string(*o_.entries));
      }
      return StartTransfer(i, Xfer::kMlsd);
    case Xfer::kMlsd:
      mlsd_ms_.push_back(ms);
      mlsd_entries_ = c.counter.entries();
      if (o_.entries && mlsd_entries_ != *o_.entries) {
        return Fail(i, "MLSD: " + std::to_string(mlsd_entries_) + " entries, expected " +
                           std::to_string(*o_.entries));
      }
      if (++c.xfers_done < o_.repeat) return StartTransfer(i, Xfer::kList);
      Send(i, "QUIT\r\n", State::kQuit);
      return;
  }
}

void Engine::SessionDone(int32_t i) {
  Client& c = C(i);
  const int64_t end = NowNs();
  Unlink(i);
  CloseSockets(i);
  if (o_.mode == Mode::kLogin || o_.mode == Mode::kSmall) {
    const int64_t us = (end - c.session_start_ns) / 1000;
    latencies_us_.push_back(static_cast<uint32_t>(std::min<int64_t>(us, UINT32_MAX)));
    if (end <= window_end_ns_) ++sessions_in_window_;
    if (running_) return StartSession(i);
  }
  Free(i);
}

void Engine::FailErrno(int32_t i, std::string_view what, int err) {
  Fail(i, std::string(what) + ": " + ErrnoText(err));
}

void Engine::Fail(int32_t i, std::string_view text) {
  Client& c = C(i);
  tally_.Add(text);
  const State was = c.state;
  Unlink(i);
  CloseSockets(i);
  switch (o_.mode) {
    case Mode::kLogin:
    case Mode::kSmall:
      if (running_) {
        c.state = State::kBackoff;
        backoffs_.PushBack(i, now_ + kBackoffNs);
        return;
      }
      break;
    case Mode::kBig:
      if (!barrier_released_) {
        if (was == State::kBarrier) --barrier_waiting_;
        ++barrier_failed_;
        Free(i);
        return CheckBarrier();
      }
      xfer_end_ = std::max(xfer_end_, NowNs());
      break;
    case Mode::kList:
      break;
    case Mode::kIdle:
      if (was == State::kHeld) {
        --held_;
      } else if (phase_ == Phase::kOpening) {
        ++open_failed_;
      }
      break;
  }
  Free(i);
}

// --- loop ------------------------------------------------------------------------

void Engine::Tick() {
  if (g_interrupted) {
    g_interrupted = 0;
    if ((o_.mode == Mode::kLogin || o_.mode == Mode::kSmall) && running_) {
      window_end_ns_ = std::min(window_end_ns_, now_);
      notes_.push_back("interrupted: the run ended early");
    } else if (o_.mode == Mode::kIdle && phase_ == Phase::kHolding) {
      hold_end_ns_ = now_;
      notes_.push_back("interrupted: the hold ended early");
    } else {
      AbortAll("interrupted by SIGINT");
      return;
    }
  }
  switch (o_.mode) {
    case Mode::kLogin:
    case Mode::kSmall:
      if (running_ && now_ >= window_end_ns_) {
        running_ = false;
        while (!backoffs_.empty()) Free(backoffs_.front());
      }
      return;
    case Mode::kIdle:
      if (phase_ == Phase::kOpening) {
        while (launched_ < o_.sessions && launched_ - logged_in_ - open_failed_ < o_.clients) {
          if (launched_ == 0) first_connect_ns_ = NowNs();
          StartSession(launched_++);
        }
        if (logged_in_ + open_failed_ == o_.sessions) {
          phase_ = Phase::kHolding;
          hold_end_ns_ = held_ > 0 ? now_ + static_cast<int64_t>(o_.hold_s * 1e9) : now_;
        }
      }
      if (phase_ == Phase::kHolding && now_ >= hold_end_ns_) {
        MeasureIdleServer();
        phase_ = Phase::kQuitting;
        for (int32_t i = 0; i < static_cast<int32_t>(clients_.size()); ++i) {
          if (C(i).state == State::kHeld) Send(i, "QUIT\r\n", State::kQuit);
        }
      }
      return;
    case Mode::kBig:
    case Mode::kList:
      return;
  }
}

void Engine::ExpireTimers() {
  while (!timeouts_.empty() && timeouts_.front_deadline() <= now_) {
    const int32_t i = timeouts_.front();
    Fail(i, Step(C(i)) + timeout_suffix_);
  }
  while (!backoffs_.empty() && backoffs_.front_deadline() <= now_) {
    const int32_t i = backoffs_.front();
    if (running_) {
      StartSession(i);
    } else {
      Free(i);
    }
  }
}

int Engine::WaitMillis() const {
  if (!pending_reads_.empty()) return 0;
  int64_t next = now_ + kNsPerSec;
  if (!timeouts_.empty()) next = std::min(next, timeouts_.front_deadline());
  if (!backoffs_.empty()) next = std::min(next, backoffs_.front_deadline());
  if ((o_.mode == Mode::kLogin || o_.mode == Mode::kSmall) && running_) {
    next = std::min(next, window_end_ns_);
  }
  if (o_.mode == Mode::kIdle && phase_ == Phase::kHolding) next = std::min(next, hold_end_ns_);
  if (next <= now_) return 0;
  return static_cast<int>((next - now_ + 999'999) / 1'000'000);
}

void Engine::AbortAll(std::string_view why) {
  running_ = false;
  for (int32_t i = 0; i < static_cast<int32_t>(clients_.size()); ++i) {
    if (C(i).state == State::kFree) continue;
    if (C(i).state == State::kBackoff) {
      Free(i);
      continue;
    }
    Fail(i, std::string(Step(C(i))) + ": " + std::string(why));
  }
  if (o_.mode == Mode::kIdle) launched_ = o_.sessions;
}

void Engine::MeasureIdleServer() {
  held_at_measure_ = static_cast<uint64_t>(held_);
  if (!o_.server_pid) return;
  auto tree = ReadProcessTree(*o_.server_pid);
  if (!tree) {
    notes_.push_back("server memory: " + tree.error().message());
    return;
  }
  server_processes_ = tree->size();
  int vanished = 0;
  auto mem = ReadTreeMemory(*tree, &vanished);
  if (!mem) {
    notes_.push_back("server memory: " + mem.error().message());
    return;
  }
  server_memory_ = *mem;
  if (vanished > 0) {
    notes_.push_back("server memory: " + std::to_string(vanished) +
                     " processes exited while being measured");
  }
}

Result<Report> Engine::Run() {
  // File descriptors: raise the soft limit, then check the run fits.
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &rl);
    (void)::getrlimit(RLIMIT_NOFILE, &rl);
  }
  const long sockets = o_.mode == Mode::kIdle ? o_.sessions : 2L * o_.clients;
  if (static_cast<rlim_t>(sockets + kSpareFds) > rl.rlim_cur) {
    return Error(ErrorCode::kLimit,
                 std::string(ModeName(o_.mode)) + " mode needs " +
                     std::to_string(sockets + kSpareFds) +
                     " file descriptors but RLIMIT_NOFILE allows " + std::to_string(rl.rlim_cur) +
                     " (hard limit " + std::to_string(rl.rlim_max) +
                     "); raise it (ulimit -Hn) or lower " + (o_.mode == Mode::kIdle ? "-n" : "-c"));
  }
  if (o_.mode == Mode::kIdle) {
    const auto ports = LocalPortCount();
    if (ports && o_.sessions > *ports) {
      notes_.push_back(std::to_string(o_.sessions) + " sessions exceed the " +
                       std::to_string(*ports) +
                       " local ports of net.ipv4.ip_local_port_range: connects past that fail");
    }
  }

  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return Error::FromErrno(errno, "epoll_create1");
  scratch_.reset(new char[kScratch]);
  timeout_ns_ = static_cast<int64_t>(o_.timeout_s * 1e9);
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%g", o_.timeout_s);
  timeout_suffix_ = std::string(": timed out after ") + seconds + " s";
  cmd_user_ = "USER " + o_.user + "\r\n";
  cmd_pass_ = "PASS " + o_.password + "\r\n";
  cmd_retr_ = "RETR " + o_.file + "\r\n";
  cmd_list_ = o_.dir.empty() ? "LIST\r\n" : "LIST " + o_.dir + "\r\n";
  cmd_mlsd_ = o_.dir.empty() ? "MLSD\r\n" : "MLSD " + o_.dir + "\r\n";
  const int nclients = o_.mode == Mode::kIdle ? o_.sessions : o_.clients;
  clients_ = std::vector<Client>(static_cast<std::size_t>(nclients));
  if (o_.mode == Mode::kLogin || o_.mode == Mode::kSmall) {
    latencies_us_.reserve(
        std::min<std::size_t>(1u << 22, static_cast<std::size_t>(o_.duration_s * 50000) + 1024));
  }

  std::optional<uint64_t> cpu_before;
  if (o_.server_pid) {
    auto tree = ReadProcessTree(*o_.server_pid);
    if (!tree) return Error(ErrorCode::kNotFound, "--server-pid: " + tree.error().message());
    cpu_before = TreeCpuTicks(*tree);
  }

  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sa.sa_flags = SA_RESETHAND;  // a second Ctrl-C kills
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);

  now_ = t0_ = NowNs();
  window_end_ns_ = t0_ + static_cast<int64_t>(o_.duration_s * 1e9);
  if (o_.mode != Mode::kIdle) {
    for (int32_t i = 0; i < nclients; ++i) StartSession(i);
  }
  std::vector<epoll_event> events(kMaxEvents);
  for (;;) {
    now_ = NowNs();
    Tick();
    ExpireTimers();
    if (active_ == 0 && (o_.mode != Mode::kIdle || launched_ >= o_.sessions)) break;
    const int n = ::epoll_wait(epoll_.get(), events.data(), kMaxEvents, WaitMillis());
    if (n < 0 && errno != EINTR) return Error::FromErrno(errno, "epoll_wait");
    now_ = NowNs();
    for (int k = 0; k < n; ++k) {
      const uint64_t tag = events[static_cast<std::size_t>(k)].data.u64;
      const auto i = static_cast<int32_t>(tag >> 32);
      const bool is_data = (tag & 1) != 0;
      const uint32_t gen = static_cast<uint32_t>(tag >> 1) & 0x7fffffffu;
      Client& c = C(i);
      const uint32_t ev = events[static_cast<std::size_t>(k)].events;
      if (is_data) {
        if (c.data >= 0 && (c.data_gen & 0x7fffffffu) == gen) OnDataEvent(i, ev);
      } else if (c.ctrl >= 0 && (c.ctrl_gen & 0x7fffffffu) == gen) {
        OnControlEvent(i, ev);
      }
    }
    pending_work_.clear();
    pending_work_.swap(pending_reads_);
    for (const auto& [i, gen] : pending_work_) {
      Client& c = C(i);
      if (c.data < 0 || c.data_gen != gen) continue;  // closed since; flag reset there
      c.read_pending = false;
      ReadData(i, true);
    }
  }
  const int64_t end_ns = NowNs();
  ::signal(SIGINT, SIG_DFL);

  Report r = BuildReport(end_ns);
  if (cpu_before) {
    auto tree = ReadProcessTree(*o_.server_pid);
    if (tree) {
      const uint64_t after = TreeCpuTicks(*tree);
      const double ms =
          static_cast<double>(after > *cpu_before ? after - *cpu_before : 0) * MillisPerTick();
      r.server_cpu_ms = ms;
      const uint64_t sessions = r.sessions.value_or(0);
      if (sessions > 0) r.server_cpu_ms_per_session = ms / static_cast<double>(sessions);
      if (o_.mode == Mode::kBig && bytes_ > 0) {
        r.server_cpu_ms_per_gb = ms / (static_cast<double>(bytes_) / 1e9);
      }
    } else {
      r.notes.push_back("server CPU: " + tree.error().message());
    }
  }
  return r;
}

Report Engine::BuildReport(int64_t end_ns) {
  Report r;
  r.mode = std::string(ModeName(o_.mode));
  r.host = o_.host;
  r.port = o_.port;
  r.clients = o_.clients;
  r.rcvlowat = o_.rcvlowat;
  r.measured_server = o_.server_pid.has_value();
  switch (o_.mode) {
    case Mode::kLogin:
    case Mode::kSmall: {
      const double window = static_cast<double>(window_end_ns_ - t0_) / 1e9;
      r.duration_s = window;
      r.sessions = sessions_in_window_;
      r.sessions_per_sec = window > 0 ? static_cast<double>(sessions_in_window_) / window : 0;
      if (!latencies_us_.empty()) r.latency = SummarizeLatencies(latencies_us_);
      if (o_.mode == Mode::kSmall) {
        r.bytes = bytes_;
        r.transfers = transfers_;
      }
      break;
    }
    case Mode::kBig: {
      const double secs = barrier_released_ ? static_cast<double>(xfer_end_ - xfer_t0_) / 1e9 : 0;
      r.duration_s = secs;
      r.bytes = bytes_;
      r.transfers = transfers_;
      if (secs > 0) {
        r.mb_per_sec = static_cast<double>(bytes_) / 1e6 / secs;
        r.mb_per_sec_per_client = *r.mb_per_sec / o_.clients;
      }
      break;
    }
    case Mode::kList: {
      r.duration_s = static_cast<double>(end_ns - t0_) / 1e9;
      ListFigures f;
      f.list_ms = Median(list_ms_);
      f.mlsd_ms = Median(mlsd_ms_);
      f.list_entries = list_entries_;
      f.mlsd_entries = mlsd_entries_;
      f.repeat = static_cast<int>(mlsd_ms_.size());
      r.list = f;
      break;
    }
    case Mode::kIdle: {
      r.duration_s = static_cast<double>(end_ns - t0_) / 1e9;
      IdleFigures f;
      f.requested = static_cast<uint64_t>(o_.sessions);
      f.sessions = held_at_measure_;
      f.login_s =
          logged_in_ > 0 ? static_cast<double>(last_login_ns_ - first_connect_ns_) / 1e9 : 0;
      f.hold_s = o_.hold_s;
      f.server_processes = server_processes_;
      f.memory = server_memory_;
      r.idle = f;
      r.sessions = static_cast<uint64_t>(logged_in_);
      if (f.login_s > 0) r.sessions_per_sec = logged_in_ / f.login_s;
      if (logged_in_ < o_.sessions) {
        r.notes.push_back("only " + std::to_string(logged_in_) + " of " +
                          std::to_string(o_.sessions) + " sessions could log in");
      }
      break;
    }
  }
  r.failures = tally_.total();
  r.failure_samples = tally_.Top(kMaxSamples);
  for (std::string& n : notes_) r.notes.push_back(std::move(n));
  return r;
}

}  // namespace

Result<Report> RunBenchmark(const Options& options) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(options.host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || res == nullptr) {
    return Error(ErrorCode::kInvalid,
                 "cannot resolve host '" + options.host +
                     "': " + (rc == EAI_SYSTEM ? ErrnoText(errno) : ::gai_strerror(rc)));
  }
  sockaddr_storage addr{};
  std::memcpy(&addr, res->ai_addr, res->ai_addrlen);
  const auto addr_len = static_cast<socklen_t>(res->ai_addrlen);
  ::freeaddrinfo(res);
  if (addr.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&addr)->sin_port = htons(options.port);
  } else if (addr.ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port = htons(options.port);
  } else {
    return Error(ErrorCode::kInvalid, "host '" + options.host + "' is not an IP address");
  }
  auto engine = std::make_unique<Engine>(options, addr, addr_len);
  return engine->Run();
}

}  // namespace poolftpd::ftpbench
