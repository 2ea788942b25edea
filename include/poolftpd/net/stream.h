// The byte stream under a connection (control or data): the seam where a
// transport plugs in. TcpStream is the plain one; a TLS stream (FTPS) or a
// PROXY-protocol reader wraps the same socket and implements the same calls,
// and the session, the control channel and the data loops never learn which
// one they drive. Worker process only.
//
// Contract shared by every implementation:
// - Read and Write never block: they return what moved now, or -EAGAIN. All
//   waiting is done by net::Wait (wait.h) on fd(), after asking Buffered().
// - Results are byte counts (>= 0; Read returns 0 at EOF) or a negated errno
//   (-EAGAIN, -EINTR, -EPIPE, -ECONNRESET, ...): no exceptions, no allocation.
// - One virtual call per system call at most: loops call these once per
//   buffer, never per byte.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

#include "poolftpd/util/unique_fd.h"

namespace poolftpd::net {

class Stream {
 public:
  Stream() = default;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  virtual ~Stream() = default;

  // Up to `len` bytes into `buf`: n > 0, 0 at EOF, or -errno.
  virtual ssize_t Read(void* buf, size_t len) = 0;
  // Up to `len` bytes of `buf`: n >= 0 accepted, or -errno (-EPIPE when the
  // peer is gone; never SIGPIPE).
  virtual ssize_t Write(const void* buf, size_t len) = 0;
  // Sends up to `count` bytes of `file_fd` (a regular file) from *offset and
  // advances *offset by what was sent: n > 0, 0 at the file's end, or -errno.
  // Blocks only while SetBlockingSendFile is on. A stream that cannot hand
  // the file to the kernel (TLS) copies through Write (SendFileByCopy).
  virtual ssize_t SendFile(int file_fd, uint64_t* offset, size_t count) = 0;
  // timeout_ms > 0: SendFile blocks, each call for at most timeout_ms (a
  // blocking sendfile moves a large step with no wake-up per socket-buffer
  // refill); 0: back to non-blocking.
  virtual void SetBlockingSendFile(int timeout_ms) = 0;
  // Orderly end of our direction (FIN; TLS: close_notify first); reading
  // stays possible.
  virtual void Shutdown() = 0;
  // Bytes read from the fd and held inside the stream, not yet returned by
  // Read (a TLS library's decrypted records). The fd does not show them, so
  // every wait asks this first. TcpStream: always 0.
  virtual size_t Buffered() const = 0;
  // Drops whatever Buffered() counts (the STARTTLS rule: bytes received
  // before a change of protection are never read after it).
  virtual void DiscardBuffered() = 0;
  // True when input is waiting that nobody has read: Buffered() or bytes
  // queued in the kernel (one ioctl for TCP). Used before a lingering close.
  virtual bool InputPending() const = 0;
  // Puts a control connection's transport in the mode the session needs:
  // non-blocking, urgent data in band (the Telnet Synch before ABOR), no
  // Nagle delay for replies. Pool workers get sockets already set up from
  // the listener and skip this.
  virtual void PrepareControl() = 0;
  // The fd to wait on (readable/writable), -1 once closed.
  virtual int fd() const = 0;
};

// Plain TCP (or any stream socket: unit tests use socketpairs). Owns the fd.
class TcpStream final : public Stream {
 public:
  TcpStream() = default;
  explicit TcpStream(UniqueFd fd) : fd_(std::move(fd)) {}

  ssize_t Read(void* buf, size_t len) override;
  ssize_t Write(const void* buf, size_t len) override;
  ssize_t SendFile(int file_fd, uint64_t* offset, size_t count) override;
  void SetBlockingSendFile(int timeout_ms) override;
  void Shutdown() override;
  size_t Buffered() const override { return 0; }
  void DiscardBuffered() override {}
  bool InputPending() const override;
  void PrepareControl() override;
  int fd() const override { return fd_.get(); }

  bool valid() const { return fd_.valid(); }
  void Close() { fd_.reset(); }

 private:
  UniqueFd fd_;
};

// SendFile for streams that must see the bytes (TLS): pread into a stack
// buffer, then Write; *offset advances by what Write accepted, so a short
// write loses nothing. Same results as Stream::SendFile.
ssize_t SendFileByCopy(Stream& stream, int file_fd, uint64_t* offset, size_t count);

}  // namespace poolftpd::net
