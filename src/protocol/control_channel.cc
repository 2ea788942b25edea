#include "poolftpd/protocol/control_channel.h"

#include <cerrno>

#include "poolftpd/log/log.h"
#include "poolftpd/net/wait.h"
#include "poolftpd/protocol/reply.h"
#include "poolftpd/util/io.h"
#include "poolftpd/util/limits.h"
#include "poolftpd/util/strings.h"

namespace poolftpd::protocol {
namespace {

// Each line of a formatted reply ("230-...\r\n 230 ...\r\n"), at most
// kMaxLines of them (a STAT of a big directory is one reply). SECURITY (S2): the
// 500 for an unknown verb echoes it, so "PASSsecret" comes back as
// "500 PASSSECRET not understood": that one is masked too.
[[gnu::cold, gnu::noinline]] void DebugReply(std::string_view reply) {
  constexpr size_t kMaxLines = 32;
  if (reply.starts_with("500 PASS")) {
    log::Debug(5, "sending reply '500 (hidden)'");
    return;
  }
  size_t n = 0;
  for (size_t pos = 0; pos < reply.size(); ++n) {
    size_t end = reply.find("\r\n", pos);
    if (end == std::string_view::npos) end = reply.size();
    if (n < kMaxLines)
      log::DebugJoin(5, "sending reply '", util::EscapeControl(reply.substr(pos, end - pos)), "'");
    pos = end + 2;
  }
  if (n > kMaxLines) log::DebugJoin(5, "sending reply: ", n - kMaxLines, " more line(s) not shown");
}

}  // namespace

ControlChannel::ControlChannel(net::Stream& stream, ControlTimeouts timeouts,
                               const sigset_t* wait_mask, const std::function<bool()>& stop)
    : stream_(stream), timeouts_(timeouts), wait_mask_(wait_mask), stop_(stop) {}

void ControlChannel::Refuse(net::Stream& stream, int code, std::string_view text) {
  const std::string r = FormatReply(code, text);
  if (log::DebugEnabled(5)) DebugReply(r);
  (void)stream.Write(r.data(), r.size());
}

bool ControlChannel::Reply(int code, std::string_view text) {
  const std::string r = FormatReply(code, text);
  if (log::DebugEnabled(5)) [[unlikely]]
    DebugReply(r);
  std::string_view left = r;
  while (!left.empty() && stream_.fd() >= 0) {
    const ssize_t n = stream_.Write(left.data(), left.size());
    if (n >= 0) {
      left.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n == -EINTR) continue;
    if (n == -EAGAIN &&
        net::WaitFor(stream_, /*write=*/true,
                     net::DeadlineAfterMs((timeouts_.idle_s > 0 ? timeouts_.idle_s : 600) * 1000LL),
                     wait_mask_, &stop_) == net::WaitResult::kReady)
      continue;
    // The client stopped reading or vanished: the session is over.
    return false;
  }
  return left.empty();
}

void ControlChannel::Started() {
  start_ms_ = last_command_ms_ = last_transfer_ms_ = util::MonotonicMs();
}
void ControlChannel::CommandReceived() { last_command_ms_ = util::MonotonicMs(); }
void ControlChannel::TransferEnded() { last_transfer_ms_ = util::MonotonicMs(); }

std::string ControlChannel::TimeoutText(bool logged_in) const {
  const int64_t now = util::MonotonicMs();
  if (!logged_in && timeouts_.login_s > 0 && now - start_ms_ >= timeouts_.login_s * 1000LL)
    return "Login timeout (" + std::to_string(timeouts_.login_s) + " seconds)";
  if (timeouts_.idle_s > 0 && now - last_command_ms_ >= timeouts_.idle_s * 1000LL)
    return "Idle timeout (" + std::to_string(timeouts_.idle_s) + " seconds)";
  return "No transfer timeout (" + std::to_string(timeouts_.no_transfer_s) + " seconds)";
}

int64_t ControlChannel::LoginDeadlineNs() const {
  if (timeouts_.login_s <= 0) return net::kNoDeadline;
  return (start_ms_ + timeouts_.login_s * 1000LL) * 1000000;
}

ControlChannel::Read ControlChannel::ReadLine(std::string* line, bool logged_in, int64_t wake_ms) {
  if (!pending_.empty()) {
    *line = std::move(pending_.front());
    pending_.erase(pending_.begin());
    return Read::kLine;
  }
  for (;;) {
    switch (reader_.Pop(line)) {
      case LineReader::Next::kLine:
        return Read::kLine;
      case LineReader::Next::kTooLong:
        return Read::kTooLong;
      case LineReader::Next::kNeedMore:
        break;
    }
    // The nearest timeout decides how long we may wait.
    int64_t deadline = 0;
    auto consider = [&](int seconds, int64_t since) {
      if (seconds <= 0) return;
      const int64_t d = since + static_cast<int64_t>(seconds) * 1000;
      if (deadline == 0 || d < deadline) deadline = d;
    };
    if (!logged_in) consider(timeouts_.login_s, start_ms_);
    consider(timeouts_.idle_s, last_command_ms_);
    if (logged_in) consider(timeouts_.no_transfer_s, last_transfer_ms_);
    const int64_t now = util::MonotonicMs();
    if (deadline && deadline - now <= 0) return Read::kTimeout;
    // Past the wake time, input already there still comes first (one look).
    const bool woke = wake_ms && wake_ms - now <= 0;
    int64_t until = net::kNoDeadline;  // ns
    if (woke) until = net::kPollOnly;
    else if (wake_ms && (!deadline || wake_ms < deadline))
      until = wake_ms * 1000000;
    else if (deadline)
      until = deadline * 1000000;
    switch (net::WaitFor(stream_, /*write=*/false, until, wait_mask_, &stop_)) {
      case net::WaitResult::kReady:
        break;
      case net::WaitResult::kTimeout:
        if (woke) return Read::kWake;
        continue;  // re-evaluated above: kTimeout, or kWake after one look
      case net::WaitResult::kStopped:
        return Read::kStop;
      case net::WaitResult::kError:
        return Read::kEof;
    }
    // Small: an idle session sits in the wait below this frame, and each
    // 4 KiB of stack it spans is a private page in every worker. Commands
    // are short; a longer burst just takes another read.
    char buf[512];
    const ssize_t n = stream_.Read(buf, sizeof buf);
    if (n == 0) return Read::kEof;
    if (n < 0) {
      if (n == -EAGAIN || n == -EINTR) continue;
      return Read::kEof;
    }
    reader_.Feed(std::string_view(buf, static_cast<size_t>(n)));
  }
}

bool ControlChannel::ReadDuringTransfer() {
  char buf[4096];
  // Bytes the stream holds (a TLS record decrypted at once) are taken in
  // the same call, so a whole ABOR is seen at one check; for TcpStream
  // Buffered() is 0 and this is one read.
  do {
    const ssize_t n = stream_.Read(buf, sizeof buf);
    if (n == 0) return false;
    if (n < 0) return n == -EAGAIN || n == -EINTR;
    reader_.Feed(std::string_view(buf, static_cast<size_t>(n)));
  } while (stream_.Buffered() > 0 && !reader_.full());
  return true;
}

bool ControlChannel::Queue(std::string line) {
  pending_.push_back(std::move(line));
  return pending_.size() >= limits::kMaxPendingLines;
}

void ControlChannel::DiscardBuffered() {
  const size_t dropped = reader_.buffered() + stream_.Buffered();
  reader_.Clear();
  pending_.clear();
  stream_.DiscardBuffered();
  if (dropped > 0)
    POOLFTPD_DEBUG(5, "control: ", dropped,
                   " byte(s) received before the change of protection dropped");
}

bool ControlChannel::SleepUntil(int64_t deadline_ns) {
  return net::Wait({}, deadline_ns, wait_mask_, &stop_) != net::WaitResult::kStopped;
}

void ControlChannel::LingeringClose() {
  // Closing a socket with unread input makes the kernel send RST and drop
  // what is still queued for the client, the final 421 included (a
  // pipelined flood always leaves input). As nginx's lingering close: send
  // FIN after the replies, then read and discard for a bounded while.
  if (stream_.fd() < 0) return;
  if (reader_.buffered() == 0 && !stream_.InputPending()) return;
  stream_.Shutdown();
  constexpr int64_t kLingerMs = 1000;
  constexpr size_t kLingerBytes = 1024 * 1024;
  const int64_t deadline = net::DeadlineAfterMs(kLingerMs);
  size_t drained = 0;
  char buf[4096];
  while (drained < kLingerBytes) {
    if (net::WaitFor(stream_, /*write=*/false, deadline, wait_mask_, &stop_) !=
        net::WaitResult::kReady)
      break;
    const ssize_t n = stream_.Read(buf, sizeof buf);
    if (n == -EAGAIN || n == -EINTR) continue;
    if (n <= 0) break;  // the client closed too
    drained += static_cast<size_t>(n);
  }
}

}  // namespace poolftpd::protocol
