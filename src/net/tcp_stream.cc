#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "poolftpd/net/stream.h"
#include "poolftpd/util/io.h"

namespace poolftpd::net {

ssize_t TcpStream::Read(void* buf, size_t len) {
  const ssize_t n = ::recv(fd_.get(), buf, len, 0);
  return n >= 0 ? n : -errno;
}

ssize_t TcpStream::Write(const void* buf, size_t len) {
  // MSG_DONTWAIT: a write never blocks even on a socket left blocking (inetd
  // hands one over; the refusals write before any set-up).
  const ssize_t n = ::send(fd_.get(), buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
  return n >= 0 ? n : -errno;
}

ssize_t TcpStream::SendFile(int file_fd, uint64_t* offset, size_t count) {
  off_t off = static_cast<off_t>(*offset);
  const ssize_t n = ::sendfile(fd_.get(), file_fd, &off, count);
  if (n < 0) return -errno;
  *offset = static_cast<uint64_t>(off);
  return n;
}

void TcpStream::SetBlockingSendFile(int timeout_ms) {
  if (timeout_ms > 0) {
    // SO_SNDTIMEO bounds each blocking sendfile, so ABOR, TERM and
    // TimeoutStalled are looked at between steps.
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    (void)util::SetNonBlocking(fd_.get(), false);
  } else {
    (void)util::SetNonBlocking(fd_.get(), true);
  }
}

void TcpStream::Shutdown() { ::shutdown(fd_.get(), SHUT_WR); }

bool TcpStream::InputPending() const {
  int unread = 0;
  return ::ioctl(fd_.get(), FIONREAD, &unread) == 0 && unread > 0;
}

void TcpStream::PrepareControl() {
  (void)util::SetNonBlocking(fd_.get(), true);
  const int one = 1;
  // Urgent data (Telnet Synch before ABOR) stays in band; the line reader
  // drops IAC DM.
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_OOBINLINE, &one, sizeof one);
  // Replies are whole lines written at once: never hold one back for Nagle
  // (a 226 after a 150 would otherwise wait for the client's delayed ACK).
  ::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

ssize_t SendFileByCopy(Stream& stream, int file_fd, uint64_t* offset, size_t count) {
  char buf[16 * 1024];
  const ssize_t r = ::pread(file_fd, buf, std::min(count, sizeof buf), static_cast<off_t>(*offset));
  if (r <= 0) return r < 0 ? -errno : 0;
  const ssize_t n = stream.Write(buf, static_cast<size_t>(r));
  if (n > 0) *offset += static_cast<uint64_t>(n);
  return n;
}

}  // namespace poolftpd::net
