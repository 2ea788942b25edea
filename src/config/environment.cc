#include "poolftpd/config/environment.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "text.h"

namespace poolftpd::config {
namespace {

Error At(const std::string& at, const std::string& reason) {
  return Error(ErrorCode::kInvalid, at + ": " + reason);
}

std::string ErrnoText(int err) {
  char buf[128];
  return ::strerror_r(err, buf, sizeof buf);
}

// getpwnam_r/getgrnam_r with a growing buffer. Returns 0 and sets *found
// (null when there is no such entry), or an errno value.
template <typename Entry, typename Fn>
int LookUp(Fn fn, const std::string& name, Entry* entry, std::vector<char>* buf, Entry** found) {
  int rc;
  buf->resize(16384);
  while ((rc = fn(name.c_str(), entry, buf->data(), buf->size(), found)) == ERANGE &&
         buf->size() < (1u << 20))
    buf->resize(buf->size() * 2);
  // "Not found" may come back as one of these instead of rc 0 (getpwnam_r(3)).
  if (rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM) {
    *found = nullptr;
    rc = 0;
  }
  return rc;
}

}  // namespace

Result<void> CheckEnvironment(const Config& cfg, bool as_root) {
  // A built-in default is reported at the top-level file (no line).
  const std::string default_at = cfg.source_file;
  if (as_root) {
    // The identity workers take (master ResolveIdentity): the <Anonymous>
    // block's User/Group, else the server-level ones, else nobody/nogroup.
    std::string user = cfg.user, group = cfg.group;
    std::string user_at = cfg.user_at, group_at = cfg.group_at;
    if (cfg.anonymous) {
      user = cfg.anonymous->user;
      group = cfg.anonymous->group;
      user_at = cfg.anonymous->user_at;
      group_at = cfg.anonymous->group_at;
    }
    const bool user_default = user.empty(), group_default = group.empty();
    if (user_default) user = "nobody";
    if (group_default) group = "nogroup";
    if (user_at.empty()) user_at = default_at;
    if (group_at.empty()) group_at = default_at;

    std::vector<char> buf;
    passwd pw{};
    passwd* pw_found = nullptr;
    if (int rc = LookUp(::getpwnam_r, user, &pw, &buf, &pw_found); rc != 0)
      return At(user_at,
                "User " + internal::Quote(user) + ": looking it up failed: " + ErrnoText(rc));
    if (pw_found == nullptr)
      return At(user_at, "User " + internal::Quote(user) + (user_default ? " (the default)" : "") +
                             ": no such user on this system");
    // SECURITY (S1): workers parse network input; they never run as root.
    if (pw.pw_uid == 0)
      return At(user_at,
                "User " + internal::Quote(user) + " is root: refusing to run workers as root");
    struct group gr {};
    struct group* gr_found = nullptr;
    if (int rc = LookUp(::getgrnam_r, group, &gr, &buf, &gr_found); rc != 0)
      return At(group_at,
                "Group " + internal::Quote(group) + ": looking it up failed: " + ErrnoText(rc));
    if (gr_found == nullptr)
      return At(group_at, "Group " + internal::Quote(group) +
                              (group_default ? " (the default)" : "") +
                              ": no such group on this system");
  }
  if (cfg.anonymous) {
    const Anonymous& a = *cfg.anonymous;
    const std::string at = a.file + ":" + std::to_string(a.line);
    const std::string what = "<Anonymous " + a.root + ">: ";
    struct stat st;
    if (::stat(a.root.c_str(), &st) != 0) {
      const int err = errno;
      if (err == ENOENT) return At(at, what + "the directory does not exist");
      return At(at, what + "cannot access the directory: " + ErrnoText(err));
    }
    if (!S_ISDIR(st.st_mode)) return At(at, what + "not a directory");
  }
  return Ok();
}

}  // namespace poolftpd::config
