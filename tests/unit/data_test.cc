// Unit tests for data: PORT/EPRT parsing at every bound, the PASV reply text,
// LF->CRLF conversion, and the data channel over real loopback sockets
// (passive accept with the foreign-address check, active connect, timeouts,
// ABOR through the control hook, stalls, and byte-exact transfers), the send
// and receive loops also over the test-only streams of test_streams.h.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "poolftpd/data/data_channel.h"
#include "poolftpd/net/stream.h"
#include "poolftpd/util/io.h"
#include "test_files.h"
#include "test_streams.h"

namespace poolftpd::data {
namespace {

net::IpAddress Ip(std::string_view s) { return net::IpAddress::Parse(s).value(); }

// ---------------------------------------------------------------------------
// ParsePort

TEST(ParsePortTest, ParsesAddressAndPort) {
  auto e = ParsePort("127,0,0,1,4,1");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->addr, Ip("127.0.0.1"));
  EXPECT_EQ(e->port, 4 * 256 + 1);
  EXPECT_TRUE(e->addr.is_v4());
}

TEST(ParsePortTest, OctetBounds) {
  auto lo = ParsePort("0,0,0,0,0,0");
  ASSERT_TRUE(lo.has_value());
  EXPECT_EQ(lo->addr, Ip("0.0.0.0"));
  EXPECT_EQ(lo->port, 0);
  auto hi = ParsePort("255,255,255,255,255,255");
  ASSERT_TRUE(hi.has_value());
  EXPECT_EQ(hi->addr, Ip("255.255.255.255"));
  EXPECT_EQ(hi->port, 65535);
  for (int field = 0; field < 6; ++field) {
    std::string arg;
    for (int i = 0; i < 6; ++i) {
      if (i) arg += ',';
      arg += (i == field) ? "256" : "1";
    }
    EXPECT_FALSE(ParsePort(arg).has_value()) << arg;
  }
  EXPECT_FALSE(ParsePort("1,2,3,4,1000,1").has_value());
  EXPECT_FALSE(ParsePort("1,2,3,4,99999999999999999999,1").has_value());
}

TEST(ParsePortTest, RejectsSignsAndJunk) {
  for (const char* bad :
       {"-1,0,0,1,4,1", "127,0,0,1,-4,1", "127,0,0,1,4,-1", "+127,0,0,1,4,1", "127,0,0,1,4,1x",
        "127,0,0,1,4,1,", "127,0,0,1,4,1 junk", "0x7f,0,0,1,4,1", "127.0.0.1,4,1", "127;0;0;1;4;1",
        "a,b,c,d,e,f", "1.5,0,0,1,4,1"}) {
    EXPECT_FALSE(ParsePort(bad).has_value()) << '"' << bad << '"';
  }
}

TEST(ParsePortTest, RejectsWrongFieldCounts) {
  for (const char* bad : {"", ",", "127,0,0,1,4", "127,0,0,1,4,1,1", "127,0,0,1", "127"}) {
    EXPECT_FALSE(ParsePort(bad).has_value()) << '"' << bad << '"';
  }
}

TEST(ParsePortTest, RejectsEmptyFields) {
  for (const char* bad :
       {",0,0,1,4,1", "127,,0,1,4,1", "127,0,0,1,4,", "127,0,0,1,,1", ",,,,,", "127, ,0,1,4,1"}) {
    EXPECT_FALSE(ParsePort(bad).has_value()) << '"' << bad << '"';
  }
}

TEST(ParsePortTest, Spaces) {
  // A space inside a number is never part of it.
  EXPECT_FALSE(ParsePort("12 7,0,0,1,4,1").has_value());
  EXPECT_FALSE(ParsePort("127,0,0,1,4 1").has_value());
  EXPECT_FALSE(ParsePort("127 0 0 1 4 1").has_value());
  // Blanks around a field are tolerated, as ProFTPD's sscanf("%u,...") does.
  auto e = ParsePort("127, 0, 0, 1, 4, 1");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->addr, Ip("127.0.0.1"));
  EXPECT_EQ(e->port, 1025);
}

// ---------------------------------------------------------------------------
// ParseEprt

TEST(ParseEprtTest, Ipv4) {
  auto e = ParseEprt("|1|132.235.1.2|6275|");
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_EQ(e->addr, Ip("132.235.1.2"));
  EXPECT_EQ(e->port, 6275);
}

TEST(ParseEprtTest, Ipv6) {
  auto e = ParseEprt("|2|::1|5282|");
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_EQ(e->addr, Ip("::1"));
  EXPECT_TRUE(e->addr.is_v6());
  EXPECT_EQ(e->port, 5282);
  auto f = ParseEprt("|2|1080::8:800:200C:417A|5282|");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->addr, Ip("1080::8:800:200c:417a"));
}

TEST(ParseEprtTest, OtherDelimiters) {
  auto e = ParseEprt("!1!10.0.0.1!2121!");
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_EQ(e->addr, Ip("10.0.0.1"));
  EXPECT_EQ(e->port, 2121);
  auto f = ParseEprt("#2#::1#2121#");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->addr, Ip("::1"));
  // RFC 2428: the delimiter is in ASCII 33-126.
  auto space = ParseEprt(" 1 10.0.0.1 2121 ");
  ASSERT_FALSE(space);
  EXPECT_EQ(space.error().code(), ErrorCode::kInvalid);
  auto ctl = ParseEprt(
      "\x01"
      "1\x01"
      "10.0.0.1\x01"
      "2121\x01");
  ASSERT_FALSE(ctl);
  EXPECT_EQ(ctl.error().code(), ErrorCode::kInvalid);
}

TEST(ParseEprtTest, PortBounds) {
  auto one = ParseEprt("|1|10.0.0.1|1|");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->port, 1);
  auto max = ParseEprt("|1|10.0.0.1|65535|");
  ASSERT_TRUE(max);
  EXPECT_EQ(max->port, 65535);
  for (const char* bad : {"|1|10.0.0.1|0|", "|1|10.0.0.1|65536|", "|1|10.0.0.1|-1|",
                          "|1|10.0.0.1|+21|", "|1|10.0.0.1|21x|", "|1|10.0.0.1||",
                          "|1|10.0.0.1| 21|", "|1|10.0.0.1|99999999999999999999|"}) {
    auto r = ParseEprt(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalid) << bad;
  }
}

TEST(ParseEprtTest, UnsupportedProtocolIsNotFound) {
  // 522 "Network protocol not supported" rather than 501.
  for (const char* arg : {"|3|10.0.0.1|2121|", "|0|10.0.0.1|2121|", "|99|10.0.0.1|2121|"}) {
    auto r = ParseEprt(arg);
    ASSERT_FALSE(r) << arg;
    EXPECT_EQ(r.error().code(), ErrorCode::kNotFound) << arg;
  }
}

TEST(ParseEprtTest, AddressMustMatchProtocol) {
  for (const char* bad : {"|2|10.0.0.1|2121|", "|1|::1|2121|", "|1|::ffff:10.0.0.1|2121|"}) {
    auto r = ParseEprt(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalid) << bad;
  }
}

TEST(ParseEprtTest, Malformed) {
  for (const char* bad :
       {"", "|", "||||", "|1|10.0.0.1|2121", "1|10.0.0.1|2121|", "|1|10.0.0.1|2121||",
        "|1|10.0.0.1|21|21|", "|x|10.0.0.1|2121|", "||10.0.0.1|2121|", "|1||2121|",
        "|1|10.0.0|2121|", "|1|host.example|2121|", "|2|[::1]|2121|", "|1| 10.0.0.1|2121|",
        "|-1|10.0.0.1|2121|"}) {
    auto r = ParseEprt(bad);
    ASSERT_FALSE(r) << '"' << bad << '"';
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalid) << '"' << bad << '"';
  }
}

TEST(ParseEprtTest, EmbeddedNulIsRejected) {
  auto r = ParseEprt(std::string_view("|1|10.0.0.1\0junk|2121|", 22));
  EXPECT_FALSE(r) << "an address with a NUL byte inside must not parse";
}

// ---------------------------------------------------------------------------
// FormatPasv, ToAscii

TEST(FormatPasvTest, Text) {
  EXPECT_EQ(FormatPasv(Ip("127.0.0.1"), 50000), "Entering Passive Mode (127,0,0,1,195,80).");
  EXPECT_EQ(FormatPasv(Ip("192.0.2.255"), 65535), "Entering Passive Mode (192,0,2,255,255,255).");
  EXPECT_EQ(FormatPasv(Ip("10.0.0.1"), 1024), "Entering Passive Mode (10,0,0,1,4,0).");
  EXPECT_EQ(FormatPasv(Ip("10.0.0.1"), 255), "Entering Passive Mode (10,0,0,1,0,255).");
}

std::string Ascii(std::string_view in, bool* prev_cr) {
  std::string out = "garbage";
  ToAscii(in, prev_cr, &out);
  return out;
}

TEST(ToAsciiTest, LfBecomesCrlf) {
  bool cr = false;
  EXPECT_EQ(Ascii("a\nb\n", &cr), "a\r\nb\r\n");
  EXPECT_FALSE(cr);
  EXPECT_EQ(Ascii("\n\n", &cr), "\r\n\r\n");
  EXPECT_EQ(Ascii("", &cr), "");
  EXPECT_EQ(Ascii("no newline", &cr), "no newline");
}

TEST(ToAsciiTest, ExistingCrlfNotDoubled) {
  bool cr = false;
  EXPECT_EQ(Ascii("a\r\nb\r\n", &cr), "a\r\nb\r\n");
  EXPECT_EQ(Ascii("mixed\r\nand\nlf\n", &cr), "mixed\r\nand\r\nlf\r\n");
  // A lone CR passes unchanged.
  EXPECT_EQ(Ascii("a\rb", &cr), "a\rb");
  EXPECT_FALSE(cr);
}

TEST(ToAsciiTest, CrAtChunkBoundaryIsCarried) {
  bool cr = false;
  EXPECT_EQ(Ascii("line\r", &cr), "line\r");
  EXPECT_TRUE(cr);
  EXPECT_EQ(Ascii("\nnext\n", &cr), "\nnext\r\n");
  EXPECT_FALSE(cr);
  // A chunk ending in CR followed by a chunk not starting with LF.
  EXPECT_EQ(Ascii("x\r", &cr), "x\r");
  EXPECT_EQ(Ascii("y\n", &cr), "y\r\n");
  // prev_cr set from outside (REST into the middle of a CRLF).
  cr = true;
  EXPECT_EQ(Ascii("\n", &cr), "\n");
  EXPECT_FALSE(cr);
}

TEST(ToAsciiTest, BinaryBytesPassThrough) {
  bool cr = false;
  const std::string in("\0\xff\x7f\n", 4);
  EXPECT_EQ(Ascii(in, &cr), std::string("\0\xff\x7f\r\n", 5));
}

// ---------------------------------------------------------------------------
// Socket helpers

UniqueFd TcpListener(const std::string& ip, uint16_t* port) {
  UniqueFd l(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!l) return l;
  sockaddr_storage ss;
  const unsigned len = net::Endpoint{Ip(ip), 0}.ToSockaddr(&ss);
  if (::bind(l.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(l.get(), 8) != 0)
    return UniqueFd();
  socklen_t glen = sizeof ss;
  ::getsockname(l.get(), reinterpret_cast<sockaddr*>(&ss), &glen);
  *port = net::Endpoint::FromSockaddr(reinterpret_cast<sockaddr*>(&ss)).port;
  return l;
}

// A blocking TCP client bound to `from`, connected to 127.0.0.1:port.
UniqueFd ConnectFrom(const std::string& from, uint16_t port) {
  UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!c) return c;
  sockaddr_storage ss;
  unsigned len = net::Endpoint{Ip(from), 0}.ToSockaddr(&ss);
  if (::bind(c.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) return UniqueFd();
  len = net::Endpoint{Ip("127.0.0.1"), port}.ToSockaddr(&ss);
  if (::connect(c.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) return UniqueFd();
  return c;
}

net::Endpoint PeerOf(int fd) {
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return net::Endpoint::FromSockaddr(reinterpret_cast<sockaddr*>(&ss));
}

// A connected loopback TCP pair: `sender` non-blocking (as Open returns it),
// `receiver` blocking. Small buffers when `small` so a non-reading peer
// fills them quickly.
// The sending end as the loops take it: a net::Stream (TcpStream unless a
// test picks another kind).
struct StreamEnd {
  std::unique_ptr<net::Stream> s;
  net::Stream& get() { return *s; }
  int fd() const { return s ? s->fd() : -1; }
  bool valid() const { return s && s->fd() >= 0; }
  void reset() { s.reset(); }
};

struct TcpPair {
  StreamEnd sender;
  UniqueFd receiver;
};

enum class Kind { kTcp, kPiece, kBuffering };

std::unique_ptr<net::Stream> MakeStream(Kind kind, UniqueFd fd, unsigned seed = 1) {
  switch (kind) {
    case Kind::kTcp:
      return std::make_unique<net::TcpStream>(std::move(fd));
    case Kind::kPiece:
      return std::make_unique<testing_streams::PieceStream>(std::move(fd), seed, 4096);
    case Kind::kBuffering:
      return std::make_unique<testing_streams::BufferingStream>(std::move(fd), seed, 4096);
  }
  return nullptr;
}

// A control stream for Hooks::control over `fd` (a dup: the test keeps its fd).
net::TcpStream ControlOver(int fd) { return net::TcpStream(UniqueFd(::dup(fd))); }

TcpPair MakeTcpPair(bool small, Kind kind = Kind::kTcp) {
  TcpPair p;
  uint16_t port = 0;
  UniqueFd l = TcpListener("127.0.0.1", &port);
  if (!l) return p;
  const int sz = 4096;
  if (small) ::setsockopt(l.get(), SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
  p.receiver = ConnectFrom("127.0.0.1", port);
  if (small) ::setsockopt(p.receiver.get(), SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
  p.sender.s = MakeStream(
      kind, UniqueFd(::accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK)));
  if (small) ::setsockopt(p.sender.fd(), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  return p;
}

// Reads `fd` to EOF on a thread.
class Reader {
 public:
  explicit Reader(int fd)
      : fd_(fd), thread_([this, fd] {
          char buf[65536];
          for (;;) {
            const ssize_t n = ::read(fd, buf, sizeof buf);
            if (n > 0) {
              data_.append(buf, static_cast<size_t>(n));
              continue;
            }
            if (n < 0 && errno == EINTR) continue;
            break;
          }
        }) {}
  // On an early test failure the sender may still be open: unblock the read.
  ~Reader() {
    if (thread_.joinable()) {
      ::shutdown(fd_, SHUT_RDWR);
      thread_.join();
    }
  }
  const std::string& Join() {
    thread_.join();
    return data_;
  }

 private:
  int fd_;
  std::string data_;
  std::thread thread_;
};

class TempFile : public testing_files::TempFile {
 public:
  explicit TempFile(const std::string& content) : testing_files::TempFile(content, "data_test") {}
};

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 12345;
  for (auto& c : s) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

// Hooks with a bound so a broken transfer loop fails the test instead of hanging.
Hooks BoundedHooks() {
  Hooks h;
  h.stall_timeout_ms = 5000;
  return h;
}

// ---------------------------------------------------------------------------
// DataChannel: passive

TEST(DataChannelTest, OpenWithoutPasvOrPortIsNoData) {
  DataChannel dc;
  EXPECT_FALSE(dc.configured());
  UniqueFd out;
  std::string detail;
  EXPECT_EQ(dc.Open(Ip("127.0.0.1"), false, 100, Hooks{}, &out, &detail), Status::kNoData);
  EXPECT_FALSE(out.valid());
}

TEST(DataChannelTest, ListenWithKernelPort) {
  DataChannel dc;
  auto port = dc.Listen(Ip("127.0.0.1"), config::PortRange{});
  ASSERT_TRUE(port) << port.error().message();
  EXPECT_NE(*port, 0);
  EXPECT_TRUE(dc.configured());
  EXPECT_TRUE((dc.configured() && !dc.active()));
  dc.Reset();
  EXPECT_FALSE(dc.configured());
  EXPECT_FALSE((dc.configured() && !dc.active()));
  // The listener is gone after Reset: connecting is refused.
  EXPECT_FALSE(ConnectFrom("127.0.0.1", *port).valid());
}

TEST(DataChannelTest, ListenWithinPassivePorts) {
  // Find a free block by asking the kernel for a port and using the range
  // just above it; retry a few times in case part of it is taken.
  for (int attempt = 0; attempt < 20; ++attempt) {
    uint16_t base = 0;
    { UniqueFd probe = TcpListener("127.0.0.1", &base); }
    if (base == 0 || base > 65000) continue;
    const config::PortRange range{base, static_cast<uint16_t>(base + 9)};
    for (int i = 0; i < 5; ++i) {
      DataChannel dc;
      auto port = dc.Listen(Ip("127.0.0.1"), range);
      ASSERT_TRUE(port) << port.error().message();
      EXPECT_GE(*port, range.low);
      EXPECT_LE(*port, range.high);
      UniqueFd c = ConnectFrom("127.0.0.1", *port);
      EXPECT_TRUE(c.valid()) << "the returned port must be the one listening";
    }
    return;
  }
  FAIL() << "no free port block found";
}

TEST(DataChannelTest, ListenFailsWhenRangeIsFull) {
  uint16_t taken = 0;
  UniqueFd busy = TcpListener("127.0.0.1", &taken);
  ASSERT_TRUE(busy.valid());
  DataChannel dc;
  auto port = dc.Listen(Ip("127.0.0.1"), config::PortRange{taken, taken});
  ASSERT_FALSE(port);
  EXPECT_EQ(port.error().code(), ErrorCode::kLimit);
  EXPECT_FALSE(dc.configured());
}

TEST(DataChannelTest, PassiveAcceptsControlPeer) {
  DataChannel dc;
  auto port = dc.Listen(Ip("127.0.0.1"), config::PortRange{});
  ASSERT_TRUE(port);
  UniqueFd client = ConnectFrom("127.0.0.1", *port);
  ASSERT_TRUE(client.valid());
  UniqueFd out;
  std::string detail;
  ASSERT_EQ(dc.Open(Ip("127.0.0.1"), false, 5000, Hooks{}, &out, &detail), Status::kOk) << detail;
  ASSERT_TRUE(out.valid());
  EXPECT_FALSE(dc.configured()) << "Open() consumes the PASV listener";
  EXPECT_NE(::fcntl(out.get(), F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(::fcntl(out.get(), F_GETFD) & FD_CLOEXEC, 0);
  ASSERT_EQ(::write(client.get(), "ping", 4), 4);
  pollfd p{out.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  char buf[8];
  EXPECT_EQ(::read(out.get(), buf, sizeof buf), 4);
}

TEST(DataChannelTest, PassiveRefusesForeignPeer) {
  DataChannel dc;
  auto port = dc.Listen(Ip("127.0.0.1"), config::PortRange{});
  ASSERT_TRUE(port);
  UniqueFd thief = ConnectFrom("127.0.0.2", *port);
  ASSERT_TRUE(thief.valid()) << std::strerror(errno);
  UniqueFd out;
  std::string detail;
  EXPECT_EQ(dc.Open(Ip("127.0.0.1"), false, 5000, Hooks{}, &out, &detail), Status::kForeign);
  EXPECT_FALSE(out.valid());
  EXPECT_EQ(detail, "127.0.0.2");
  EXPECT_FALSE(dc.configured());
}

TEST(DataChannelTest, PassiveAllowsForeignPeerWhenConfigured) {
  DataChannel dc;
  auto port = dc.Listen(Ip("127.0.0.1"), config::PortRange{});
  ASSERT_TRUE(port);
  UniqueFd other = ConnectFrom("127.0.0.2", *port);
  ASSERT_TRUE(other.valid());
  UniqueFd out;
  std::string detail;
  ASSERT_EQ(dc.Open(Ip("127.0.0.1"), true, 5000, Hooks{}, &out, &detail), Status::kOk);
  ASSERT_TRUE(out.valid());
  EXPECT_EQ(PeerOf(out.get()).addr, Ip("127.0.0.2"));
}

TEST(DataChannelTest, PassiveComparesMappedPeerAsIpv4) {
  DataChannel dc;
  auto port = dc.Listen(Ip("127.0.0.1"), config::PortRange{});
  ASSERT_TRUE(port);
  UniqueFd client = ConnectFrom("127.0.0.1", *port);
  ASSERT_TRUE(client.valid());
  UniqueFd out;
  std::string detail;
  EXPECT_EQ(dc.Open(Ip("::ffff:127.0.0.1"), false, 5000, Hooks{}, &out, &detail), Status::kOk);
}

TEST(DataChannelTest, PassiveTimeout) {
  DataChannel dc;
  ASSERT_TRUE(dc.Listen(Ip("127.0.0.1"), config::PortRange{}));
  UniqueFd out;
  std::string detail;
  EXPECT_EQ(dc.Open(Ip("127.0.0.1"), false, 50, Hooks{}, &out, &detail), Status::kTimeout);
  EXPECT_FALSE(out.valid());
  EXPECT_FALSE(dc.configured());
}

TEST(DataChannelTest, AbortWhileWaitingForConnection) {
  int ctl[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl), 0);
  UniqueFd ours(ctl[0]), theirs(ctl[1]);
  ASSERT_EQ(::write(theirs.get(), "ABOR\r\n", 6), 6);

  DataChannel dc;
  ASSERT_TRUE(dc.Listen(Ip("127.0.0.1"), config::PortRange{}));
  int calls = 0;
  Hooks h;
  net::TcpStream ctl_stream = ControlOver(ours.get());
  h.control = &ctl_stream;
  h.on_control = [&] {
    ++calls;
    return ControlAction::kAbort;
  };
  UniqueFd out;
  std::string detail;
  EXPECT_EQ(dc.Open(Ip("127.0.0.1"), false, 5000, h, &out, &detail), Status::kAborted);
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(out.valid());
}

TEST(DataChannelTest, IgnoredControlIsNotPolledAgain) {
  int ctl[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl), 0);
  UniqueFd ours(ctl[0]), theirs(ctl[1]);
  ASSERT_EQ(::write(theirs.get(), "NOOP\r\n", 6), 6);

  DataChannel dc;
  ASSERT_TRUE(dc.Listen(Ip("127.0.0.1"), config::PortRange{}));
  int calls = 0;
  Hooks h;
  net::TcpStream ctl_stream = ControlOver(ours.get());
  h.control = &ctl_stream;
  h.on_control = [&] {
    ++calls;
    return ControlAction::kIgnore;  // leaves the bytes unread
  };
  UniqueFd out;
  std::string detail;
  EXPECT_EQ(dc.Open(Ip("127.0.0.1"), false, 100, h, &out, &detail), Status::kTimeout);
  EXPECT_EQ(calls, 1);
}

TEST(DataChannelTest, ListenAgainReplacesOldListener) {
  DataChannel dc;
  auto first = dc.Listen(Ip("127.0.0.1"), config::PortRange{});
  ASSERT_TRUE(first);
  auto second = dc.Listen(Ip("127.0.0.1"), config::PortRange{});
  ASSERT_TRUE(second);
  EXPECT_FALSE(ConnectFrom("127.0.0.1", *first).valid()) << "old PASV port must be closed";
  EXPECT_TRUE(ConnectFrom("127.0.0.1", *second).valid());
}

// ---------------------------------------------------------------------------
// DataChannel: active

TEST(DataChannelTest, ActiveConnectsToTarget) {
  uint16_t port = 0;
  UniqueFd l = TcpListener("127.0.0.1", &port);
  ASSERT_TRUE(l.valid());
  DataChannel dc;
  dc.SetActive(net::Endpoint{Ip("127.0.0.1"), port}, Ip("127.0.0.1"));
  EXPECT_TRUE(dc.configured());
  EXPECT_FALSE((dc.configured() && !dc.active()));
  UniqueFd out;
  std::string detail;
  ASSERT_EQ(dc.Open(Ip("127.0.0.1"), false, 5000, Hooks{}, &out, &detail), Status::kOk) << detail;
  ASSERT_TRUE(out.valid());
  EXPECT_FALSE(dc.configured());
  UniqueFd accepted(::accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(accepted.valid());
  EXPECT_EQ(PeerOf(accepted.get()).addr, Ip("127.0.0.1"));
}

TEST(DataChannelTest, ActiveConnectsFromServerAddress) {
  uint16_t port = 0;
  UniqueFd l = TcpListener("127.0.0.1", &port);
  ASSERT_TRUE(l.valid());
  DataChannel dc;
  dc.SetActive(net::Endpoint{Ip("127.0.0.1"), port}, Ip("127.0.0.2"));
  UniqueFd out;
  std::string detail;
  ASSERT_EQ(dc.Open(Ip("127.0.0.1"), false, 5000, Hooks{}, &out, &detail), Status::kOk) << detail;
  UniqueFd accepted(::accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(accepted.valid());
  EXPECT_EQ(PeerOf(accepted.get()).addr, Ip("127.0.0.2"));
}

TEST(DataChannelTest, ActiveRefusedIsPeerClosed) {
  uint16_t port = 0;
  { UniqueFd gone = TcpListener("127.0.0.1", &port); }
  ASSERT_NE(port, 0);
  DataChannel dc;
  dc.SetActive(net::Endpoint{Ip("127.0.0.1"), port}, Ip("127.0.0.1"));
  UniqueFd out;
  std::string detail;
  EXPECT_EQ(dc.Open(Ip("127.0.0.1"), false, 5000, Hooks{}, &out, &detail), Status::kPeerClosed);
  EXPECT_FALSE(out.valid());
  EXPECT_EQ(detail, "127.0.0.1:" + std::to_string(port));
}

TEST(DataChannelTest, SetActiveForgetsPasvListener) {
  DataChannel dc;
  auto port = dc.Listen(Ip("127.0.0.1"), config::PortRange{});
  ASSERT_TRUE(port);
  uint16_t target = 0;
  UniqueFd l = TcpListener("127.0.0.1", &target);
  dc.SetActive(net::Endpoint{Ip("127.0.0.1"), target}, Ip("127.0.0.1"));
  EXPECT_FALSE((dc.configured() && !dc.active()));
  EXPECT_FALSE(ConnectFrom("127.0.0.1", *port).valid());
}

// ---------------------------------------------------------------------------
// Transfers

TEST(TransferTest, SendBufferDeliversExactBytes) {
  TcpPair p = MakeTcpPair(false);
  ASSERT_TRUE(p.sender.valid() && p.receiver.valid());
  const std::string data = Pattern(3 * 1024 * 1024 + 17);
  Reader reader(p.receiver.get());
  uint64_t sent = 0, last_progress = 0;
  Hooks h = BoundedHooks();
  h.progress = [&](uint64_t b) {
    EXPECT_GE(b, last_progress);
    last_progress = b;
  };
  EXPECT_EQ(SendBuffer(p.sender.get(), data, h, &sent), Status::kOk);
  EXPECT_EQ(sent, data.size());
  EXPECT_EQ(last_progress, data.size());
  p.sender.reset();
  EXPECT_TRUE(reader.Join() == data);
}

TEST(TransferTest, SendBufferEmpty) {
  TcpPair p = MakeTcpPair(false);
  uint64_t sent = 99;
  EXPECT_EQ(SendBuffer(p.sender.get(), "", BoundedHooks(), &sent), Status::kOk);
  EXPECT_EQ(sent, 0u);
}

void CheckSendFile(bool use_sendfile, uint64_t offset) {
  const std::string content = Pattern(1024 * 1024 + 4321);
  TempFile f(content);
  TcpPair p = MakeTcpPair(false);
  ASSERT_TRUE(p.sender.valid() && p.receiver.valid());
  Reader reader(p.receiver.get());
  uint64_t sent = 0;
  EXPECT_EQ(
      SendFile(p.sender.get(), f.fd(), offset, content.size(), use_sendfile, BoundedHooks(), &sent),
      Status::kOk);
  EXPECT_EQ(sent, content.size() - offset);
  p.sender.reset();
  const std::string& got = reader.Join();
  EXPECT_EQ(got.size(), content.size() - offset);
  EXPECT_TRUE(got == content.substr(offset)) << "sendfile=" << use_sendfile << " offset=" << offset;
}

TEST(TransferTest, SendFileWithSendfile) { CheckSendFile(true, 0); }
TEST(TransferTest, SendFileWithReadWrite) { CheckSendFile(false, 0); }
TEST(TransferTest, SendFileHonoursRestWithSendfile) { CheckSendFile(true, 1000); }
TEST(TransferTest, SendFileHonoursRestWithReadWrite) { CheckSendFile(false, 300001); }
TEST(TransferTest, SendFileRestAtEndSendsNothing) { CheckSendFile(true, 1024 * 1024 + 4321); }

TEST(TransferTest, SendFileUnreadableFileIsLocalError) {
  TcpPair p = MakeTcpPair(false);
  int pipefd[2];
  ASSERT_EQ(::pipe2(pipefd, O_CLOEXEC), 0);
  UniqueFd r(pipefd[0]), w(pipefd[1]);
  // A write-only fd cannot be read: pread fails with EBADF.
  uint64_t sent = 0;
  EXPECT_EQ(SendFile(p.sender.get(), w.get(), 0, 100, false, BoundedHooks(), &sent),
            Status::kLocalError);
}

TEST(TransferTest, SendAsciiConvertsLineEnds) {
  TempFile f("line1\nline2\r\nline3\n\nend");
  TcpPair p = MakeTcpPair(false);
  Reader reader(p.receiver.get());
  uint64_t sent = 0;
  EXPECT_EQ(SendAscii(p.sender.get(), f.fd(), 0, BoundedHooks(), &sent), Status::kOk);
  p.sender.reset();
  const std::string want = "line1\r\nline2\r\nline3\r\n\r\nend";
  EXPECT_EQ(reader.Join(), want);
  EXPECT_EQ(sent, want.size());
}

TEST(TransferTest, SendAsciiCrlfAcrossReadChunks) {
  // The reader works in 64 KiB chunks: put a CR as the last byte of the first.
  std::string content(65535, 'x');
  content += "\r\ny\n";
  TempFile f(content);
  TcpPair p = MakeTcpPair(false);
  Reader reader(p.receiver.get());
  uint64_t sent = 0;
  EXPECT_EQ(SendAscii(p.sender.get(), f.fd(), 0, BoundedHooks(), &sent), Status::kOk);
  p.sender.reset();
  const std::string want = std::string(65535, 'x') + "\r\ny\r\n";
  EXPECT_TRUE(reader.Join() == want);
}

TEST(TransferTest, SendAsciiHonoursRest) {
  TempFile f("ab\ncd\r\nef\n");
  {
    TcpPair p = MakeTcpPair(false);
    Reader reader(p.receiver.get());
    uint64_t sent = 0;
    EXPECT_EQ(SendAscii(p.sender.get(), f.fd(), 3, BoundedHooks(), &sent), Status::kOk);
    p.sender.reset();
    EXPECT_EQ(reader.Join(), "cd\r\nef\r\n");
  }
  {
    // Restarting between CR and LF must not insert another CR.
    TcpPair p = MakeTcpPair(false);
    Reader reader(p.receiver.get());
    uint64_t sent = 0;
    EXPECT_EQ(SendAscii(p.sender.get(), f.fd(), 6, BoundedHooks(), &sent), Status::kOk);
    p.sender.reset();
    EXPECT_EQ(reader.Join(), "\nef\r\n");
  }
  {
    TcpPair p = MakeTcpPair(false);
    Reader reader(p.receiver.get());
    uint64_t sent = 0;
    EXPECT_EQ(SendAscii(p.sender.get(), f.fd(), 100, BoundedHooks(), &sent), Status::kOk);
    EXPECT_EQ(sent, 0u);
    p.sender.reset();
    EXPECT_EQ(reader.Join(), "");
  }
}

TEST(TransferTest, AborStopsTransferWhenPeerDoesNotRead) {
  TcpPair p = MakeTcpPair(true);
  ASSERT_TRUE(p.sender.valid() && p.receiver.valid());
  int ctl[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl), 0);
  UniqueFd ours(ctl[0]), theirs(ctl[1]);
  ASSERT_EQ(::write(theirs.get(), "ABOR\r\n", 6), 6);

  const std::string big = Pattern(16 * 1024 * 1024);
  int calls = 0;
  Hooks h = BoundedHooks();
  net::TcpStream ctl_stream = ControlOver(ours.get());
  h.control = &ctl_stream;
  h.on_control = [&] {
    ++calls;
    return ControlAction::kAbort;
  };
  uint64_t sent = 0;
  EXPECT_EQ(SendBuffer(p.sender.get(), big, h, &sent), Status::kAborted);
  EXPECT_EQ(calls, 1);
  EXPECT_LT(sent, big.size());
}

TEST(TransferTest, AborStopsSendFile) {
  const std::string content = Pattern(16 * 1024 * 1024);
  TempFile f(content);
  for (bool use_sendfile : {true, false}) {
    TcpPair p = MakeTcpPair(true);
    int ctl[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl), 0);
    UniqueFd ours(ctl[0]), theirs(ctl[1]);
    ASSERT_EQ(::write(theirs.get(), "ABOR\r\n", 6), 6);
    Hooks h = BoundedHooks();
    net::TcpStream ctl_stream = ControlOver(ours.get());
    h.control = &ctl_stream;
    h.on_control = [] { return ControlAction::kAbort; };
    uint64_t sent = 0;
    EXPECT_EQ(SendFile(p.sender.get(), f.fd(), 0, content.size(), use_sendfile, h, &sent),
              Status::kAborted)
        << "sendfile=" << use_sendfile;
    EXPECT_LT(sent, content.size());
  }
}

TEST(TransferTest, ControlContinueKeepsTransferGoing) {
  TcpPair p = MakeTcpPair(false);
  int ctl[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl), 0);
  UniqueFd ours(ctl[0]), theirs(ctl[1]);
  ASSERT_EQ(::write(theirs.get(), "NOOP\r\n", 6), 6);
  const std::string data = Pattern(4 * 1024 * 1024);
  Reader reader(p.receiver.get());
  Hooks h = BoundedHooks();
  net::TcpStream ctl_stream = ControlOver(ours.get());
  h.control = &ctl_stream;
  h.on_control = [&] {
    char buf[64];
    (void)!::read(ours.get(), buf, sizeof buf);  // consume, as the session does
    return ControlAction::kContinue;
  };
  uint64_t sent = 0;
  EXPECT_EQ(SendBuffer(p.sender.get(), data, h, &sent), Status::kOk);
  p.sender.reset();
  EXPECT_TRUE(reader.Join() == data);
}

TEST(TransferTest, StallTimeout) {
  TcpPair p = MakeTcpPair(true);
  const std::string big = Pattern(16 * 1024 * 1024);
  Hooks h;
  h.stall_timeout_ms = 100;
  uint64_t sent = 0;
  EXPECT_EQ(SendBuffer(p.sender.get(), big, h, &sent), Status::kStalled);
  EXPECT_LT(sent, big.size());
}

TEST(TransferTest, StallTimeoutInSendFile) {
  const std::string content = Pattern(16 * 1024 * 1024);
  TempFile f(content);
  TcpPair p = MakeTcpPair(true);
  Hooks h;
  h.stall_timeout_ms = 100;
  uint64_t sent = 0;
  EXPECT_EQ(SendFile(p.sender.get(), f.fd(), 0, content.size(), true, h, &sent), Status::kStalled);
}

TEST(TransferTest, PeerClosedIsReported) {
  TcpPair p = MakeTcpPair(false);
  p.receiver.reset();
  const std::string big = Pattern(16 * 1024 * 1024);
  uint64_t sent = 0;
  EXPECT_EQ(SendBuffer(p.sender.get(), big, BoundedHooks(), &sent), Status::kPeerClosed);
  EXPECT_LT(sent, big.size());
}

TEST(TransferTest, WorksOverSocketpair) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  ASSERT_TRUE(util::SetNonBlocking(a.get(), true));
  net::TcpStream as(std::move(a));
  const std::string content = Pattern(700000);
  TempFile f(content);
  Reader reader(b.get());
  uint64_t sent = 0;
  EXPECT_EQ(SendFile(as, f.fd(), 0, content.size(), true, BoundedHooks(), &sent), Status::kOk);
  as.Close();
  EXPECT_TRUE(reader.Join() == content);
}

// ---------------------------------------------------------------------------
// The loops over other streams (test_streams.h): short writes, short reads,
// bytes held inside the stream.

class OtherStreamTest : public ::testing::TestWithParam<Kind> {};

TEST_P(OtherStreamTest, SendBufferDeliversExactBytes) {
  TcpPair p = MakeTcpPair(false, GetParam());
  ASSERT_TRUE(p.sender.valid() && p.receiver.valid());
  const std::string data = Pattern(1024 * 1024 + 17);
  Reader reader(p.receiver.get());
  uint64_t sent = 0, last_progress = 0;
  Hooks h = BoundedHooks();
  h.progress = [&](uint64_t b) {
    EXPECT_GE(b, last_progress);
    last_progress = b;
  };
  EXPECT_EQ(SendBuffer(p.sender.get(), data, h, &sent), Status::kOk);
  EXPECT_EQ(sent, data.size());
  EXPECT_EQ(last_progress, data.size());
  p.sender.reset();
  EXPECT_TRUE(reader.Join() == data);
}

TEST_P(OtherStreamTest, SendFileBothWaysWithRest) {
  const std::string content = Pattern(300000 + 4321);
  TempFile f(content);
  for (bool use_sendfile : {true, false}) {
    TcpPair p = MakeTcpPair(false, GetParam());
    ASSERT_TRUE(p.sender.valid() && p.receiver.valid());
    Reader reader(p.receiver.get());
    uint64_t sent = 0;
    EXPECT_EQ(
        SendFile(p.sender.get(), f.fd(), 1000, content.size(), use_sendfile, BoundedHooks(), &sent),
        Status::kOk);
    EXPECT_EQ(sent, content.size() - 1000);
    p.sender.reset();
    EXPECT_TRUE(reader.Join() == content.substr(1000)) << "sendfile=" << use_sendfile;
  }
}

TEST_P(OtherStreamTest, SendAsciiConvertsLineEnds) {
  TempFile f("line1\nline2\r\nline3\n\nend");
  TcpPair p = MakeTcpPair(false, GetParam());
  Reader reader(p.receiver.get());
  uint64_t sent = 0;
  EXPECT_EQ(SendAscii(p.sender.get(), f.fd(), 0, BoundedHooks(), &sent), Status::kOk);
  p.sender.reset();
  const std::string want = "line1\r\nline2\r\nline3\r\n\r\nend";
  EXPECT_EQ(reader.Join(), want);
  EXPECT_EQ(sent, want.size());
}

// The control stream holds the ABOR inside itself after the first read: only
// a wait that asks Buffered() sees it (the fd is empty by then).
TEST_P(OtherStreamTest, AborFromBytesTheControlStreamHolds) {
  TcpPair p = MakeTcpPair(true);
  ASSERT_TRUE(p.sender.valid() && p.receiver.valid());
  int ctl[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl), 0);
  UniqueFd theirs(ctl[1]);
  std::unique_ptr<net::Stream> control = MakeStream(GetParam(), UniqueFd(ctl[0]), 7);
  ASSERT_EQ(::write(theirs.get(), "NOOP\r\nABOR\r\n", 12), 12);
  std::string seen;
  Hooks h;
  h.stall_timeout_ms = 3000;
  h.control = control.get();
  h.on_control = [&] {
    char buf[3];  // small reads: the rest stays in the stream (BufferingStream)
    const ssize_t n = control->Read(buf, sizeof buf);
    if (n > 0) seen.append(buf, static_cast<size_t>(n));
    return seen.find("ABOR\r\n") != std::string::npos ? ControlAction::kAbort
                                                      : ControlAction::kContinue;
  };
  const std::string big = Pattern(16 * 1024 * 1024);
  uint64_t sent = 0;
  EXPECT_EQ(SendBuffer(p.sender.get(), big, h, &sent), Status::kAborted);
  EXPECT_EQ(seen, "NOOP\r\nABOR\r\n");
}

// Receiving: a client writes the bytes and closes; the loop writes them to
// the file at the offset.
TEST_P(OtherStreamTest, ReceiveFileWritesExactBytesAtOffset) {
  TcpPair p = MakeTcpPair(false);
  ASSERT_TRUE(p.sender.valid() && p.receiver.valid());
  // The server side receives: the accepted end, as the given kind.
  const int fd = ::dup(p.sender.fd());
  p.sender.reset();
  std::unique_ptr<net::Stream> in = MakeStream(GetParam(), UniqueFd(fd), 3);
  ASSERT_TRUE(util::SetNonBlocking(in->fd(), true));
  const std::string data = Pattern(2 * 1024 * 1024 + 99);
  std::thread writer([&] {
    (void)util::WriteAll(p.receiver.get(), data);
    p.receiver.reset();
  });
  TempFile f("0123456789");
  uint64_t received = 0, last_progress = 0;
  Hooks h = BoundedHooks();
  h.progress = [&](uint64_t b) {
    EXPECT_GE(b, last_progress);
    last_progress = b;
  };
  EXPECT_EQ(ReceiveFile(*in, f.fd(), 4, h, &received), Status::kOk);
  writer.join();
  EXPECT_EQ(received, data.size());
  EXPECT_EQ(last_progress, data.size());
  std::string got(4 + data.size() + 10, '\0');
  const ssize_t n = ::pread(f.fd(), got.data(), got.size(), 0);
  ASSERT_EQ(n, static_cast<ssize_t>(4 + data.size()));
  got.resize(static_cast<size_t>(n));
  EXPECT_EQ(got.substr(0, 4), "0123");
  EXPECT_TRUE(got.substr(4) == data);
}

INSTANTIATE_TEST_SUITE_P(Streams, OtherStreamTest,
                         ::testing::Values(Kind::kTcp, Kind::kPiece, Kind::kBuffering),
                         [](const ::testing::TestParamInfo<Kind>& i) {
                           return i.param == Kind::kTcp     ? "Tcp"
                                  : i.param == Kind::kPiece ? "Piece"
                                                            : "Buffering";
                         });

TEST(ReceiveTest, AborWhileNoDataArrives) {
  TcpPair p = MakeTcpPair(false);
  int ctl[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl), 0);
  UniqueFd ours(ctl[0]), theirs(ctl[1]);
  ASSERT_EQ(::write(theirs.get(), "ABOR\r\n", 6), 6);
  net::TcpStream ctl_stream = ControlOver(ours.get());
  Hooks h = BoundedHooks();
  h.control = &ctl_stream;
  int calls = 0;
  h.on_control = [&] {
    ++calls;
    return ControlAction::kAbort;
  };
  TempFile f("");
  uint64_t received = 0;
  EXPECT_EQ(ReceiveFile(p.sender.get(), f.fd(), 0, h, &received), Status::kAborted);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(received, 0u);
}

TEST(ReceiveTest, StallTimeout) {
  TcpPair p = MakeTcpPair(false);
  Hooks h;
  h.stall_timeout_ms = 100;
  TempFile f("");
  uint64_t received = 0;
  EXPECT_EQ(ReceiveFile(p.sender.get(), f.fd(), 0, h, &received), Status::kStalled);
}

TEST(ReceiveTest, UnwritableFileIsLocalError) {
  TcpPair p = MakeTcpPair(false);
  ASSERT_EQ(::write(p.receiver.get(), "abc", 3), 3);
  int pipefd[2];
  ASSERT_EQ(::pipe2(pipefd, O_CLOEXEC), 0);
  UniqueFd r(pipefd[0]), w(pipefd[1]);
  // The read end of a pipe cannot be written: pwrite fails.
  uint64_t received = 0;
  EXPECT_EQ(ReceiveFile(p.sender.get(), r.get(), 0, BoundedHooks(), &received),
            Status::kLocalError);
}

TEST(ReceiveTest, EmptyUploadIsOk) {
  TcpPair p = MakeTcpPair(false);
  p.receiver.reset();
  TempFile f("");
  uint64_t received = 9;
  EXPECT_EQ(ReceiveFile(p.sender.get(), f.fd(), 0, BoundedHooks(), &received), Status::kOk);
  EXPECT_EQ(received, 0u);
}

}  // namespace
}  // namespace poolftpd::data
