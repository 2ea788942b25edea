// Unit tests for net: TcpStream's results (negated errno, EOF, EAGAIN, no
// SIGPIPE, sendfile offsets, InputPending, Shutdown), SendFileByCopy, and the
// wait primitive: timeouts, readiness, bytes a stream holds that the fd does
// not show, and signals that are let in only inside the wait.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <thread>

#include "poolftpd/net/stream.h"
#include "poolftpd/net/wait.h"
#include "poolftpd/util/io.h"
#include "test_files.h"
#include "test_streams.h"

namespace poolftpd::net {
namespace {

struct Pair {
  UniqueFd a, b;
};

Pair SocketPair() {
  int sv[2];
  Pair p;
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0) return p;
  p.a.reset(sv[0]);
  p.b.reset(sv[1]);
  return p;
}

class TempFile : public testing_files::TempFile {
 public:
  explicit TempFile(const std::string& content) : testing_files::TempFile(content, "net_test") {}
};

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// ---------------------------------------------------------------------------
// TcpStream

TEST(TcpStreamTest, ReadWriteEofAndAgain) {
  Pair p = SocketPair();
  TcpStream s(std::move(p.a));
  char buf[16];
  EXPECT_EQ(s.Read(buf, sizeof buf), -EAGAIN);
  EXPECT_FALSE(s.InputPending());
  ASSERT_EQ(::write(p.b.get(), "hello", 5), 5);
  EXPECT_TRUE(s.InputPending());
  EXPECT_EQ(s.Buffered(), 0u);
  EXPECT_EQ(s.Read(buf, sizeof buf), 5);
  EXPECT_EQ(s.Write("abc", 3), 3);
  EXPECT_EQ(::read(p.b.get(), buf, sizeof buf), 3);
  p.b.reset();
  EXPECT_EQ(s.Read(buf, sizeof buf), 0);
}

TEST(TcpStreamTest, WriteToAClosedPeerIsEpipeNotSigpipe) {
  Pair p = SocketPair();
  TcpStream s(std::move(p.a));
  p.b.reset();
  EXPECT_EQ(s.Write("x", 1), -EPIPE);  // the test process would die of SIGPIPE otherwise
}

TEST(TcpStreamTest, ShutdownSendsEofButKeepsReading) {
  Pair p = SocketPair();
  TcpStream s(std::move(p.a));
  ASSERT_EQ(s.Write("bye", 3), 3);
  s.Shutdown();
  ASSERT_TRUE(util::SetNonBlocking(p.b.get(), false));
  EXPECT_EQ(ReadAll(p.b.get()), "bye");
  ASSERT_EQ(::write(p.b.get(), "late", 4), 4);
  char buf[8];
  EXPECT_EQ(s.Read(buf, sizeof buf), 4);
}

TEST(TcpStreamTest, SendFileAdvancesTheOffset) {
  const std::string content = "0123456789abcdef";
  TempFile f(content);
  Pair p = SocketPair();
  TcpStream s(std::move(p.a));
  uint64_t off = 4;
  s.SetBlockingSendFile(1000);
  EXPECT_EQ(s.SendFile(f.fd(), &off, 6), 6);
  EXPECT_EQ(off, 10u);
  EXPECT_EQ(s.SendFile(f.fd(), &off, 100), 6);
  EXPECT_EQ(off, 16u);
  EXPECT_EQ(s.SendFile(f.fd(), &off, 100), 0);  // end of the file
  s.SetBlockingSendFile(0);
  s.Close();
  ASSERT_TRUE(util::SetNonBlocking(p.b.get(), false));
  EXPECT_EQ(ReadAll(p.b.get()), "456789abcdef");
}

TEST(TcpStreamTest, SendFileByCopyLosesNothingOnShortWrites) {
  std::string content(100000, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 7);
  TempFile f(content);
  Pair p = SocketPair();
  testing_streams::PieceStream s(std::move(p.a), 3, 1000);  // at most 1000 bytes per Write
  std::string got;
  uint64_t off = 0;
  char buf[65536];
  while (off < content.size()) {
    const ssize_t n = SendFileByCopy(s, f.fd(), &off, content.size() - off);
    ASSERT_TRUE(n > 0 || n == -EAGAIN) << n;
    for (ssize_t r; (r = ::read(p.b.get(), buf, sizeof buf)) > 0;)
      got.append(buf, static_cast<size_t>(r));
  }
  EXPECT_EQ(SendFileByCopy(s, f.fd(), &off, 10), 0);
  EXPECT_TRUE(got == content);
}

// ---------------------------------------------------------------------------
// Wait

TEST(WaitTest, TimesOutWhenNothingIsReady) {
  Pair p = SocketPair();
  TcpStream s(std::move(p.a));
  const int64_t t0 = util::MonotonicNs();
  EXPECT_EQ(WaitFor(s, false, DeadlineAfterMs(30), nullptr, nullptr), WaitResult::kTimeout);
  EXPECT_GE(util::MonotonicNs() - t0, 30 * 1000000LL);
  EXPECT_EQ(WaitFor(s, false, kPollOnly, nullptr, nullptr), WaitResult::kTimeout);
}

TEST(WaitTest, ReadableWritableAndWhichOne) {
  Pair p = SocketPair();
  Pair q = SocketPair();
  TcpStream s(std::move(p.a));
  EXPECT_EQ(WaitFor(s, true, DeadlineAfterMs(1000), nullptr, nullptr), WaitResult::kReady);
  ASSERT_EQ(::write(q.b.get(), "x", 1), 1);
  WaitItem items[2] = {WaitItem{&s}, WaitItem{nullptr, q.a.get()}};
  EXPECT_EQ(Wait(items, DeadlineAfterMs(1000), nullptr, nullptr), WaitResult::kReady);
  EXPECT_FALSE(items[0].ready);
  EXPECT_TRUE(items[1].ready);
}

TEST(WaitTest, HangUpCountsAsReady) {
  Pair p = SocketPair();
  TcpStream s(std::move(p.a));
  p.b.reset();
  EXPECT_EQ(WaitFor(s, false, DeadlineAfterMs(1000), nullptr, nullptr), WaitResult::kReady);
}

// The bytes sit inside the stream, the fd is empty: the wait must not sleep
// (kNoDeadline would hang the test otherwise), and the other items are
// still looked at.
TEST(WaitTest, BytesTheStreamHoldsAreReadyAtOnce) {
  Pair p = SocketPair();
  Pair q = SocketPair();
  testing_streams::BufferingStream s(std::move(p.a), 1, 2);
  ASSERT_EQ(::write(p.b.get(), "USER anonymous\r\n", 16), 16);
  char buf[2];
  ASSERT_GT(s.Read(buf, sizeof buf), 0);
  ASSERT_GT(s.Buffered(), 0u);
  ASSERT_FALSE(TcpStream(UniqueFd(::dup(s.fd()))).InputPending());  // the fd shows nothing
  ASSERT_EQ(::write(q.b.get(), "x", 1), 1);
  WaitItem items[2] = {WaitItem{&s}, WaitItem{nullptr, q.a.get()}};
  EXPECT_EQ(Wait(items, kNoDeadline, nullptr, nullptr), WaitResult::kReady);
  EXPECT_TRUE(items[0].ready);
  EXPECT_TRUE(items[1].ready);
  // Writing is not helped by buffered input.
  WaitItem w{&s, -1, true};
  EXPECT_EQ(Wait(std::span<WaitItem>(&w, 1), DeadlineAfterMs(1000), nullptr, nullptr),
            WaitResult::kReady);
}

TEST(WaitTest, NoItemsIsASleep) {
  const int64_t t0 = util::MonotonicNs();
  EXPECT_EQ(Wait({}, DeadlineAfterMs(20), nullptr, nullptr), WaitResult::kTimeout);
  EXPECT_GE(util::MonotonicNs() - t0, 20 * 1000000LL);
}

std::atomic<int> g_usr1{0};
void OnUsr1(int) { g_usr1.fetch_add(1); }

// SIGUSR1 is blocked in the waiting thread and let in only by the wait mask,
// as the worker does with TERM/USR1/USR2: stop() decides whether it ends the
// wait.
void CheckSignalInsideWait(bool stop_says) {
  struct sigaction sa {};
  sa.sa_handler = OnUsr1;
  ASSERT_EQ(::sigaction(SIGUSR1, &sa, nullptr), 0);
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &block, &old), 0);
  sigset_t wait_mask = old;
  sigdelset(&wait_mask, SIGUSR1);
  g_usr1 = 0;
  const pthread_t self = ::pthread_self();
  std::thread killer([self] {
    ::usleep(50 * 1000);
    ::pthread_kill(self, SIGUSR1);
  });
  int asked = 0;
  const std::function<bool()> stop = [&] {
    ++asked;
    return stop_says;
  };
  Pair p = SocketPair();
  TcpStream s(std::move(p.a));
  const WaitResult r =
      WaitFor(s, false, DeadlineAfterMs(stop_says ? 10000 : 300), &wait_mask, &stop);
  killer.join();
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  EXPECT_EQ(g_usr1.load(), 1);
  EXPECT_EQ(asked, 1);
  EXPECT_EQ(r, stop_says ? WaitResult::kStopped : WaitResult::kTimeout);
}

TEST(WaitTest, SignalWithAStopOrderEndsTheWait) { CheckSignalInsideWait(true); }
TEST(WaitTest, SignalWithoutAStopOrderKeepsWaiting) { CheckSignalInsideWait(false); }

}  // namespace
}  // namespace poolftpd::net
