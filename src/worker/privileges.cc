// The only place that changes credentials (STYLE.md section 5). The stages
// and what each holds: privileges.h and docs/SECURITY.md, "S1 privilege
// stages".
#include "poolftpd/worker/privileges.h"

#include <grp.h>
#include <linux/capability.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#if defined(POOLFTPD_SANITIZER)
#include <sanitizer/common_interface_defs.h>
#endif

#include <algorithm>
#include <cerrno>
#include <string>

namespace poolftpd::worker {
namespace {

// What one credential change becomes.
struct Target {
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  const gid_t* groups = nullptr;  // setgroups list
  size_t ngroups = 0;
  const std::string* chroot_dir = nullptr;  // null or empty: no chroot
  bool drop_bounding =
      true;  // false: the before-accept stage already reduced it (no CAP_SETPCAP left)
};

// Sanitizer builds only (make SAN=...): a sanitizer opens its log_path
// file, one per PID, at its first report; after the chroot that path is
// gone and the sanitizer would die with "Can't open file" instead of
// reporting. Asking for the report path opens this process's file now; the
// build's shim (tests/san/ubsan_report_path.cc) does it for every runtime.
// (The tests point log_path at their own directory: tests/integration,
// helpers.py, "sanitizer reports".)
#if defined(POOLFTPD_SANITIZER)
extern "C" void PoolftpdOpenSanitizerReports() __attribute__((weak));
#endif
void OpenSanitizerReportFile() {
#if defined(POOLFTPD_SANITIZER)
  if (PoolftpdOpenSanitizerReports != nullptr) {
    PoolftpdOpenSanitizerReports();
  } else {
    (void)__sanitizer_get_report_path();
  }
#endif
}

Result<void> ChrootTo(const std::string& dir) {
  OpenSanitizerReportFile();
  if (::chroot(dir.c_str()) != 0) return Error::FromErrno(errno, "chroot", dir);
  if (::chdir("/") != 0) return Error::FromErrno(errno, "chdir", "/");
  return Ok();
}

// Bounding set: everything but `keep` (needs CAP_SETPCAP).
Result<void> ReduceBoundingSet(const std::vector<int>& keep) {
  for (int cap = 0; cap <= CAP_LAST_CAP; ++cap) {
    if (std::find(keep.begin(), keep.end(), cap) != keep.end()) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
      return Error::FromErrno(errno, "prctl", "PR_CAPBSET_DROP");
  }
  return Ok();
}

// setgroups, setresgid, setresuid, then reads them back.
Result<void> SwitchIds(const Target& t) {
  if (::setgroups(t.ngroups, t.groups) != 0)
    return Error::FromErrno(errno, "setgroups", std::to_string(t.gid));
  if (::setresgid(t.gid, t.gid, t.gid) != 0)
    return Error::FromErrno(errno, "setresgid", std::to_string(t.gid));
  if (::setresuid(t.uid, t.uid, t.uid) != 0)
    return Error::FromErrno(errno, "setresuid", std::to_string(t.uid));
  uid_t r, e, s;
  gid_t rg, eg, sg;
  if (::getresuid(&r, &e, &s) != 0 || r != t.uid || e != t.uid || s != t.uid ||
      ::getresgid(&rg, &eg, &sg) != 0 || rg != t.gid || eg != t.gid || sg != t.gid)
    return Error(ErrorCode::kInternal, "credentials did not change as requested");
  return Ok();
}

Result<void> EmptyCapabilities() {
  cap_t empty = ::cap_init();
  if (empty == nullptr) return Error::FromErrno(errno, "cap_init");
  const int rc = ::cap_set_proc(empty);
  const int saved = errno;
  ::cap_free(empty);
  if (rc != 0) return Error::FromErrno(saved, "cap_set_proc", "empty set");
  return Ok();
}

// The full drop: no capabilities in any set, none ambient, and none regained
// by exec.
Result<void> FullDrop(const Target& t) {
  if (t.switch_user) {
    if (t.chroot_dir != nullptr && !t.chroot_dir->empty()) {
      if (auto r = ChrootTo(*t.chroot_dir); !r) return r;
    }
    // Empty the bounding set while we still hold CAP_SETPCAP.
    if (t.drop_bounding) {
      if (auto r = ReduceBoundingSet({}); !r) return r;
    }
    if (auto r = SwitchIds(t); !r) return r;
    // From root the uid change cleared the capability sets; from the
    // before-accept uid (no root involved) they survive it: empty them
    // before the check, or setuid(0) would succeed.
    if (!t.drop_bounding) {
      if (auto r = EmptyCapabilities(); !r) return r;
    }
    if (t.uid != 0 && ::setuid(0) == 0)
      return Error(ErrorCode::kInternal, "setuid(0) succeeded after the drop");
  }
  if (t.switch_user || ::geteuid() != 0) {
    if (auto r = EmptyCapabilities(); !r) return r;
  }
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return Error::FromErrno(errno, "prctl", "PR_SET_NO_NEW_PRIVS");
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  return Ok();
}

// Permitted and effective = `caps`, inheritable empty.
Result<void> SetCapabilities(const std::vector<int>& caps) {
  cap_t c = ::cap_init();
  if (c == nullptr) return Error::FromErrno(errno, "cap_init");
  std::vector<cap_value_t> values(caps.begin(), caps.end());
  int rc = 0;
  if (!values.empty()) {
    rc = ::cap_set_flag(c, CAP_PERMITTED, static_cast<int>(values.size()), values.data(), CAP_SET);
    if (rc == 0)
      rc =
          ::cap_set_flag(c, CAP_EFFECTIVE, static_cast<int>(values.size()), values.data(), CAP_SET);
  }
  if (rc == 0) rc = ::cap_set_proc(c);
  const int saved = errno;
  ::cap_free(c);
  if (rc != 0) return Error::FromErrno(saved, "cap_set_proc", "login capabilities");
  return Ok();
}

// True when the permitted set is exactly `caps`.
bool PermittedIs(const std::vector<int>& caps) {
  cap_t c = ::cap_get_proc();
  if (c == nullptr) return false;
  bool ok = true;
  for (int cap = 0; cap <= CAP_LAST_CAP && ok; ++cap) {
    cap_flag_value_t v = CAP_CLEAR;
    if (::cap_get_flag(c, cap, CAP_PERMITTED, &v) != 0) ok = false;
    const bool want = std::find(caps.begin(), caps.end(), cap) != caps.end();
    if ((v == CAP_SET) != want) ok = false;
  }
  ::cap_free(c);
  return ok;
}

// kRealUsers, started as root: an unprivileged uid that can still become a
// user. Order: bounding set (needs CAP_SETPCAP), keep-caps across the uid
// change, ids, then the permitted/effective sets.
Result<void> HoldLoginCapabilities(const Identity& id) {
  const std::vector<int> keep = BeforeAcceptCapabilities(id);
  if (auto r = ReduceBoundingSet(keep); !r) return r;
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
    return Error::FromErrno(errno, "prctl", "PR_SET_KEEPCAPS");
  const gid_t groups[1] = {id.gid};
  Target t;
  t.switch_user = true;
  t.uid = id.uid;
  t.gid = id.gid;
  t.groups = groups;
  t.ngroups = 1;
  auto switched = SwitchIds(t);
  ::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  if (!switched) return switched;
  if (auto r = SetCapabilities(keep); !r) return r;
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (!PermittedIs(keep))
    return Error(ErrorCode::kInternal, "capabilities did not change as requested");
  return Ok();
}

}  // namespace

std::vector<int> BeforeAcceptCapabilities(const Identity& id) {
  if (id.model != PrivilegeModel::kRealUsers || !id.switch_user) return {};
  std::vector<int> caps = {CAP_SETGID, CAP_SETUID, CAP_SYS_CHROOT};
  if (id.bind_data_port) caps.push_back(CAP_NET_BIND_SERVICE);
  std::sort(caps.begin(), caps.end());
  return caps;
}

Result<void> DropPrivileges(const Identity& id) {
  const gid_t groups[1] = {id.gid};
  Target t;
  t.switch_user = id.switch_user;
  t.uid = id.uid;
  t.gid = id.gid;
  t.groups = groups;
  t.ngroups = 1;
  t.chroot_dir = &id.chroot_dir;
  return FullDrop(t);
}

Result<void> EnterBeforeAccept(const Identity& id) {
  if (id.model == PrivilegeModel::kAnonymousOnly) return DropPrivileges(id);
  if (!id.switch_user) {
    // Non-root: nothing to keep. Capabilities go now (a file-capability
    // binary); no_new_privs waits for the login, as for root.
    if (::geteuid() != 0) {
      if (auto r = EmptyCapabilities(); !r) return r;
    }
    ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    return Ok();
  }
  if (id.uid == 0) return Error(ErrorCode::kInvalid, "the before-accept identity is root");
  return HoldLoginCapabilities(id);
}

Result<void> EnterAfterLogin(const Identity& id, const LoginIdentity& user) {
  // SECURITY (S1): an anonymous-only worker dropped everything before accept.
  if (id.model == PrivilegeModel::kAnonymousOnly) return Ok();
  if (id.switch_user && user.uid == 0)
    return Error(ErrorCode::kInvalid, "refusing a login as uid 0");
  std::vector<gid_t> groups = user.groups;
  if (groups.empty()) groups.push_back(user.gid);
  Target t;
  t.switch_user = id.switch_user;
  t.uid = user.uid;
  t.gid = user.gid;
  t.groups = groups.data();
  t.ngroups = groups.size();
  t.chroot_dir = &user.root;
  t.drop_bounding = false;  // reduced to BeforeAcceptCapabilities() before accept
  return FullDrop(t);
}

}  // namespace poolftpd::worker
