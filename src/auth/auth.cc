#include "poolftpd/auth/auth.h"

#include <array>

namespace poolftpd::auth {
namespace {

// Searches one context's blocks: direct naming first, then groups.
const config::Limit* FindLimit(const std::vector<config::Limit>& limits, std::string_view verb) {
  for (const auto& l : limits)
    if (l.CoversDirectly(verb)) return &l;
  for (const auto& l : limits)
    if (l.Covers(verb)) return &l;
  return nullptr;
}

}  // namespace

bool IsAnonymousName(const config::Config& cfg, std::string_view user) {
  return cfg.FindAnonymous(user) != nullptr;
}

LoginDecision CheckLogin(const config::Config& cfg, std::string_view user,
                         const net::IpAddress& client) {
  LoginDecision d;
  d.mapped_user = std::string(user);
  for (const auto& a : cfg.user_aliases)
    if (a.alias == user) d.mapped_user = a.user;
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
  if (anon != nullptr) {
    if (const auto* l = FindLimit(anon->limits, verb)) return l->Permits(client);
  }
  if (const auto* l = FindLimit(cfg.limits, verb)) return l->Permits(client);
  return true;
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
