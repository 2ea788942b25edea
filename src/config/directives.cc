#include "directives.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <utility>

#include "poolftpd/util/net.h"
#include "text.h"

namespace poolftpd::config::internal {
namespace {

// Bounds for operator numbers, with the reason for each.
// Pool sizes: the scoreboard holds MaxClients + MaxSpareServers slots; past
// 100000 sessions one master is the wrong tool anyway.
constexpr long long kMaxPoolSize = 100000;
// Timeouts: a week is longer than any sane FTP session step.
constexpr long long kMaxTimeout = 7 * 86400;
// MaxLoginAttempts: past a thousand it no longer limits anything.
constexpr long long kMaxLoginAttemptsLimit = 1000;
// MaxCommandRate: a million commands per interval is beyond what one session
// can send; an interval over a day is no rate any more.
constexpr long long kMaxCommandRateCount = 1000000;
constexpr long long kMaxCommandRateInterval = 86400;
// MaxSessionsPerWorker: fits an int; 0 means unlimited.
constexpr long long kMaxSessionsLimit = 1000000000;

Error Invalid(std::string reason) { return Error(ErrorCode::kInvalid, std::move(reason)); }

// --- value parsers --------------------------------------------------------

Result<bool> ParseBool(std::string_view directive, std::string_view text) {
  const std::string v = AsciiLowerCopy(text);
  if (v == "on" || v == "yes" || v == "true" || v == "1") return true;
  if (v == "off" || v == "no" || v == "false" || v == "0") return false;
  return Invalid(std::string(directive) + ": " + Quote(text) + " is not a boolean (on|off)");
}

Result<int> ParseInt(std::string_view directive, std::string_view text, long long min,
                     long long max) {
  auto v = ParseNumber(directive, text, min, max);
  if (!v) return v.error();
  return static_cast<int>(*v);
}

Result<std::string> ParseAbsolutePath(std::string_view directive, std::string_view text) {
  if (text.empty() || text.front() != '/')
    return Invalid(std::string(directive) + ": " + Quote(text) + " is not an absolute path");
  return std::string(text);
}

// User and group names: what the passwd/group databases can hold.
Result<std::string> ParseAccountName(std::string_view directive, std::string_view text) {
  bool ok = !text.empty() && text.size() <= 256;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == ':' || c == '/') ok = false;
  }
  if (!ok) return Invalid(std::string(directive) + ": " + Quote(text) + " is not a valid name");
  return std::string(text);
}

bool LooksLikeHostname(std::string_view s) {
  if (s.find(':') != std::string_view::npos) return false;
  return std::any_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
  });
}

// SECURITY (S9): loading a config does no DNS (config.h: no network I/O), so an
// address directive takes IP literals only; a name would make the listener
// set depend on resolver state at reload time.
Result<net::IpAddress> ParseIpLiteral(std::string_view directive, std::string_view text) {
  if (auto a = net::IpAddress::Parse(text)) return *a;
  if (LooksLikeHostname(text))
    return Invalid(std::string(directive) + ": " + Quote(text) +
                   ": hostnames are not supported, use an IP address");
  return Invalid(std::string(directive) + ": " + Quote(text) + " is not a valid IP address");
}

// --- setters --------------------------------------------------------------

using Args = std::vector<std::string>;

Result<void> SetServerName(SetterState& st, const Args& a) {
  st.config->server_name = a[0];
  return Ok();
}

Result<void> SetServerIdent(SetterState& st, const Args& a) {
  auto on = ParseBool("ServerIdent", a[0]);
  if (!on) return on.error();
  st.config->server_ident_on = *on;
  st.config->server_ident_text = a.size() > 1 ? a[1] : std::string();
  return Ok();
}

Result<void> SetServerType(SetterState& st, const Args& a) {
  const std::string v = AsciiLowerCopy(a[0]);
  if (v == "standalone") {
    st.config->server_type = ServerType::kStandalone;
  } else if (v == "inetd") {
    st.config->server_type = ServerType::kInetd;
  } else {
    return Invalid("ServerType: " + Quote(a[0]) + " is not standalone or inetd");
  }
  return Ok();
}

Result<void> SetPort(SetterState& st, const Args& a) {
  // ProFTPD's "Port 0" disables a server; poolftpd has only one.
  if (a[0] == "0") return Invalid("Port 0 is not supported");
  auto v = ParseNumber("Port", a[0], 1, 65535);
  if (!v) return v.error();
  st.config->port = static_cast<uint16_t>(*v);
  return Ok();
}

Result<void> SetDefaultAddress(SetterState& st, const Args& a) {
  std::vector<net::IpAddress> addrs;
  for (const auto& w : a) {
    auto ip = ParseIpLiteral("DefaultAddress", w);
    if (!ip) return ip.error();
    if (std::find(addrs.begin(), addrs.end(), *ip) != addrs.end())
      return Invalid("DefaultAddress: " + Quote(w) + " is listed twice");
    addrs.push_back(*ip);
  }
  st.config->default_addresses = std::move(addrs);
  return Ok();
}

Result<void> SetPidFile(SetterState& st, const Args& a) {
  auto p = ParseAbsolutePath("PidFile", a[0]);
  if (!p) return p.error();
  st.config->pid_file = *p;
  st.config->pid_file_at = st.at;
  return Ok();
}

Result<void> SetScoreboardFile(SetterState& st, const Args& a) {
  auto p = ParseAbsolutePath("ScoreboardFile", a[0]);
  if (!p) return p.error();
  st.config->scoreboard_file = *p;
  st.config->scoreboard_file_at = st.at;
  return Ok();
}

Result<void> SetShutdownFile(SetterState& st, const Args& a) {
  auto p = ParseAbsolutePath("ShutdownFile", a[0]);
  if (!p) return p.error();
  st.config->shutdown_file = *p;
  st.config->shutdown_file_at = st.at;
  return Ok();
}

Result<void> SetSystemLog(SetterState& st, const Args& a) {
  if (EqualsIgnoreCase(a[0], "none")) {
    st.config->system_log.clear();
    st.config->system_log_none = true;
    return Ok();
  }
  auto p = ParseAbsolutePath("SystemLog", a[0]);
  if (!p) return p.error();
  st.config->system_log = *p;
  st.config->system_log_none = false;
  return Ok();
}

Result<void> SetTransferLog(SetterState& st, const Args& a) {
  if (EqualsIgnoreCase(a[0], "none")) {
    st.config->transfer_log.clear();
    return Ok();
  }
  auto p = ParseAbsolutePath("TransferLog", a[0]);
  if (!p) return p.error();
  st.config->transfer_log = *p;
  return Ok();
}

Result<void> SetUser(SetterState& st, const Args& a) {
  auto n = ParseAccountName("User", a[0]);
  if (!n) return n.error();
  if (st.context == kAnonContext) {
    st.anonymous->user = *n;
    st.anonymous->user_at = st.at;
  } else {
    st.config->user = *n;
    st.config->user_at = st.at;
  }
  return Ok();
}

Result<void> SetGroup(SetterState& st, const Args& a) {
  auto n = ParseAccountName("Group", a[0]);
  if (!n) return n.error();
  if (st.context == kAnonContext) {
    st.anonymous->group = *n;
    st.anonymous->group_at = st.at;
  } else {
    st.config->group = *n;
    st.config->group_at = st.at;
  }
  return Ok();
}

// Inside <Anonymous> too, but always into the server-level list: the alias
// is resolved before we know which block serves the login.
Result<void> SetUserAlias(SetterState& st, const Args& a) {
  auto alias = ParseAccountName("UserAlias", a[0]);
  if (!alias) return alias.error();
  auto user = ParseAccountName("UserAlias", a[1]);
  if (!user) return user.error();
  for (const auto& existing : st.config->user_aliases)
    if (existing.alias == *alias)
      return Invalid("UserAlias: alias " + Quote(*alias) + " is already defined");
  st.config->user_aliases.push_back(UserAlias{*alias, *user});
  return Ok();
}

Result<void> SetMaxClients(SetterState& st, const Args& a) {
  auto v = ParseInt("MaxClients", a[0], 1, kMaxPoolSize);
  if (!v) return v.error();
  st.config->max_clients = *v;
  st.config->max_clients_message = a.size() > 1 ? a[1] : std::string();
  return Ok();
}

Result<void> SetMaxClientsPerHost(SetterState& st, const Args& a) {
  int v = 0;
  if (!EqualsIgnoreCase(a[0], "none")) {
    auto n = ParseInt("MaxClientsPerHost", a[0], 0, kMaxPoolSize);
    if (!n) return n.error();
    v = *n;
  }
  st.config->max_clients_per_host = v;
  st.config->max_clients_per_host_message = a.size() > 1 ? a[1] : std::string();
  return Ok();
}

// "MaxCommandRate COUNT [SECS]" (ProFTPD); "none" or 0 turns it off.
Result<void> SetMaxCommandRate(SetterState& st, const Args& a) {
  if (EqualsIgnoreCase(a[0], "none") || a[0] == "0") {
    if (a.size() > 1) return Invalid("MaxCommandRate: " + Quote(a[0]) + " takes no interval");
    st.config->max_command_rate = 0;
    st.config->max_command_interval = 1;
    return Ok();
  }
  auto count = ParseInt("MaxCommandRate", a[0], 1, kMaxCommandRateCount);
  if (!count) return count.error();
  int secs = 1;
  if (a.size() > 1) {
    auto v = ParseInt("MaxCommandRate", a[1], 1, kMaxCommandRateInterval);
    if (!v) return v.error();
    secs = *v;
  }
  st.config->max_command_rate = *count;
  st.config->max_command_interval = secs;
  return Ok();
}

// Plain integer directives: the field and bounds are bound at compile time,
// the name for messages comes from the table row.
template <int Config::*Field, long long Min, long long Max>
Result<void> SetInt(SetterState& st, const Args& a) {
  auto v = ParseInt(st.directive, a[0], Min, Max);
  if (!v) return v.error();
  st.config->*Field = *v;
  return Ok();
}

Result<void> SetPassivePorts(SetterState& st, const Args& a) {
  auto low = ParseNumber("PassivePorts", a[0], 1024, 65535);
  if (!low) return low.error();
  auto high = ParseNumber("PassivePorts", a[1], 1024, 65535);
  if (!high) return high.error();
  if (*low > *high)
    return Invalid("PassivePorts: low port " + a[0] + " is greater than high port " + a[1]);
  st.config->passive_ports.low = static_cast<uint16_t>(*low);
  st.config->passive_ports.high = static_cast<uint16_t>(*high);
  return Ok();
}

Result<void> SetMasqueradeAddress(SetterState& st, const Args& a) {
  auto ip = ParseIpLiteral("MasqueradeAddress", a[0]);
  if (!ip) return ip.error();
  if (ip->is_unspecified())
    return Invalid("MasqueradeAddress: " + Quote(a[0]) + " is the unspecified address");
  st.config->masquerade_address = *ip;
  return Ok();
}

Result<void> SetDisplayLogin(SetterState& st, const Args& a) {
  if (a[0].empty()) return Invalid("DisplayLogin: the path is empty");
  if (st.context == kAnonContext) {
    st.anonymous->display_login = a[0];
  } else {
    st.config->display_login = a[0];
  }
  return Ok();
}

Result<void> SetUseReverseDns(SetterState& st, const Args& a) {
  auto v = ParseBool("UseReverseDNS", a[0]);
  if (!v) return v.error();
  st.config->use_reverse_dns = *v;
  return Ok();
}

Result<void> SetSeccomp(SetterState& st, const Args& a) {
  auto v = ParseBool("Seccomp", a[0]);
  if (!v) return v.error();
  st.config->seccomp = *v;
  return Ok();
}

Result<void> SetUseSendfile(SetterState& st, const Args& a) {
  auto v = ParseBool("UseSendfile", a[0]);
  if (!v) return v.error();
  st.config->use_sendfile = *v;
  return Ok();
}

// DebugLevel: ProFTPD's 0-10 scale stops at 9 here (log.h lists the levels).
Result<void> SetDebugLevel(SetterState& st, const Args& a) {
  auto v = ParseNumber("DebugLevel", a[0], 0, 9);
  if (!v) return v.error();
  st.config->debug_level = static_cast<int>(*v);
  return Ok();
}

Result<void> SetAllowForeignAddress(SetterState& st, const Args& a) {
  auto v = ParseBool("AllowForeignAddress", a[0]);
  if (!v) return v.error();
  st.config->allow_foreign_address = *v;
  return Ok();
}

// --- <Limit> contents -----------------------------------------------------

Result<void> SetAllowAll(SetterState& st, const Args&) {
  st.limit->allow_all = true;
  return Ok();
}

Result<void> SetDenyAll(SetterState& st, const Args&) {
  st.limit->deny_all = true;
  return Ok();
}

Result<void> SetOrder(SetterState& st, const Args& a) {
  // "allow,deny", "allow, deny" and "allow ,deny" all mean the same.
  std::string joined;
  for (const auto& w : a) joined += AsciiLowerCopy(w);
  if (joined == "allow,deny") {
    st.limit->order_deny_first = false;
  } else if (joined == "deny,allow") {
    st.limit->order_deny_first = true;
  } else {
    std::string shown;
    for (const auto& w : a) shown += (shown.empty() ? "" : " ") + w;
    return Invalid("Order: " + Quote(shown) + " is not allow,deny or deny,allow");
  }
  return Ok();
}

// "Allow [from] ADDR[, ADDR ...]": comma and/or blank separated.
Result<void> AddAccessRule(std::string_view directive, bool allow, SetterState& st, const Args& a) {
  size_t first = 0;
  if (EqualsIgnoreCase(a[0], "from")) first = 1;
  std::vector<std::string> items;
  for (size_t i = first; i < a.size(); ++i) {
    std::string_view w = a[i];
    size_t pos = 0;
    while (pos <= w.size()) {
      size_t comma = w.find(',', pos);
      if (comma == std::string_view::npos) comma = w.size();
      if (comma > pos) items.emplace_back(w.substr(pos, comma - pos));
      pos = comma + 1;
    }
  }
  const std::string name(directive);
  if (items.empty()) return Invalid(name + ": expected at least one address");
  AccessRule rule;
  rule.allow = allow;
  for (const auto& item : items) {
    const bool is_all = EqualsIgnoreCase(item, "all");
    const bool is_none = EqualsIgnoreCase(item, "none");
    if (is_all || is_none) {
      if (items.size() != 1)
        return Invalid(name + ": " + Quote(item) + " cannot be combined with other addresses");
      rule.all = is_all;
      rule.none = is_none;
      break;
    }
    if (!item.empty() && item.front() == '!')
      return Invalid(name + ": " + Quote(item) + ": negated addresses are not supported");
    if (auto cidr = net::Cidr::Parse(item)) {
      rule.networks.push_back(*cidr);
      continue;
    }
    // SECURITY (S6): names would make access control depend on PTR records the
    // client's owner controls; poolftpd never resolves them.
    if (LooksLikeHostname(item) || (!item.empty() && item.front() == '.'))
      return Invalid(name + ": " + Quote(item) +
                     ": hostnames are not supported in Allow/Deny (UseReverseDNS is off)");
    return Invalid(name + ": " + Quote(item) + " is not a valid address or network");
  }
  st.limit->rules.push_back(std::move(rule));
  return Ok();
}

Result<void> SetAllow(SetterState& st, const Args& a) {
  return AddAccessRule("Allow", true, st, a);
}
Result<void> SetDeny(SetterState& st, const Args& a) { return AddAccessRule("Deny", false, st, a); }

constexpr unsigned kServer = kServerContext;
constexpr unsigned kServerAnon = kServerContext | kAnonContext;
constexpr unsigned kLimitOnly = kLimitContext;

constexpr DirectiveSpec kDirectives[] = {
    {"AllowAll", kLimitOnly, 0, 0, &SetAllowAll},
    {"Allow", kLimitOnly, 1, -1, &SetAllow},
    {"AllowForeignAddress", kServer, 1, 1, &SetAllowForeignAddress},
    {"DebugLevel", kServer, 1, 1, &SetDebugLevel},
    {"DefaultAddress", kServer, 1, -1, &SetDefaultAddress},
    {"Deny", kLimitOnly, 1, -1, &SetDeny},
    {"DenyAll", kLimitOnly, 0, 0, &SetDenyAll},
    {"DisplayLogin", kServerAnon, 1, 1, &SetDisplayLogin},
    {"GracefulStopTimeout", kServer, 1, 1, &SetInt<&Config::graceful_stop_timeout, 0, kMaxTimeout>},
    {"Group", kServerAnon, 1, 1, &SetGroup},
    {"MasqueradeAddress", kServer, 1, 1, &SetMasqueradeAddress},
    {"MaxClients", kServer, 1, 2, &SetMaxClients},
    {"MaxClientsPerHost", kServer, 1, 2, &SetMaxClientsPerHost},
    {"MaxCommandRate", kServer, 1, 2, &SetMaxCommandRate},
    {"MaxLoginAttempts", kServer, 1, 1,
     &SetInt<&Config::max_login_attempts, 1, kMaxLoginAttemptsLimit>},
    {"MaxSessionsPerWorker", kServer, 1, 1,
     &SetInt<&Config::max_sessions_per_worker, 0, kMaxSessionsLimit>},
    {"MaxSpareServers", kServer, 1, 1, &SetInt<&Config::max_spare_servers, 1, kMaxPoolSize>},
    {"MinSpareServers", kServer, 1, 1, &SetInt<&Config::min_spare_servers, 1, kMaxPoolSize>},
    {"Order", kLimitOnly, 1, 3, &SetOrder},
    {"PassivePorts", kServer, 2, 2, &SetPassivePorts},
    {"PidFile", kServer, 1, 1, &SetPidFile},
    {"Port", kServer, 1, 1, &SetPort},
    {"ScoreboardFile", kServer, 1, 1, &SetScoreboardFile},
    {"Seccomp", kServer, 1, 1, &SetSeccomp},
    {"ServerIdent", kServer, 1, 2, &SetServerIdent},
    {"ServerName", kServer, 1, 1, &SetServerName},
    {"ServerType", kServer, 1, 1, &SetServerType},
    {"ShutdownFile", kServer, 1, 1, &SetShutdownFile},
    {"StartServers", kServer, 1, 1, &SetInt<&Config::start_servers, 0, kMaxPoolSize>},
    {"SystemLog", kServer, 1, 1, &SetSystemLog},
    {"TimeoutIdle", kServer, 1, 1, &SetInt<&Config::timeout_idle, 0, kMaxTimeout>},
    {"TimeoutLogin", kServer, 1, 1, &SetInt<&Config::timeout_login, 0, kMaxTimeout>},
    {"TimeoutNoTransfer", kServer, 1, 1, &SetInt<&Config::timeout_no_transfer, 0, kMaxTimeout>},
    {"TimeoutStalled", kServer, 1, 1, &SetInt<&Config::timeout_stalled, 0, kMaxTimeout>},
    {"TransferLog", kServer, 1, 1, &SetTransferLog},
    {"UseReverseDNS", kServer, 1, 1, &SetUseReverseDns},
    {"UseSendfile", kServer, 1, 1, &SetUseSendfile},
    {"User", kServerAnon, 1, 1, &SetUser},
    {"UserAlias", kServerAnon, 2, 2, &SetUserAlias},
};

// The location of whichever of `names` was set last, or null if none was.
const Location* LastSet(const LocationMap& where, std::initializer_list<std::string_view> names) {
  const Location* best = nullptr;
  for (auto n : names) {
    auto it = where.find(n);
    if (it != where.end() && (!best || it->second.sequence > best->sequence)) best = &it->second;
  }
  return best;
}

Error AtLocation(const Location& loc, const std::string& reason) {
  return Error(ErrorCode::kInvalid, loc.file + ":" + std::to_string(loc.line) + ": " + reason);
}

}  // namespace

Result<long long> ParseNumber(std::string_view directive, std::string_view text, long long min,
                              long long max) {
  long long v = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, v);
  const std::string name(directive);
  if (text.empty() || ec == std::errc::invalid_argument || ptr != end)
    return Invalid(name + ": " + Quote(text) + " is not a number");
  if (ec == std::errc::result_out_of_range || v < min || v > max)
    return Invalid(name + ": " + std::string(text) + " is out of range (" + std::to_string(min) +
                   "-" + std::to_string(max) + ")");
  return v;
}

const DirectiveSpec* FindDirective(std::string_view name) {
  for (const auto& d : kDirectives)
    if (EqualsIgnoreCase(d.name, name)) return &d;
  return nullptr;
}

std::span<const DirectiveSpec> AllDirectives() { return kDirectives; }

Result<void> CrossCheck(const Config& c, const LocationMap& where) {
  auto n = [](int v) { return std::to_string(v); };
  if (c.min_spare_servers > c.max_spare_servers) {
    if (const Location* loc = LastSet(where, {"MinSpareServers", "MaxSpareServers"}))
      return AtLocation(*loc, "MinSpareServers (" + n(c.min_spare_servers) +
                                  ") must not exceed MaxSpareServers (" + n(c.max_spare_servers) +
                                  ")");
  }
  const long long slots = static_cast<long long>(c.max_clients) + c.max_spare_servers;
  if (c.start_servers > slots) {
    if (const Location* loc = LastSet(where, {"StartServers", "MaxClients", "MaxSpareServers"}))
      return AtLocation(*loc, "StartServers (" + n(c.start_servers) +
                                  ") must not exceed MaxClients + MaxSpareServers (" +
                                  std::to_string(slots) + ")");
  }
  return Ok();
}

}  // namespace poolftpd::config::internal
