// Privilege stages of a worker (docs/SECURITY.md, "S1 privilege stages").
// src/worker/privileges.cc is the only code that changes credentials
// (STYLE.md section 5). A worker passes two named stages:
//
//   before accept  runs once, after Prepare and before the first accept(2);
//                  no client byte has been read yet.
//   after login    runs once per session, after the password was accepted and
//                  before the first command of the logged-in user.
//
// What each stage does depends on the configuration's PrivilegeModel:
//
//   kAnonymousOnly  before accept: the full drop (chroot into the anonymous
//                   root, setgroups/setresgid/setresuid to the anonymous user,
//                   an empty bounding set and capability sets, no ambient
//                   capabilities, PR_SET_NO_NEW_PRIVS, not dumpable).
//                   after login: nothing (nothing is left to drop).
//   kRealUsers      before accept: an unprivileged uid/gid that keeps only
//                   CAP_SETUID, CAP_SETGID and CAP_SYS_CHROOT (and
//                   CAP_NET_BIND_SERVICE when active mode binds port 20) in
//                   its permitted, effective and bounding sets; no
//                   PR_SET_NO_NEW_PRIVS yet (a PAM helper may need to exec).
//                   after login: chroot into the user's root, become the user
//                   (groups, gid, uid), empty every capability set, set
//                   PR_SET_NO_NEW_PRIVS; the worker serves that one session
//                   and exits.
//
// Started as non-root (no Identity::switch_user) neither stage changes uid,
// gid or root; capabilities are emptied and PR_SET_NO_NEW_PRIVS is set in the
// same stage as above.
//
// A stage that returns an error has left the process in an unknown state
// between two stages: the caller must not read from a client after it and
// exits with WorkerExit::kFatal (the master then pauses spawning).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "poolftpd/util/result.h"

namespace poolftpd::worker {

// Which sessions a configuration can have.
enum class PrivilegeModel {
  kAnonymousOnly,  // every session is the <Anonymous> identity
  kRealUsers,      // sessions log in as system accounts (no config selects it yet)
};

// Who a worker is between its stages. Resolved by the master from the config.
struct Identity {
  bool switch_user = false;  // started as root: chroot + setres[ug]id
  uid_t uid = 0;
  gid_t gid = 0;
  std::string chroot_dir;  // empty: no chroot (kRealUsers: always empty)
  PrivilegeModel model = PrivilegeModel::kAnonymousOnly;
  bool bind_data_port = false;  // kRealUsers: active mode from port 20 (keeps CAP_NET_BIND_SERVICE)
};

// Who a real-user session becomes in the after-login stage.
struct LoginIdentity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups; empty: just `gid`
  std::string root;           // chroot directory (DefaultRoot); empty: none
};

// The capabilities (CAP_* numbers, ascending) a worker of `id` holds between
// the before-accept and the after-login stage: none for kAnonymousOnly or a
// non-root start.
std::vector<int> BeforeAcceptCapabilities(const Identity& id);

// The before-accept stage (see above). Verifies the result: uid/gid as
// requested, exactly BeforeAcceptCapabilities() left, and for a uid other
// than 0 that setuid(0) fails.
Result<void> EnterBeforeAccept(const Identity& id);

// The after-login stage (see above); `user` is ignored for kAnonymousOnly.
// kRealUsers: `user.uid` 0 is refused.
Result<void> EnterAfterLogin(const Identity& id, const LoginIdentity& user);

// The full drop to `id` (chroot, groups, gid, uid, no capabilities,
// no_new_privs), then verified: what kAnonymousOnly's before-accept stage
// does.
Result<void> DropPrivileges(const Identity& id);

}  // namespace poolftpd::worker
