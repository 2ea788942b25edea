// What a configuration needs from the machine it runs on: the accounts its
// workers switch to and the anonymous root. Checked by `poolftpd -t`, at
// start and on reload, after Load() has accepted the syntax.
#pragma once

#include "poolftpd/config/config.h"
#include "poolftpd/util/result.h"

namespace poolftpd::config {

// Errors are kInvalid with context "file:line: reason", naming the line that
// set the value (the top-level file alone for a built-in default):
//   /etc/poolftpd.conf:12: User "ftp": no such user on this system
//   /etc/poolftpd.conf:10: <Anonymous /srv/ftp>: the directory does not exist
// `as_root`: whether the server would run as root. Only then do workers
// switch to User/Group, so only then must the accounts exist (an ordinary
// user's `make run` or test server ignores them); the anonymous root is
// served either way and is always checked.
Result<void> CheckEnvironment(const Config& cfg, bool as_root);

}  // namespace poolftpd::config
