#include "poolftpd/util/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

namespace poolftpd::net {
namespace {

constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

}  // namespace

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  if (text.size() > 2 && text.front() == '[' && text.back() == ']')
    text = text.substr(1, text.size() - 2);
  // SECURITY (S2): inet_pton reads a C string; an embedded NUL would hide the rest.
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN || text.find('\0') != std::string_view::npos)
    return std::nullopt;
  std::string s(text);
  IpAddress a;
  in_addr v4;
  in6_addr v6;
  if (::inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    a.family = AF_INET;
    std::memcpy(a.bytes.data(), &v4, 4);
    return a;
  }
  if (::inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    if (std::memcmp(&v6, kMappedPrefix, 12) == 0) {
      a.family = AF_INET;
      std::memcpy(a.bytes.data(), reinterpret_cast<const uint8_t*>(&v6) + 12, 4);
    } else {
      a.family = AF_INET6;
      std::memcpy(a.bytes.data(), &v6, 16);
    }
    return a;
  }
  return std::nullopt;
}

IpAddress IpAddress::FromSockaddr(const sockaddr* sa) {
  IpAddress a;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    a.family = AF_INET;
    std::memcpy(a.bytes.data(), &in->sin_addr, 4);
  } else if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    if (std::memcmp(&in6->sin6_addr, kMappedPrefix, 12) == 0) {
      a.family = AF_INET;
      std::memcpy(a.bytes.data(), reinterpret_cast<const uint8_t*>(&in6->sin6_addr) + 12, 4);
    } else {
      a.family = AF_INET6;
      std::memcpy(a.bytes.data(), &in6->sin6_addr, 16);
    }
  }
  return a;
}

bool IpAddress::is_v4() const { return family == AF_INET; }
bool IpAddress::is_v6() const { return family == AF_INET6; }

bool IpAddress::is_unspecified() const {
  const size_t n = is_v4() ? 4 : 16;
  for (size_t i = 0; i < n; ++i)
    if (bytes[i] != 0) return false;
  return true;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = "";
  if (family == AF_INET || family == AF_INET6) ::inet_ntop(family, bytes.data(), buf, sizeof buf);
  return buf;
}

Endpoint Endpoint::FromSockaddr(const sockaddr* sa) {
  Endpoint e;
  e.addr = IpAddress::FromSockaddr(sa);
  if (sa->sa_family == AF_INET) e.port = ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port);
  else if (sa->sa_family == AF_INET6)
    e.port = ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
  return e;
}

unsigned Endpoint::ToSockaddr(sockaddr_storage* ss) const {
  std::memset(ss, 0, sizeof *ss);
  if (addr.is_v4()) {
    auto* in = reinterpret_cast<sockaddr_in*>(ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    std::memcpy(&in->sin_addr, addr.bytes.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(ss);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  std::memcpy(&in6->sin6_addr, addr.bytes.data(), 16);
  return sizeof(sockaddr_in6);
}

std::string Endpoint::ToString() const {
  if (addr.is_v6()) return "[" + addr.ToString() + "]:" + std::to_string(port);
  return addr.ToString() + ":" + std::to_string(port);
}

std::optional<Cidr> Cidr::Parse(std::string_view text) {
  Cidr c;
  // ProFTPD's "192.168.1." form: a dotted prefix ending in a dot.
  if (!text.empty() && text.back() == '.' && text.find(':') == std::string_view::npos) {
    std::string s(text);
    int octets = 0;
    for (char ch : s)
      if (ch == '.') ++octets;
    if (octets < 1 || octets > 3) return std::nullopt;
    for (int i = octets; i < 4; ++i) s += (i == 3 ? "0" : "0.");
    auto a = IpAddress::Parse(s);
    if (!a) return std::nullopt;
    c.network = *a;
    c.prefix = octets * 8;
    return c;
  }
  const auto slash = text.find('/');
  auto a = IpAddress::Parse(text.substr(0, slash));
  if (!a) return std::nullopt;
  const int max = a->is_v4() ? 32 : 128;
  int prefix = max;
  if (slash != std::string_view::npos) {
    std::string_view p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3) return std::nullopt;
    prefix = 0;
    for (char ch : p) {
      if (ch < '0' || ch > '9') return std::nullopt;
      prefix = prefix * 10 + (ch - '0');
    }
    // "::ffff:10.0.0.0/104" parses as IPv4: map the prefix down.
    if (a->is_v4() && text.find(':') != std::string_view::npos) prefix -= 96;
    if (prefix < 0 || prefix > max) return std::nullopt;
  }
  c.network = *a;
  c.prefix = prefix;
  // Clear host bits so Contains() compares networks.
  for (int i = 0; i < 16; ++i) {
    const int bit = i * 8;
    if (bit >= prefix) c.network.bytes[i] = 0;
    else if (bit + 8 > prefix)
      c.network.bytes[i] &= static_cast<uint8_t>(0xff << (8 - (prefix - bit)));
  }
  return c;
}

bool Cidr::Contains(const IpAddress& addr) const {
  if (addr.family != network.family) return false;
  for (int i = 0; i < 16; ++i) {
    const int bit = i * 8;
    if (bit >= prefix) return true;
    uint8_t mask = 0xff;
    if (bit + 8 > prefix) mask = static_cast<uint8_t>(0xff << (8 - (prefix - bit)));
    if ((addr.bytes[i] & mask) != network.bytes[i]) return false;
  }
  return true;
}

std::string Cidr::ToString() const { return network.ToString() + "/" + std::to_string(prefix); }

}  // namespace poolftpd::net
