#include "poolftpd/master/notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "poolftpd/util/unique_fd.h"

namespace poolftpd::master {

void Notifier::Init() {
  // SECURITY (S12): the environment is whoever started us. NOTIFY_SOCKET is
  // taken only as an absolute path or an abstract name ('@') that fits
  // sun_path; anything else is ignored. Only fixed text is ever sent to it,
  // and it is removed so that workers do not inherit it.
  const char* p = std::getenv("NOTIFY_SOCKET");
  if (p != nullptr && (p[0] == '/' || p[0] == '@') &&
      std::strlen(p) < sizeof(sockaddr_un::sun_path))
    path_ = p;
  ::unsetenv("NOTIFY_SOCKET");
}

void Notifier::Send(const std::string& message) const {
  if (path_.empty()) return;
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path_.data(), path_.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_.size());
  if (path_[0] == '@') sa.sun_path[0] = '\0';  // abstract namespace
  else
    ++len;  // include the NUL for a path
  (void)::sendto(fd.get(), message.data(), message.size(), MSG_NOSIGNAL,
                 reinterpret_cast<sockaddr*>(&sa), len);
}

void Notifier::Reloading() const {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  const long long usec = static_cast<long long>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
  Send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

}  // namespace poolftpd::master
