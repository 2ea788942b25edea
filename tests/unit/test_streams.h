// Test-only net::Stream implementations: the proof that a second transport
// plugs in without touching the session, the control channel or the data
// loops. Both wrap a connected stream socket (socketpair or TCP) they own.
// - PieceStream moves bytes in random small pieces (1..max_piece per Read
//   and Write), so every loop sees short reads and short writes.
// - BufferingStream reads everything the socket has into its own buffer and
//   hands it out in small pieces, as a TLS library holds decrypted records:
//   the fd shows nothing while Buffered() is not 0, so a wait that only
//   polled would hang.
// SendFile copies through Write (net::SendFileByCopy), as a TLS stream must.
#pragma once

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <random>
#include <string>

#include "poolftpd/net/stream.h"
#include "poolftpd/util/io.h"
#include "poolftpd/util/unique_fd.h"

namespace poolftpd::testing_streams {

// Shared: fd ownership, blocking SendFile mode, shutdown, control set-up.
class SocketStreamBase : public net::Stream {
 public:
  explicit SocketStreamBase(UniqueFd fd) : fd_(std::move(fd)) {}
  int fd() const override { return fd_.get(); }
  void Shutdown() override { ::shutdown(fd_.get(), SHUT_WR); }
  void PrepareControl() override { (void)util::SetNonBlocking(fd_.get(), true); }
  void SetBlockingSendFile(int timeout_ms) override { send_timeout_ms_ = timeout_ms; }
  ssize_t SendFile(int file_fd, uint64_t* offset, size_t count) override {
    // Blocking mode: wait for room first (bounded), as a blocking write would.
    if (send_timeout_ms_ > 0) {
      pollfd p{fd_.get(), POLLOUT, 0};
      if (::poll(&p, 1, send_timeout_ms_) == 0) return -EAGAIN;
    }
    return net::SendFileByCopy(*this, file_fd, offset, count);
  }
  bool InputPending() const override {
    int unread = 0;
    return Buffered() > 0 || (::ioctl(fd_.get(), FIONREAD, &unread) == 0 && unread > 0);
  }
  void Close() { fd_.reset(); }

 protected:
  UniqueFd fd_;
  int send_timeout_ms_ = 0;
};

class PieceStream final : public SocketStreamBase {
 public:
  PieceStream(UniqueFd fd, unsigned seed, size_t max_piece = 7)
      : SocketStreamBase(std::move(fd)), rng_(seed), max_piece_(max_piece) {}
  ssize_t Read(void* buf, size_t len) override {
    const ssize_t n = ::recv(fd_.get(), buf, Piece(len), MSG_DONTWAIT);
    return n >= 0 ? n : -errno;
  }
  ssize_t Write(const void* buf, size_t len) override {
    const ssize_t n = ::send(fd_.get(), buf, Piece(len), MSG_NOSIGNAL | MSG_DONTWAIT);
    return n >= 0 ? n : -errno;
  }
  size_t Buffered() const override { return 0; }
  void DiscardBuffered() override {}

 private:
  size_t Piece(size_t len) { return std::min(len, 1 + rng_() % max_piece_); }
  std::minstd_rand rng_;
  size_t max_piece_;
};

class BufferingStream final : public SocketStreamBase {
 public:
  BufferingStream(UniqueFd fd, unsigned seed, size_t max_piece = 5)
      : SocketStreamBase(std::move(fd)), rng_(seed), max_piece_(max_piece) {}
  ssize_t Read(void* buf, size_t len) override {
    if (pos_ == held_.size()) {
      held_.clear();
      pos_ = 0;
      char tmp[64 * 1024];
      const ssize_t n = ::recv(fd_.get(), tmp, sizeof tmp, MSG_DONTWAIT);
      if (n <= 0) return n == 0 ? 0 : -errno;
      held_.assign(tmp, static_cast<size_t>(n));
    }
    const size_t k = std::min({len, held_.size() - pos_, 1 + rng_() % max_piece_});
    held_.copy(static_cast<char*>(buf), k, pos_);
    pos_ += k;
    return static_cast<ssize_t>(k);
  }
  ssize_t Write(const void* buf, size_t len) override {
    const ssize_t n = ::send(fd_.get(), buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    return n >= 0 ? n : -errno;
  }
  size_t Buffered() const override { return held_.size() - pos_; }
  void DiscardBuffered() override {
    held_.clear();
    pos_ = 0;
  }

 private:
  std::minstd_rand rng_;
  size_t max_piece_;
  std::string held_;
  size_t pos_ = 0;
};

}  // namespace poolftpd::testing_streams
