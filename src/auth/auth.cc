#include "poolftpd/auth/auth.h"

#include <array>
#include <optional>

namespace poolftpd::auth {
namespace {

// ProFTPD's precedence within one context: a block naming the verb beats a
// group (READ, DIRS...), which beats ALL. Returns the first explicit verdict,
// else records the first implicit one in *implicit.
std::optional<bool> Decide(const std::vector<config::Limit>& limits, std::string_view verb,
                           const net::IpAddress& client, std::optional<bool>* implicit) {
  for (auto level : {config::LimitMatch::kDirect, config::LimitMatch::kGroup, config::LimitMatch::kAll}) {
    for (const auto& l : limits) {
      if (l.Match(verb) != level) continue;
      switch (l.Evaluate(client)) {
        case config::LimitVerdict::kExplicitAllow:
          return true;
        case config::LimitVerdict::kExplicitDeny:
          return false;
        case config::LimitVerdict::kImplicitAllow:
          if (!implicit->has_value()) *implicit = true;
          break;
        case config::LimitVerdict::kImplicitDeny:
          if (!implicit->has_value()) *implicit = false;
          break;
      }
    }
  }
  return std::nullopt;
}

}  // namespace

bool IsAnonymousName(const config::Config& cfg, std::string_view user) {
  return cfg.FindAnonymous(user) != nullptr;
}

LoginDecision CheckLogin(const config::Config& cfg, std::string_view user,
                         const net::IpAddress& client) {
  LoginDecision d;
  d.mapped_user = std::string(cfg.ResolveUserAlias(user));
  d.anonymous = cfg.FindAnonymous(user);
  if (d.anonymous == nullptr) {
    d.result = LoginResult::kNoSuchUser;
    return d;
  }
  if (!CommandAllowed(cfg, d.anonymous, "LOGIN", client)) {
    d.result = LoginResult::kLimitDenied;
    return d;
  }
  d.result = LoginResult::kAnonymous;
  return d;
}

bool CommandAllowed(const config::Config& cfg, const config::Anonymous* anon,
                    std::string_view verb, const net::IpAddress& client) {
  // The most specific context first (<Anonymous>), then the server's; an
  // explicit Allow/Deny decides, otherwise the first implicit verdict does.
  std::optional<bool> implicit;
  if (anon != nullptr) {
    if (auto d = Decide(anon->limits, verb, client, &implicit)) return *d;
  }
  if (auto d = Decide(cfg.limits, verb, client, &implicit)) return *d;
  return implicit.value_or(true);
}

bool IsWriteCommand(std::string_view verb) {
  static constexpr std::array<std::string_view, 14> kWrite = {
      "STOR", "STOU", "APPE", "DELE", "MKD", "XMKD", "RMD",
      "XRMD", "RNFR", "RNTO", "SITE", "MFMT", "MFF", "MFCT"};
  for (auto w : kWrite)
    if (w == verb) return true;
  return false;
}

}  // namespace poolftpd::auth
