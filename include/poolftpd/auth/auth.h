// Login and access decisions: anonymous logins through UserAlias and the
// <Anonymous> block, and <Limit> verdicts per command. Pure functions of the
// config and the client address; worker process only.
#pragma once

#include <string>
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
  std::string mapped_user;  // after UserAlias
};

// Whether `user` names an anonymous account (after UserAlias).
bool IsAnonymousName(const config::Config& cfg, std::string_view user);
// The login decision for USER `user` from `client` (the password is not
// checked for anonymous logins, as in ProFTPD without AnonRequirePassword).
LoginDecision CheckLogin(const config::Config& cfg, std::string_view user,
                         const net::IpAddress& client);

// <Limit> verdict for `verb` (upper case) from `client`, as ProFTPD decides
// it: blocks naming the verb, then its group, then ALL (which excludes EPRT,
// EPSV, PASV and PORT); at each level <Anonymous> before the server. An
// explicit Allow or any deny decides; implicit allows fall through; no
// deciding block: allowed.
bool CommandAllowed(const config::Config& cfg, const config::Anonymous* anon,
                    std::string_view verb, const net::IpAddress& client);

// Commands that modify the file system: always 550 for anonymous (read-only).
bool IsWriteCommand(std::string_view verb);

}  // namespace poolftpd::auth
