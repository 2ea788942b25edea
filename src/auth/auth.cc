#include "poolftpd/auth/auth.h"

#include <algorithm>
#include <array>
#include <optional>

namespace poolftpd::auth {
namespace {

// ProFTPD (dirtree.c dir_check_full): the verb's own <Limit>s first, then
// its group's (READ, DIRS...), then ALL — which deliberately leaves out the
// data-connection set-up commands. At each level the most specific context
// (<Anonymous>) comes before the server's. An explicit Allow, or any deny
// (explicit or implied by "Order deny,allow"), decides; an implicit allow
// goes on to the next level.
constexpr std::array<std::string_view, 4> kNotInAll = {"EPRT", "EPSV", "PASV", "PORT"};

std::optional<bool> DecideLevel(const std::vector<config::Limit>& limits, config::LimitMatch level,
                                std::string_view verb, const net::IpAddress& client) {
  for (const auto& l : limits) {
    if (l.Match(verb) != level) continue;
    switch (l.Evaluate(client)) {
      case config::LimitVerdict::kExplicitAllow:
        return true;
      case config::LimitVerdict::kExplicitDeny:
      case config::LimitVerdict::kImplicitDeny:
        return false;
      case config::LimitVerdict::kImplicitAllow:
        break;
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
  for (auto level : {config::LimitMatch::kDirect, config::LimitMatch::kGroup, config::LimitMatch::kAll}) {
    if (level == config::LimitMatch::kAll &&
        std::find(kNotInAll.begin(), kNotInAll.end(), verb) != kNotInAll.end())
      continue;
    if (anon != nullptr) {
      if (auto d = DecideLevel(anon->limits, level, verb, client)) return *d;
    }
    if (auto d = DecideLevel(cfg.limits, level, verb, client)) return *d;
  }
  return true;
}

bool IsWriteCommand(std::string_view verb) {
  // SITE is not here: its write subcommands (SITE_CHMOD, SITE_CHGRP) are
  // refused by the SITE dispatcher, and SITE HELP must stay reachable.
  static constexpr std::array<std::string_view, 13> kWrite = {
      "STOR", "STOU", "APPE", "DELE", "MKD", "XMKD", "RMD",
      "XRMD", "RNFR", "RNTO", "MFMT", "MFF", "MFCT"};
  for (auto w : kWrite)
    if (w == verb) return true;
  return false;
}

}  // namespace poolftpd::auth
