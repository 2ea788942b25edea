// The only place that changes credentials (STYLE.md section 5).
#include <grp.h>
#include <linux/capability.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "poolftpd/worker/worker.h"

namespace poolftpd::worker {

Result<void> DropPrivileges(const Identity& id) {
  if (id.switch_user) {
    if (!id.chroot_dir.empty()) {
      if (::chroot(id.chroot_dir.c_str()) != 0) return Error::FromErrno(errno, "chroot", id.chroot_dir);
      if (::chdir("/") != 0) return Error::FromErrno(errno, "chdir", "/");
    }
    // Empty the bounding set while we still hold CAP_SETPCAP.
    for (int cap = 0; cap <= CAP_LAST_CAP; ++cap) {
      if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
        return Error::FromErrno(errno, "prctl", "PR_CAPBSET_DROP");
    }
    const gid_t groups[1] = {id.gid};
    if (::setgroups(1, groups) != 0) return Error::FromErrno(errno, "setgroups", std::to_string(id.gid));
    if (::setresgid(id.gid, id.gid, id.gid) != 0)
      return Error::FromErrno(errno, "setresgid", std::to_string(id.gid));
    if (::setresuid(id.uid, id.uid, id.uid) != 0)
      return Error::FromErrno(errno, "setresuid", std::to_string(id.uid));
    uid_t r, e, s;
    gid_t rg, eg, sg;
    if (::getresuid(&r, &e, &s) != 0 || r != id.uid || e != id.uid || s != id.uid ||
        ::getresgid(&rg, &eg, &sg) != 0 || rg != id.gid || eg != id.gid || sg != id.gid)
      return Error(ErrorCode::kInternal, "credentials did not change as requested");
    if (id.uid != 0 && ::setuid(0) == 0) return Error(ErrorCode::kInternal, "setuid(0) succeeded after the drop");
  }
  // No capabilities in any set, none ambient, and none regained by exec.
  cap_t empty = ::cap_init();
  if (empty == nullptr) return Error::FromErrno(errno, "cap_init");
  const int rc = (id.switch_user || ::geteuid() != 0) ? ::cap_set_proc(empty) : 0;
  const int saved = errno;
  ::cap_free(empty);
  if (rc != 0) return Error::FromErrno(saved, "cap_set_proc", "empty set");
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Error::FromErrno(errno, "prctl", "PR_SET_NO_NEW_PRIVS");
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  return Ok();
}

}  // namespace poolftpd::worker
