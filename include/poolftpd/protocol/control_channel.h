// The control connection of one session, as I/O: reply writing, command
// line reading with the session timeouts, reading while a transfer runs,
// the discard rule for a change of protection, and the lingering close.
// It drives a net::Stream (a TcpStream, or a TLS stream after AUTH TLS) and
// waits only through net::Wait, so protocol makes no socket or poll system
// call. The FTP decisions (what a line means, which reply) stay in Session.
// Worker process only; one per session, no heap block of its own.
#pragma once

#include <signal.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "poolftpd/net/stream.h"
#include "poolftpd/protocol/line_reader.h"

namespace poolftpd::protocol {

// Seconds from the config (0 = off), as TimeoutLogin/Idle/NoTransfer.
struct ControlTimeouts {
  int login_s = 0;
  int idle_s = 0;
  int no_transfer_s = 0;
};

class ControlChannel {
 public:
  // kWake: the caller's own deadline (ReadLine's `wake_ms`) came first.
  enum class Read { kLine, kEof, kTimeout, kStop, kTooLong, kWake };

  // `stream`, `wait_mask` and `stop` outlive the channel. `stop` (may be
  // empty) is asked after a signal interrupted a wait: TERM or a kick.
  ControlChannel(net::Stream& stream, ControlTimeouts timeouts, const sigset_t* wait_mask,
                 const std::function<bool()>& stop);
  ControlChannel(const ControlChannel&) = delete;
  ControlChannel& operator=(const ControlChannel&) = delete;

  net::Stream& stream() { return stream_; }

  // Formats (FormatReply) and writes one reply, waiting for room while the
  // client reads slowly (at most TimeoutIdle, else 600 s, per wait). False
  // when the client stopped reading, vanished, or a stop order came: the
  // session is over. Debug level 5 logs each line (PASS-like 500s masked).
  bool Reply(int code, std::string_view text);
  // One reply on a stream that has no session (the 421 refusals), without
  // waiting.
  static void Refuse(net::Stream& stream, int code, std::string_view text);

  // The clocks of the timeouts: session start (also sets the others),
  // each command received, each transfer (or login) ended.
  void Started();
  void CommandReceived();
  void TransferEnded();
  // Text of the timeout that expired (for the 421 and the log line).
  std::string TimeoutText(bool logged_in) const;
  // End of the TimeoutLogin window (monotonic ns; net::kNoDeadline if off).
  int64_t LoginDeadlineNs() const;

  // The next command line: a line queued during a transfer first, then the
  // reader, then the stream (waiting until the nearest of TimeoutLogin (not
  // `logged_in`), TimeoutIdle, TimeoutNoTransfer (`logged_in`)). `wake_ms`
  // (monotonic ms, 0 = none): kWake once it has passed with no line read and
  // no timeout expired (the session's unused PASV listener).
  Read ReadLine(std::string* line, bool logged_in, int64_t wake_ms = 0);

  // During a transfer (the control stream is readable): reads what is there
  // into the reader (one read, and more while the stream holds Buffered()
  // bytes). False at EOF or on an error (the client is gone); true also
  // when nothing could be read yet.
  bool ReadDuringTransfer();
  // Next complete line already received (no I/O).
  LineReader::Next PopLine(std::string* line) { return reader_.Pop(line); }
  // Keeps a line received during a transfer for ReadLine. True when the
  // queue is full (limits::kMaxPendingLines): stop reading the control
  // connection until the transfer ends.
  bool Queue(std::string line);
  // The reader holds more than it will take before lines are popped.
  bool reader_full() const { return reader_.full(); }

  // SECURITY (S2): the STARTTLS injection rule. When the channel changes
  // protection (AUTH TLS, later CCC), every byte received before the change
  // is dropped: the reader's bytes, queued lines and the stream's Buffered()
  // bytes, so plaintext a client (or an attacker on the path) pipelined
  // behind AUTH is never read as a command under the new protection. Bytes
  // still in the kernel belong to the next layer (the TLS handshake).
  void DiscardBuffered();

  // Sleeps until `deadline_ns` (monotonic) letting signals in; false when
  // stop() ended it early.
  bool SleepUntil(int64_t deadline_ns);

  // Before close, when unread input remains (a pipelined flood): FIN, then
  // discard the client's input for at most 1 s / 1 MiB, so the kernel does
  // not answer it with an RST that would drop the final reply.
  void LingeringClose();

 private:
  net::Stream& stream_;
  ControlTimeouts timeouts_;
  const sigset_t* wait_mask_;
  const std::function<bool()>& stop_;
  LineReader reader_;
  // Lines received during a transfer (at most limits::kMaxPendingLines; a
  // vector allocates nothing until used, a std::deque 576 bytes at once).
  std::vector<std::string> pending_;
  int64_t start_ms_ = 0;
  int64_t last_command_ms_ = 0;
  int64_t last_transfer_ms_ = 0;
};

}  // namespace poolftpd::protocol
