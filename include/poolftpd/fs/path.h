// Virtual FTP paths and the session root. A client path is a virtual string:
// normalised here (lexically, clamped at "/"), then resolved only by openat2
// with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS under the session's root dirfd,
// so no "..", absolute path or symlink can leave the root, chroot or not.
// Used by the worker process only.
#pragma once

#include <sys/stat.h>

#include <string>
#include <string_view>

#include "poolftpd/util/result.h"
#include "poolftpd/util/unique_fd.h"

namespace poolftpd::fs {

// Joins `arg` to the absolute virtual `cwd` (unless `arg` is absolute),
// resolves "." and ".." lexically (".." at "/" stays at "/"), collapses "//",
// drops a trailing "/". Result always starts with "/". kInvalid when the
// result is longer than limits::kMaxPath or an input contains a NUL byte.
// Purely lexical: bytes (UTF-8 or not, backslashes) are kept as they are.
Result<std::string> Normalize(std::string_view cwd, std::string_view arg);

// The virtual path as a path relative to the root: "/" -> ".", "/a/b" -> "a/b".
std::string RelativeToRoot(std::string_view vpath);

// Whether `name` (one component, as a client gives it for a file or
// directory to be created) may be created: not empty, not "." or "..", and
// no '/', CR, LF or NUL. CR and LF would make the name forge lines in
// listings and replies of other clients (listings encode them, see
// NameCoding in listing.h, but a name the server creates should never need
// it); NUL cannot reach the kernel intact.
// SECURITY (S3): STOR, STOU, APPE, MKD and RNTO must call this on the last
// component of the normalised target before creating anything, and answer
// 553 (RFC 959: file name not allowed) when it is false. (Issue 12 wires
// it; today those commands answer 550.)
bool IsStorableName(std::string_view name);

// The session's root directory. Every lookup goes through openat2 under it.
class Root {
 public:
  Root() = default;
  explicit Root(UniqueFd dirfd) : fd_(std::move(dirfd)) {}
  // Opens `path` (a real directory) as the root. kSystem on failure.
  static Result<Root> OpenDir(const std::string& path);

  int fd() const { return fd_.get(); }
  bool valid() const { return fd_.valid(); }

  // openat2(root, rel(vpath), flags | O_CLOEXEC, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS).
  // Errors keep the errno (ENOENT, EACCES, ENOTDIR, ELOOP, EXDEV...), code
  // kSystem, context "openat2(<vpath>) failed"; EINVAL for a vpath holding a
  // NUL, EBADF on a default-constructed Root. Retries EAGAIN/EINTR a few times.
  Result<UniqueFd> Open(std::string_view vpath, int flags) const;
  // As Open, with the creation mode for O_CREAT / O_TMPFILE (umask applies).
  // Open(vpath, flags) uses 0666 when flags create a file.
  Result<UniqueFd> Open(std::string_view vpath, int flags, mode_t mode) const;
  // stat() of the resolved target (follows symlinks, confined).
  Result<struct stat> Stat(std::string_view vpath) const;
  // lstat() semantics: the final component itself, parents resolved confined.
  Result<struct stat> Lstat(std::string_view vpath) const;
  // The directory at `vpath` (O_PATH) if this process may search it, as
  // CWD needs (read permission is not needed to enter, only to list):
  // EACCES without search permission, ENOTDIR for a non-directory, and the
  // errors of Open.
  Result<UniqueFd> EnterDir(std::string_view vpath) const;

 private:
  UniqueFd fd_;
};

}  // namespace poolftpd::fs
