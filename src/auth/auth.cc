#include "poolftpd/auth/auth.h"

#include <optional>

namespace poolftpd::auth {
namespace {

// ProFTPD (dirtree.c dir_check_full): the verb's own <Limit>s first, then
// its group's (READ, DIRS...), then ALL — which deliberately leaves out the
// data-connection set-up commands (Verb::in_all). At each level the most
// specific context comes first. An explicit Allow, or any deny (explicit or
// implied by "Order deny,allow"), decides; an implicit allow goes on to the
// next level.

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
  d.anonymous = cfg.FindAnonymous(user);
  if (d.anonymous == nullptr) {
    d.result = LoginResult::kNoSuchUser;
    return d;
  }
  if (!CommandAllowed(config::BasePolicy(cfg, d.anonymous), "LOGIN", client)) {
    d.result = LoginResult::kLimitDenied;
    return d;
  }
  d.result = LoginResult::kAnonymous;
  return d;
}

bool CommandAllowed(const config::Policy& policy, std::string_view verb,
                    const net::IpAddress& client) {
  const config::Verb* known = config::FindVerb(verb);
  for (auto level :
       {config::LimitMatch::kDirect, config::LimitMatch::kGroup, config::LimitMatch::kAll}) {
    if (level == config::LimitMatch::kAll && known != nullptr && !known->in_all) continue;
    for (size_t i = 0; i < policy.directory_count; ++i) {
      if (auto d = DecideLevel(policy.directories[i]->limits, level, verb, client)) return *d;
    }
    if (policy.anonymous != nullptr) {
      if (auto d = DecideLevel(policy.anonymous->limits, level, verb, client)) return *d;
    }
    if (policy.server != nullptr) {
      if (auto d = DecideLevel(policy.server->limits, level, verb, client)) return *d;
    }
  }
  return true;
}

}  // namespace poolftpd::auth
