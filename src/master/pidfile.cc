#include "poolftpd/master/pidfile.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "poolftpd/util/io.h"
#include "poolftpd/util/unique_fd.h"

namespace poolftpd::master {

Result<void> PidFile::Write(const std::string& path) {
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
