#include "poolftpd/fs/path.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "poolftpd/util/limits.h"

namespace poolftpd::fs {
namespace {

// RESOLVE_IN_ROOT fails with EAGAIN when a concurrent rename or mount could
// have let a ".." walk past the root; the kernel asks us to retry.
constexpr int kOpenat2Retries = 8;

bool HasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

}  // namespace

Result<std::string> Normalize(std::string_view cwd, std::string_view arg) {
  // SECURITY (S3): `arg` is client input. A NUL would cut the path short at the
  // syscall boundary, so it is refused rather than truncated.
  if (HasNul(cwd) || HasNul(arg)) {
    return Error(ErrorCode::kInvalid, "path contains a NUL byte");
  }
  std::string out;
  out.reserve(cwd.size() + arg.size() + 2);
  out.push_back('/');
  // Offsets in `out` where each kept component starts (its leading '/').
  std::vector<std::size_t> starts;

  auto feed = [&](std::string_view p) {
    std::size_t i = 0;
    while (i < p.size()) {
      while (i < p.size() && p[i] == '/') ++i;
      std::size_t j = i;
      while (j < p.size() && p[j] != '/') ++j;
      std::string_view comp = p.substr(i, j - i);
      i = j;
      if (comp.empty() || comp == ".") continue;
      if (comp == "..") {
        // ".." at "/" stays at "/".
        if (!starts.empty()) {
          out.resize(starts.back());
          starts.pop_back();
        }
        continue;
      }
      starts.push_back(out.size());
      if (out.size() > 1) out.push_back('/');
      out.append(comp);
    }
  };

  if (arg.empty() || arg.front() != '/') feed(cwd);
  feed(arg);
  if (out.size() > limits::kMaxPath) {
    return Error(ErrorCode::kInvalid, "path too long");
  }
  return out;
}

std::string RelativeToRoot(std::string_view vpath) {
  std::size_t i = 0;
  while (i < vpath.size() && vpath[i] == '/') ++i;
  if (i == vpath.size()) return ".";
  return std::string(vpath.substr(i));
}

bool IsStorableName(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return false;
  for (const char c : name) {
    if (c == '/' || c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

Result<Root> Root::OpenDir(const std::string& path) {
  if (HasNul(path)) return Error(ErrorCode::kSystem, "open(root) failed", EINVAL);
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Error::FromErrno(errno, "open", path);
  return Root(UniqueFd(fd));
}

Result<UniqueFd> Root::Open(std::string_view vpath, int flags) const {
  return Open(vpath, flags, 0666);
}

Result<UniqueFd> Root::Open(std::string_view vpath, int flags, mode_t mode) const {
  if (!fd_.valid()) return Error(ErrorCode::kInternal, "openat2 on a closed root", EBADF);
  // SECURITY (S3): a NUL inside the string would make the kernel see a shorter
  // path than the one we checked and log; refuse it.
  if (HasNul(vpath)) return Error::FromErrno(EINVAL, "openat2", "<path with NUL>");
  const std::string rel = RelativeToRoot(vpath);
  open_how how{};
  how.flags = static_cast<uint64_t>(static_cast<unsigned>(flags | O_CLOEXEC));
  // openat2 refuses a non-zero mode unless the call can create a file.
  const bool creates = (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
  how.mode = creates ? (mode & 07777) : 0;
  // SECURITY (S3): RESOLVE_IN_ROOT makes "..", absolute paths and absolute symlink
  // targets resolve as if the root were "/"; RESOLVE_NO_MAGICLINKS stops
  // /proc/<pid>/fd-style links that would jump anywhere. The kernel enforces
  // this on every component, so no string check on `vpath` is needed.
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  long fd = -1;
  for (int attempt = 0; attempt < kOpenat2Retries; ++attempt) {
    fd = ::syscall(SYS_openat2, fd_.get(), rel.c_str(), &how, sizeof how);
    if (fd >= 0 || (errno != EAGAIN && errno != EINTR)) break;
  }
  if (fd < 0) return Error::FromErrno(errno, "openat2", vpath);
  return UniqueFd(static_cast<int>(fd));
}

Result<struct stat> Root::Stat(std::string_view vpath) const {
  auto fd = Open(vpath, O_PATH);
  if (!fd) return fd.error();
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return Error::FromErrno(errno, "fstat", vpath);
  return st;
}

Result<struct stat> Root::Lstat(std::string_view vpath) const {
  auto fd = Open(vpath, O_PATH | O_NOFOLLOW);
  if (!fd) return fd.error();
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return Error::FromErrno(errno, "fstat", vpath);
  return st;
}

Result<UniqueFd> Root::EnterDir(std::string_view vpath) const {
  auto dir = Open(vpath, O_PATH | O_DIRECTORY);
  if (!dir) return dir.error();
  // SECURITY (S3): looking up "." inside the directory needs search permission
  // on it, so the kernel itself answers whether this process may enter; a
  // "." lookup through an fd cannot leave that directory.
  const int fd = ::openat(dir->get(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Error::FromErrno(errno, "openat(.)", vpath);
  return UniqueFd(fd);
}

}  // namespace poolftpd::fs
