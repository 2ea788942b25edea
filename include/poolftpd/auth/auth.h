// Login and access decisions: anonymous logins through UserAlias and the
// <Anonymous> block, and <Limit> verdicts per command. Pure functions of the
// config and the client address; worker process only.
#pragma once

#include <string_view>

#include "poolftpd/config/config.h"
#include "poolftpd/util/net.h"

namespace poolftpd::auth {

enum class LoginResult {
  kAnonymous,    // anonymous login granted
  kNoSuchUser,   // not an anonymous name, and real users are not served
  kLimitDenied,  // <Limit LOGIN> denies this client
};

struct LoginDecision {
  LoginResult result = LoginResult::kNoSuchUser;
  const config::Anonymous* anonymous = nullptr;
};

// Whether `user` names an anonymous account (after UserAlias).
bool IsAnonymousName(const config::Config& cfg, std::string_view user);
// The login decision for USER `user` from `client` (the password is not
// checked for anonymous logins, as in ProFTPD without AnonRequirePassword).
LoginDecision CheckLogin(const config::Config& cfg, std::string_view user,
                         const net::IpAddress& client);

// <Limit> verdict for `verb` (upper case) from `client` under `policy`, as
// ProFTPD decides it: blocks naming the verb, then its group, then ALL
// (which leaves out what the verb registry marks so: EPRT, EPSV, PASV,
// PORT); at each level the contexts nearest first (the closest <Directory>,
// the outer ones, <Anonymous>, the server). An explicit Allow or any deny
// decides; implicit allows fall through; no deciding block: allowed.
bool CommandAllowed(const config::Policy& policy, std::string_view verb,
                    const net::IpAddress& client);

}  // namespace poolftpd::auth
