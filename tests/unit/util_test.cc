// Unit tests for util: IP/endpoint/CIDR values (IPv4-mapped normalisation,
// ProFTPD's trailing-dot networks, host-bit masking), strict number parsing,
// the string helpers, the small syscall wrappers in io.h and the
// MaxCommandRate limiter (on a fake clock).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "poolftpd/util/dontfork.h"
#include "poolftpd/util/io.h"
#include "poolftpd/util/net.h"
#include "poolftpd/util/rate_limit.h"
#include "poolftpd/util/strings.h"
#include "poolftpd/util/unique_fd.h"

namespace poolftpd {
namespace {

using net::Cidr;
using net::Endpoint;
using net::IpAddress;

IpAddress Ip(std::string_view s) {
  auto a = IpAddress::Parse(s);
  EXPECT_TRUE(a.has_value()) << s;
  return a.value_or(IpAddress{});
}

Cidr Net(std::string_view s) {
  auto c = Cidr::Parse(s);
  EXPECT_TRUE(c.has_value()) << s;
  return c.value_or(Cidr{});
}

// ---------------------------------------------------------------------------
// IpAddress

TEST(IpAddressTest, ParsesIpv4) {
  const IpAddress a = Ip("192.168.1.77");
  EXPECT_TRUE(a.is_v4());
  EXPECT_FALSE(a.is_v6());
  EXPECT_EQ(a.family, AF_INET);
  EXPECT_EQ(a.bytes[0], 192);
  EXPECT_EQ(a.bytes[1], 168);
  EXPECT_EQ(a.bytes[2], 1);
  EXPECT_EQ(a.bytes[3], 77);
  EXPECT_EQ(a.ToString(), "192.168.1.77");
}

TEST(IpAddressTest, ParsesIpv6AndCanonicalises) {
  const IpAddress a = Ip("2001:0db8:0000:0000:0000:0000:0000:0001");
  EXPECT_TRUE(a.is_v6());
  EXPECT_EQ(a.family, AF_INET6);
  EXPECT_EQ(a.ToString(), "2001:db8::1");
  EXPECT_EQ(Ip("::1").ToString(), "::1");
}

TEST(IpAddressTest, AcceptsBracketedIpv6) {
  EXPECT_EQ(Ip("[::1]"), Ip("::1"));
  EXPECT_EQ(Ip("[2001:db8::5]").ToString(), "2001:db8::5");
}

TEST(IpAddressTest, AcceptsLongestBracketedIpv6) {
  // 45 characters inside the brackets: the longest textual IPv6 address.
  const std::string longest = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
  ASSERT_EQ(longest.size(), 45u);
  auto plain = IpAddress::Parse(longest);
  ASSERT_TRUE(plain.has_value());
  auto bracketed = IpAddress::Parse("[" + longest + "]");
  ASSERT_TRUE(bracketed.has_value()) << "brackets must not count against the length limit";
  EXPECT_EQ(*bracketed, *plain);
}

TEST(IpAddressTest, MapsIpv4MappedIpv6ToIpv4) {
  const IpAddress mapped = Ip("::ffff:10.1.2.3");
  EXPECT_TRUE(mapped.is_v4());
  EXPECT_EQ(mapped, Ip("10.1.2.3"));
  EXPECT_EQ(mapped.ToString(), "10.1.2.3");
  EXPECT_EQ(Ip("[::ffff:127.0.0.1]"), Ip("127.0.0.1"));
  // Only the ::ffff:0:0/96 prefix is mapped; the deprecated compatible form is not.
  EXPECT_TRUE(Ip("::10.1.2.3").is_v6());
}

TEST(IpAddressTest, RejectsMalformedText) {
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "1.2.3.256", "256.0.0.1", "a.b.c.d", "abc",
                          " 1.2.3.4", "1.2.3.4 ", "1.2.3.4/8", "::g", "1:2:3:4:5:6:7:8:9", "[::1",
                          "::1]", "[]", "[1.2.3.4", "localhost", "-1.2.3.4"}) {
    EXPECT_FALSE(IpAddress::Parse(bad).has_value()) << '"' << bad << '"';
  }
  EXPECT_FALSE(IpAddress::Parse(std::string(200, '1')).has_value());
  EXPECT_FALSE(IpAddress::Parse(std::string_view("1.2.3.4\0", 8)).has_value());
}

TEST(IpAddressTest, Unspecified) {
  EXPECT_TRUE(Ip("0.0.0.0").is_unspecified());
  EXPECT_TRUE(Ip("::").is_unspecified());
  EXPECT_FALSE(Ip("0.0.0.1").is_unspecified());
  EXPECT_FALSE(Ip("::1").is_unspecified());
}

TEST(IpAddressTest, DefaultIsUnsetAndPrintsEmpty) {
  const IpAddress a;
  EXPECT_FALSE(a.is_v4());
  EXPECT_FALSE(a.is_v6());
  EXPECT_EQ(a.ToString(), "");
}

TEST(IpAddressTest, FamiliesNeverCompareEqual) {
  // An IPv4 and an IPv6 address with identical byte arrays still differ.
  IpAddress v4 = Ip("1.2.3.4");
  IpAddress v6;
  v6.family = AF_INET6;
  v6.bytes = v4.bytes;
  EXPECT_FALSE(v4 == v6);
}

TEST(IpAddressTest, FromSockaddrIpv4AndMapped) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  ASSERT_EQ(::inet_pton(AF_INET, "10.9.8.7", &in.sin_addr), 1);
  EXPECT_EQ(IpAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&in)), Ip("10.9.8.7"));

  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  ASSERT_EQ(::inet_pton(AF_INET6, "::ffff:10.9.8.7", &in6.sin6_addr), 1);
  const IpAddress m = IpAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&in6));
  EXPECT_TRUE(m.is_v4());
  EXPECT_EQ(m, Ip("10.9.8.7"));

  ASSERT_EQ(::inet_pton(AF_INET6, "fe80::1", &in6.sin6_addr), 1);
  EXPECT_EQ(IpAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&in6)), Ip("fe80::1"));
}

// ---------------------------------------------------------------------------
// Endpoint

TEST(EndpointTest, ToString) {
  EXPECT_EQ((Endpoint{Ip("1.2.3.4"), 21}).ToString(), "1.2.3.4:21");
  EXPECT_EQ((Endpoint{Ip("::1"), 2121}).ToString(), "[::1]:2121");
  EXPECT_EQ((Endpoint{Ip("::ffff:1.2.3.4"), 65535}).ToString(), "1.2.3.4:65535");
}

TEST(EndpointTest, SockaddrRoundTripIpv4) {
  const Endpoint e{Ip("127.0.0.1"), 50021};
  sockaddr_storage ss;
  const unsigned len = e.ToSockaddr(&ss);
  EXPECT_EQ(len, sizeof(sockaddr_in));
  const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
  EXPECT_EQ(in->sin_family, AF_INET);
  EXPECT_EQ(ntohs(in->sin_port), 50021);
  const Endpoint back = Endpoint::FromSockaddr(reinterpret_cast<sockaddr*>(&ss));
  EXPECT_EQ(back.addr, e.addr);
  EXPECT_EQ(back.port, e.port);
}

TEST(EndpointTest, SockaddrRoundTripIpv6) {
  const Endpoint e{Ip("2001:db8::42"), 990};
  sockaddr_storage ss;
  const unsigned len = e.ToSockaddr(&ss);
  EXPECT_EQ(len, sizeof(sockaddr_in6));
  EXPECT_EQ(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_family, AF_INET6);
  const Endpoint back = Endpoint::FromSockaddr(reinterpret_cast<sockaddr*>(&ss));
  EXPECT_EQ(back.addr, e.addr);
  EXPECT_EQ(back.port, 990);
}

TEST(EndpointTest, SockaddrWorksWithBindAndGetsockname) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(fd.valid());
  sockaddr_storage ss;
  const unsigned len = Endpoint{Ip("127.0.0.1"), 0}.ToSockaddr(&ss);
  ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len), 0) << std::strerror(errno);
  sockaddr_storage got;
  socklen_t glen = sizeof got;
  ASSERT_EQ(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&got), &glen), 0);
  const Endpoint e = Endpoint::FromSockaddr(reinterpret_cast<sockaddr*>(&got));
  EXPECT_EQ(e.addr, Ip("127.0.0.1"));
  EXPECT_NE(e.port, 0);
}

// ---------------------------------------------------------------------------
// Cidr

TEST(CidrTest, PlainAddressIsHostRoute) {
  const Cidr v4 = Net("10.1.2.3");
  EXPECT_EQ(v4.prefix, 32);
  EXPECT_TRUE(v4.Contains(Ip("10.1.2.3")));
  EXPECT_FALSE(v4.Contains(Ip("10.1.2.4")));
  const Cidr v6 = Net("::1");
  EXPECT_EQ(v6.prefix, 128);
  EXPECT_TRUE(v6.Contains(Ip("::1")));
  EXPECT_FALSE(v6.Contains(Ip("::2")));
}

TEST(CidrTest, PrefixContains) {
  const Cidr c = Net("10.0.0.0/8");
  EXPECT_TRUE(c.Contains(Ip("10.0.0.0")));
  EXPECT_TRUE(c.Contains(Ip("10.255.255.255")));
  EXPECT_FALSE(c.Contains(Ip("11.0.0.0")));
  EXPECT_FALSE(c.Contains(Ip("9.255.255.255")));
  EXPECT_EQ(c.ToString(), "10.0.0.0/8");
}

TEST(CidrTest, NonOctetAlignedPrefix) {
  const Cidr c = Net("10.0.0.128/25");
  EXPECT_TRUE(c.Contains(Ip("10.0.0.128")));
  EXPECT_TRUE(c.Contains(Ip("10.0.0.255")));
  EXPECT_FALSE(c.Contains(Ip("10.0.0.127")));
  const Cidr d = Net("172.16.0.0/12");
  EXPECT_TRUE(d.Contains(Ip("172.31.255.255")));
  EXPECT_FALSE(d.Contains(Ip("172.32.0.0")));
}

TEST(CidrTest, MasksHostBits) {
  const Cidr c = Net("10.1.2.3/8");
  EXPECT_EQ(c.network, Ip("10.0.0.0"));
  EXPECT_EQ(c.ToString(), "10.0.0.0/8");
  EXPECT_TRUE(c.Contains(Ip("10.200.0.1")));
  EXPECT_EQ(Net("10.0.0.77/25").ToString(), "10.0.0.0/25");
  EXPECT_EQ(Net("2001:db8:ffff::1/32").ToString(), "2001:db8::/32");
}

TEST(CidrTest, ZeroPrefixMatchesWholeFamilyOnly) {
  const Cidr any4 = Net("0.0.0.0/0");
  EXPECT_TRUE(any4.Contains(Ip("1.2.3.4")));
  EXPECT_TRUE(any4.Contains(Ip("255.255.255.255")));
  EXPECT_FALSE(any4.Contains(Ip("::1")));
  const Cidr any6 = Net("::/0");
  EXPECT_TRUE(any6.Contains(Ip("2001:db8::1")));
  EXPECT_FALSE(any6.Contains(Ip("1.2.3.4")));
}

TEST(CidrTest, ProftpdTrailingDotForm) {
  const Cidr c24 = Net("192.168.1.");
  EXPECT_EQ(c24.prefix, 24);
  EXPECT_TRUE(c24.Contains(Ip("192.168.1.0")));
  EXPECT_TRUE(c24.Contains(Ip("192.168.1.77")));
  EXPECT_FALSE(c24.Contains(Ip("192.168.2.1")));
  EXPECT_FALSE(c24.Contains(Ip("192.168.10.1")));
  EXPECT_EQ(c24.ToString(), "192.168.1.0/24");

  const Cidr c16 = Net("172.16.");
  EXPECT_EQ(c16.prefix, 16);
  EXPECT_TRUE(c16.Contains(Ip("172.16.99.1")));
  EXPECT_FALSE(c16.Contains(Ip("172.17.0.1")));

  const Cidr c8 = Net("10.");
  EXPECT_EQ(c8.prefix, 8);
  EXPECT_TRUE(c8.Contains(Ip("10.20.30.40")));
  EXPECT_FALSE(c8.Contains(Ip("100.0.0.1")));
  // A mapped client address is compared as IPv4.
  EXPECT_TRUE(c8.Contains(Ip("::ffff:10.0.0.1")));
}

TEST(CidrTest, RejectsBadTrailingDotForms) {
  for (const char* bad :
       {".", "..", "...", "1.2.3.4.", "192..", "256.", "a.", "10.-1.", "1.2.3.4.5."}) {
    EXPECT_FALSE(Cidr::Parse(bad).has_value()) << '"' << bad << '"';
  }
}

TEST(CidrTest, Ipv6Networks) {
  const Cidr c = Net("2001:db8::/32");
  EXPECT_TRUE(c.Contains(Ip("2001:db8:1::5")));
  EXPECT_TRUE(c.Contains(Ip("2001:db8:ffff:ffff::")));
  EXPECT_FALSE(c.Contains(Ip("2001:db9::1")));
  const Cidr odd = Net("fe80::/10");
  EXPECT_TRUE(odd.Contains(Ip("febf::1")));
  EXPECT_FALSE(odd.Contains(Ip("fec0::1")));
}

TEST(CidrTest, ContainsAcrossFamilies) {
  // An IPv4 network never contains an IPv6 address and vice versa; a mapped
  // client address (dual-stack listener) counts as IPv4.
  EXPECT_FALSE(Net("127.0.0.0/8").Contains(Ip("::1")));
  EXPECT_FALSE(Net("::1").Contains(Ip("127.0.0.1")));
  EXPECT_TRUE(Net("127.0.0.0/8").Contains(Ip("::ffff:127.0.0.1")));
  EXPECT_FALSE(Net("::ffff:0:0/96").Contains(Ip("2001:db8::1")));
  EXPECT_FALSE(Cidr{}.Contains(Ip("1.2.3.4")));
}

TEST(CidrTest, MappedNetworkIsIpv4) {
  const Cidr c = Net("::ffff:10.0.0.0/104");
  EXPECT_TRUE(c.network.is_v4());
  EXPECT_EQ(c.prefix, 8);
  EXPECT_TRUE(c.Contains(Ip("10.9.9.9")));
  EXPECT_FALSE(c.Contains(Ip("11.0.0.1")));
  EXPECT_EQ(Net("::ffff:1.2.3.4").prefix, 32);
}

TEST(CidrTest, RejectsBadPrefixes) {
  for (const char* bad : {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/a",
                          "10.0.0.0/8/8", "10.0.0.0/ 8", "10.0.0.0/8 ", "10.0.0.0/1000", "::/129",
                          "/8", "", "foo/8", "::ffff:10.0.0.0/95", "10.0.0.0/08x"}) {
    EXPECT_FALSE(Cidr::Parse(bad).has_value()) << '"' << bad << '"';
  }
}

TEST(CidrTest, AcceptsBoundaryPrefixes) {
  EXPECT_EQ(Net("1.2.3.4/32").prefix, 32);
  EXPECT_EQ(Net("1.2.3.4/0").prefix, 0);
  EXPECT_EQ(Net("::1/128").prefix, 128);
  EXPECT_EQ(Net("::/0").prefix, 0);
}

// ---------------------------------------------------------------------------
// ParseUnsigned

TEST(ParseUnsignedTest, AcceptsPlainDecimal) {
  EXPECT_EQ(util::ParseUnsigned<unsigned>("0", 10u), 0u);
  EXPECT_EQ(util::ParseUnsigned<unsigned>("42", 100u), 42u);
  EXPECT_EQ(util::ParseUnsigned<unsigned>("007", 100u), 7u);
  EXPECT_EQ(util::ParseUnsigned<uint64_t>("18446744073709551615", UINT64_MAX), UINT64_MAX);
  EXPECT_EQ(util::ParseUnsigned<uint16_t>("65535", static_cast<uint16_t>(65535)), 65535);
}

TEST(ParseUnsignedTest, MaxIsInclusive) {
  EXPECT_EQ(util::ParseUnsigned<unsigned>("255", 255u), 255u);
  EXPECT_FALSE(util::ParseUnsigned<unsigned>("256", 255u).has_value());
  EXPECT_FALSE(util::ParseUnsigned<unsigned>("1", 0u).has_value());
  EXPECT_EQ(util::ParseUnsigned<unsigned>("0", 0u), 0u);
}

TEST(ParseUnsignedTest, RejectsSignsSpacesAndJunk) {
  for (const char* bad : {"", "-1", "-0", "+1", " 1", "1 ", "\t1", "1\n", "1x", "x1", "0x10", "1.5",
                          "1e3", "1,000", "١"}) {
    EXPECT_FALSE(util::ParseUnsigned<unsigned>(bad, UINT_MAX).has_value()) << '"' << bad << '"';
  }
  EXPECT_FALSE(util::ParseUnsigned<unsigned>(std::string_view("12\0", 3), UINT_MAX).has_value());
}

TEST(ParseUnsignedTest, RejectsOverflow) {
  EXPECT_FALSE(util::ParseUnsigned<uint64_t>("18446744073709551616", UINT64_MAX).has_value());
  EXPECT_FALSE(util::ParseUnsigned<uint64_t>("99999999999999999999999", UINT64_MAX).has_value());
  EXPECT_FALSE(util::ParseUnsigned<uint16_t>("65536", static_cast<uint16_t>(65535)).has_value());
  EXPECT_FALSE(util::ParseUnsigned<uint8_t>("256", static_cast<uint8_t>(255)).has_value());
  EXPECT_EQ(util::ParseUnsigned<unsigned>("4294967295", UINT_MAX), UINT_MAX);
  EXPECT_FALSE(util::ParseUnsigned<unsigned>("4294967296", UINT_MAX).has_value());
}

TEST(ParseUnsignedTest, DoesNotReadPastTheView) {
  const std::string s = "12345";
  EXPECT_EQ(util::ParseUnsigned<unsigned>(std::string_view(s).substr(0, 2), 100u), 12u);
}

// ---------------------------------------------------------------------------
// Case folding, Trim, Split

TEST(StringsTest, ToUpperToLowerAsciiOnly) {
  EXPECT_EQ(util::ToUpper("retr file.TXT"), "RETR FILE.TXT");
  EXPECT_EQ(util::ToLower("RETR File.txt"), "retr file.txt");
  // UTF-8 bytes are left alone (no locale-dependent folding).
  EXPECT_EQ(util::ToUpper("\xc3\xa4x"), "\xc3\xa4X");
  EXPECT_EQ(util::ToLower("\xc3\x84X"), "\xc3\x84x");
  EXPECT_EQ(util::ToUpper(""), "");
  EXPECT_EQ(util::ToUpper(std::string_view("a\0b", 3)), std::string("A\0B", 3));
}

TEST(StringsTest, EqualsIgnoreCase) {
  EXPECT_TRUE(util::EqualsIgnoreCase("Anonymous", "ANONYMOUS"));
  EXPECT_TRUE(util::EqualsIgnoreCase("", ""));
  EXPECT_FALSE(util::EqualsIgnoreCase("anonymous", "anonymou"));
  EXPECT_FALSE(util::EqualsIgnoreCase("ftp", "ftq"));
  EXPECT_FALSE(util::EqualsIgnoreCase("\xc3\xa4", "\xc3\x84"));
  // '@' (0x40) and '`' (0x60) differ by the case bit but are not letters.
  EXPECT_FALSE(util::EqualsIgnoreCase("@", "`"));
  EXPECT_FALSE(util::EqualsIgnoreCase("[", "{"));
}

TEST(StringsTest, Trim) {
  EXPECT_EQ(util::Trim("  abc  "), "abc");
  EXPECT_EQ(util::Trim("\tabc\t"), "abc");
  EXPECT_EQ(util::Trim("abc\r\n"), "abc");
  EXPECT_EQ(util::Trim(" a b "), "a b");
  EXPECT_EQ(util::Trim(""), "");
  EXPECT_EQ(util::Trim("   "), "");
  EXPECT_EQ(util::Trim("abc"), "abc");
}

TEST(StringsTest, Split) {
  using V = std::vector<std::string_view>;
  EXPECT_EQ(util::Split("a,b,c", ','), (V{"a", "b", "c"}));
  EXPECT_EQ(util::Split("a,,c", ','), (V{"a", "", "c"}));
  EXPECT_EQ(util::Split("abc", ','), (V{"abc"}));
  EXPECT_EQ(util::Split("", ','), (V{""}));
  EXPECT_EQ(util::Split(",", ','), (V{"", ""}));
  EXPECT_EQ(util::Split("|1|::1|21|", '|'), (V{"", "1", "::1", "21", ""}));
}

// ---------------------------------------------------------------------------
// EscapeControl, CopyTruncated

TEST(StringsTest, EscapeControlReplacesControlBytes) {
  EXPECT_EQ(util::EscapeControl("plain name.txt"), "plain name.txt");
  EXPECT_EQ(util::EscapeControl("a\nb\r\tc"), "a?b??c");
  EXPECT_EQ(util::EscapeControl("\x1b[31mred"), "?[31mred");
  EXPECT_EQ(util::EscapeControl("del\x7f"), "del?");
  EXPECT_EQ(util::EscapeControl(std::string_view("nul\0x", 5)), "nul?x");
  EXPECT_EQ(util::EscapeControl(std::string(1, '\x1f')), "?");
  EXPECT_EQ(util::EscapeControl(" "), " ");
}

TEST(StringsTest, EscapeControlKeepsUtf8) {
  EXPECT_EQ(util::EscapeControl("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");
  EXPECT_EQ(util::EscapeControl("\x80\xff"), "\x80\xff");
}

TEST(StringsTest, CopyTruncated) {
  char buf[4];
  std::memset(buf, 'X', sizeof buf);
  util::CopyTruncated(buf, sizeof buf, "abcdef");
  EXPECT_STREQ(buf, "abc");

  std::memset(buf, 'X', sizeof buf);
  util::CopyTruncated(buf, sizeof buf, "ab");
  EXPECT_STREQ(buf, "ab");

  std::memset(buf, 'X', sizeof buf);
  util::CopyTruncated(buf, sizeof buf, "abc");
  EXPECT_STREQ(buf, "abc");

  std::memset(buf, 'X', sizeof buf);
  util::CopyTruncated(buf, 1, "abc");
  EXPECT_EQ(buf[0], '\0');
  EXPECT_EQ(buf[1], 'X');

  std::memset(buf, 'X', sizeof buf);
  util::CopyTruncated(buf, 0, "abc");
  EXPECT_EQ(buf[0], 'X');

  util::CopyTruncated(buf, sizeof buf, "");
  EXPECT_STREQ(buf, "");
}

// ---------------------------------------------------------------------------
// io.h

TEST(IoTest, SetNonBlockingTogglesTheFlag) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  ASSERT_TRUE(util::SetNonBlocking(r.get(), true));
  EXPECT_NE(::fcntl(r.get(), F_GETFL) & O_NONBLOCK, 0);
  ASSERT_TRUE(util::SetNonBlocking(r.get(), true));  // idempotent
  EXPECT_NE(::fcntl(r.get(), F_GETFL) & O_NONBLOCK, 0);
  char c;
  EXPECT_EQ(::read(r.get(), &c, 1), -1);
  EXPECT_EQ(errno, EAGAIN);
  ASSERT_TRUE(util::SetNonBlocking(r.get(), false));
  EXPECT_EQ(::fcntl(r.get(), F_GETFL) & O_NONBLOCK, 0);
}

TEST(IoTest, SetNonBlockingOnBadFdFails) {
  auto r = util::SetNonBlocking(-1, true);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kSystem);
  EXPECT_EQ(r.error().sys_errno(), EBADF);
  EXPECT_NE(r.error().message().find("fcntl"), std::string::npos);
}

TEST(IoTest, WriteAllWritesEverything) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  const std::string data = "220 ready\r\n";
  ASSERT_TRUE(util::WriteAll(w.get(), data));
  ASSERT_TRUE(util::WriteAll(w.get(), ""));
  w.reset();
  std::string got;
  char buf[64];
  ssize_t n;
  while ((n = ::read(r.get(), buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  EXPECT_EQ(got, data);
}

TEST(IoTest, WriteAllReportsErrors) {
  auto bad = util::WriteAll(-1, "x");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().sys_errno(), EBADF);

  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  b.reset();
  // write(2) on a socket whose peer is gone: EPIPE (SIGPIPE ignored here).
  auto old = ::signal(SIGPIPE, SIG_IGN);
  auto r = util::WriteAll(a.get(), "hello");
  ::signal(SIGPIPE, old);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().sys_errno(), EPIPE);
}

TEST(IoTest, Clocks) {
  const int64_t m1 = util::MonotonicMs();
  const int64_t m2 = util::MonotonicMs();
  EXPECT_GE(m2, m1);
  EXPECT_GT(m1, 0);
  const int64_t now_s = static_cast<int64_t>(std::time(nullptr));
  const int64_t rt_s = util::RealtimeNs() / 1000000000;
  EXPECT_LE(rt_s - now_s, 1);
  EXPECT_GE(rt_s - now_s, -1);
}

// ---------------------------------------------------------------------------
// UniqueFd and Result (header-only vocabulary)

TEST(UniqueFdTest, ClosesAndMoves) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  ::close(p[1]);
  {
    UniqueFd a(p[0]);
    UniqueFd b(std::move(a));
    EXPECT_FALSE(a.valid());
    EXPECT_EQ(b.get(), p[0]);
    EXPECT_NE(::fcntl(p[0], F_GETFD), -1);
  }
  EXPECT_EQ(::fcntl(p[0], F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST(ResultTest, ErrorMessageCarriesErrno) {
  const Error e = Error::FromErrno(ENOENT, "open", "/etc/poolftpd.conf");
  EXPECT_EQ(e.code(), ErrorCode::kSystem);
  EXPECT_EQ(e.context(), "open(/etc/poolftpd.conf) failed");
  EXPECT_EQ(e.message(), "open(/etc/poolftpd.conf) failed: No such file or directory");
  const Error plain(ErrorCode::kInvalid, "poolftpd.conf:3: bad");
  EXPECT_EQ(plain.message(), "poolftpd.conf:3: bad");
}

// The master's child table lives here: usable like any container memory in
// the process, absent from a forked child (mincore: ENOMEM, not mapped).
TEST(DontForkTest, ContainersWorkAndChildrenDoNotMapThem) {
  std::vector<int, util::DontForkAllocator<int>> big(100000, 7);  // its own mapping
  std::unordered_map<int, size_t, std::hash<int>, std::equal_to<int>,
                     util::DontForkAllocator<std::pair<const int, size_t>>>
      small;  // nodes and buckets from the shared chunks
  for (int i = 0; i < 5000; ++i) small[i] = static_cast<size_t>(i) * 3;
  for (int i = 0; i < 5000; i += 2) small.erase(i);
  for (int i = 0; i < 5000; ++i) small[i + 10000] = 1;  // reuses freed blocks
  EXPECT_EQ(big[99999], 7);
  EXPECT_EQ(small.size(), 7500u);
  EXPECT_EQ(small.at(4999), 4999u * 3);

  auto page_of = [](const void* p) {
    return reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(p) & ~uintptr_t{4095});
  };
  void* pages[] = {page_of(big.data()), page_of(&*small.find(4999))};
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int bad = 0;
    for (void* pg : pages) {
      unsigned char vec = 0;
      if (::mincore(pg, 4096, &vec) == 0 || errno != ENOMEM) ++bad;
    }
    ::_exit(bad);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "a DONTFORK page is mapped in the child";
  for (void* pg : pages) {  // and still mapped here
    unsigned char vec = 0;
    EXPECT_EQ(::mincore(pg, 4096, &vec), 0);
  }
}

// ---------------------------------------------------------------------------
// CommandRateLimiter (MaxCommandRate), driven by a fake clock in ns.

constexpr int64_t kSec = 1000000000;

TEST(CommandRateLimiterTest, DisabledAdmitsEverything) {
  util::CommandRateLimiter off;
  EXPECT_FALSE(off.enabled());
  for (int i = 0; i < 100000; ++i) {
    const auto d = off.Admit(5 * kSec);
    ASSERT_EQ(d.delay_ns, 0);
    ASSERT_FALSE(d.burst_start);
  }
  EXPECT_FALSE(off.WouldDelay(5 * kSec));
  EXPECT_FALSE(util::CommandRateLimiter(0, 1).enabled());
  EXPECT_FALSE(util::CommandRateLimiter(10, 0).enabled());
}

TEST(CommandRateLimiterTest, BurstOfCountThenSpacedAtTheRate) {
  // MaxCommandRate 10 1: a quiet client may send 10 at once, then one per 100 ms.
  util::CommandRateLimiter r(10, 1);
  ASSERT_TRUE(r.enabled());
  const int64_t t0 = 1000 * kSec;
  for (int i = 0; i < 10; ++i) {
    EXPECT_FALSE(r.WouldDelay(t0)) << i;
    EXPECT_EQ(r.Admit(t0).delay_ns, 0) << "command " << i << " is within the allowance";
  }
  EXPECT_TRUE(r.WouldDelay(t0));
  EXPECT_TRUE(r.WouldDelay(t0)) << "WouldDelay charges nothing";
  // A pipelined burst: each further command waits 100 ms more than the last.
  for (int i = 1; i <= 20; ++i) {
    const auto d = r.Admit(t0);
    EXPECT_EQ(d.delay_ns, i * kSec / 10) << i;
    EXPECT_EQ(d.burst_start, i == 1) << "only the first delay of a burst is reported, " << i;
  }
}

TEST(CommandRateLimiterTest, DelayedClientRunsAtExactlyTheRate) {
  // A client that sends as fast as the delays let it: 500 commands per 2 s.
  util::CommandRateLimiter r(500, 2);
  int64_t now = 7 * kSec;
  const int64_t start = now;
  int bursts = 0;
  for (int i = 0; i < 5000; ++i) {
    const auto d = r.Admit(now);
    ASSERT_GE(d.delay_ns, 0);
    bursts += d.burst_start;
    now += d.delay_ns;  // the command runs after its delay
  }
  // 500 at once, then 4500 at 250 per second: 18 s.
  EXPECT_EQ(now - start, 18 * kSec);
  EXPECT_EQ(bursts, 1) << "one continuous flood is one burst: one log line";
}

TEST(CommandRateLimiterTest, BelowTheRateIsNeverDelayed) {
  util::CommandRateLimiter r(200, 1);
  int64_t now = 0;
  for (int i = 0; i < 10000; ++i) {
    ASSERT_EQ(r.Admit(now).delay_ns, 0) << i;
    now += kSec / 200;  // exactly the rate
  }
}

TEST(CommandRateLimiterTest, NewBurstOnlyAfterTheAllowanceRefilled) {
  util::CommandRateLimiter r(4, 1);
  int64_t now = 100 * kSec;
  for (int i = 0; i < 4; ++i) ASSERT_EQ(r.Admit(now).delay_ns, 0);
  auto d = r.Admit(now);
  EXPECT_GT(d.delay_ns, 0);
  EXPECT_TRUE(d.burst_start);
  now += d.delay_ns;
  // Nudging just over the rate again and again (one token back, two
  // commands) stays one burst: an attacker cannot make a log line per command.
  int starts = 0;
  for (int i = 0; i < 100; ++i) {
    now += kSec / 4;
    for (int k = 0; k < 2; ++k) {
      d = r.Admit(now);
      starts += d.burst_start;
      now += d.delay_ns;
    }
  }
  EXPECT_EQ(starts, 0);
  // Quiet for a whole interval: the allowance is full again, and the next
  // excess is a new burst.
  now += 2 * kSec;
  for (int i = 0; i < 4; ++i) ASSERT_EQ(r.Admit(now).delay_ns, 0) << i;
  d = r.Admit(now);
  EXPECT_GT(d.delay_ns, 0);
  EXPECT_TRUE(d.burst_start);
}

TEST(CommandRateLimiterTest, ExtremesStayInRange) {
  // The config's bounds: 1,000,000 per second (1 us apart) and 1 per day.
  util::CommandRateLimiter fast(1000000, 1);
  int64_t now = 0;
  for (int i = 0; i < 1000000; ++i) ASSERT_EQ(fast.Admit(now).delay_ns, 0);
  EXPECT_EQ(fast.Admit(now).delay_ns, 1000);
  util::CommandRateLimiter slow(1, 86400);
  EXPECT_EQ(slow.Admit(now).delay_ns, 0);
  EXPECT_EQ(slow.Admit(now).delay_ns, 86400 * kSec);
}

}  // namespace
}  // namespace poolftpd
