// IP addresses, endpoints and CIDR ranges as plain values, independent of
// sockaddr. Used by config (Allow/Deny, DefaultAddress), data (PORT/EPRT
// checks) and the worker (peer addresses). No I/O here.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct sockaddr;
struct sockaddr_storage;

namespace poolftpd::net {

// An IPv4 or IPv6 address. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are
// stored as IPv4 so a dual-stack listener compares equal to the PORT address.
struct IpAddress {
  int family = 0;                   // AF_INET or AF_INET6; 0 = unset
  std::array<uint8_t, 16> bytes{};  // IPv4 uses the first 4

  static std::optional<IpAddress> Parse(std::string_view text);
  static IpAddress FromSockaddr(const sockaddr* sa);
  bool is_v4() const;
  bool is_v6() const;
  bool is_unspecified() const;
  std::string ToString() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

struct Endpoint {
  IpAddress addr;
  uint16_t port = 0;

  static Endpoint FromSockaddr(const sockaddr* sa);
  // Fills *ss; returns the length to pass to bind/connect.
  unsigned ToSockaddr(sockaddr_storage* ss) const;
  // "1.2.3.4:21" or "[::1]:21".
  std::string ToString() const;
};

// A network: "10.0.0.0/8", "::1", "192.168.1." (ProFTPD's trailing-dot form).
struct Cidr {
  IpAddress network;
  int prefix = 0;

  static std::optional<Cidr> Parse(std::string_view text);
  bool Contains(const IpAddress& addr) const;
  std::string ToString() const;
};

}  // namespace poolftpd::net
