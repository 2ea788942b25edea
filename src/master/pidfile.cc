#include "poolftpd/master/pidfile.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "poolftpd/util/io.h"
#include "poolftpd/util/unique_fd.h"

namespace poolftpd::master {

namespace {

// The PID a PidFile names, or 0.
pid_t ReadPid(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return 0;
  char buf[32] = {};
  const ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
  if (n <= 0) return 0;
  long v = 0;
  for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) {
    v = v * 10 + (buf[i] - '0');
    if (v > 1 << 30) return 0;
  }
  return static_cast<pid_t>(v);
}

// Whether `pid` runs a poolftpd binary (its /proc/PID/exe basename).
bool IsPoolftpd(pid_t pid) {
  char link[64], exe[PATH_MAX];
  std::snprintf(link, sizeof link, "/proc/%d/exe", static_cast<int>(pid));
  const ssize_t n = ::readlink(link, exe, sizeof exe - 1);
  if (n <= 0) return ::kill(pid, 0) == 0 && errno != ESRCH;  // exists but unreadable: assume ours
  exe[n] = '\0';
  std::string e(exe);
  const std::string deleted = " (deleted)";
  if (e.size() > deleted.size() &&
      e.compare(e.size() - deleted.size(), deleted.size(), deleted) == 0)
    e.resize(e.size() - deleted.size());
  const size_t slash = e.rfind('/');
  return e.substr(slash == std::string::npos ? 0 : slash + 1) == "poolftpd";
}

}  // namespace

Result<void> PidFile::Write(const std::string& path) {
  note_.clear();
  // SECURITY (S13): as root, a PidFile in a directory others can write to could be
  // swapped for a link or a forged PID that an init script then signals.
  const size_t slash = path.rfind('/');
  const std::string dir = slash == 0 ? "/" : path.substr(0, slash == std::string::npos ? 0 : slash);
  struct stat dst;
  if (::geteuid() == 0 && !dir.empty() && ::stat(dir.c_str(), &dst) == 0 &&
      (dst.st_mode & (S_IWGRP | S_IWOTH)))
    return Error(ErrorCode::kPermission,
                 path + ": its directory " + dir +
                     " is writable by group or others; use a directory only root can write");
  if (const pid_t old = ReadPid(path); old > 0 && old != ::getpid()) {
    if (::kill(old, 0) == 0 || errno == EPERM) {
      if (IsPoolftpd(old))
        return Error(ErrorCode::kExists,
                     path + ": poolftpd is already running as PID " + std::to_string(old));
      note_ = "stale PidFile " + path + " named PID " + std::to_string(old) +
              ", now another program; replaced";
    } else {
      note_ = "stale PidFile " + path + " named PID " + std::to_string(old) +
              ", which is not running; replaced";
    }
  }
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd) return Error::FromErrno(errno, "open", tmp);
  if (auto w = util::WriteAll(fd.get(), std::to_string(::getpid()) + "\n"); !w) {
    ::unlink(tmp.c_str());
    return w.error();
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return Error::FromErrno(e, "rename", path);
  }
  path_ = path;
  owner_pid_ = ::getpid();
  return Ok();
}

void PidFile::Remove() {
  if (path_.empty() || ::getpid() != owner_pid_) return;
  ::unlink(path_.c_str());
  path_.clear();
}

}  // namespace poolftpd::master
