// The FTP data channel: PASV/EPSV listeners, PORT/EPRT targets, opening the
// connection with the foreign-address check, and the transfer loops over a
// net::Stream (sendfile for binary RETR, LF->CRLF for ASCII, buffers for
// listings, and the receive loop stream -> file for uploads). Every wait
// goes through net::Wait. Worker process only. Returns values; protocol
// turns them into replies.
#pragma once

#include <signal.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "poolftpd/config/config.h"
#include "poolftpd/net/stream.h"
#include "poolftpd/util/net.h"
#include "poolftpd/util/result.h"
#include "poolftpd/util/unique_fd.h"

namespace poolftpd::data {

// "h1,h2,h3,h4,p1,p2" (RFC 959). nullopt on any malformed part.
std::optional<net::Endpoint> ParsePort(std::string_view arg);
// "|1|132.235.1.2|6275|" / "|2|::1|5282|" (RFC 2428). kInvalid → 501;
// kNotFound → unsupported network protocol (522).
Result<net::Endpoint> ParseEprt(std::string_view arg);
// "Entering Passive Mode (127,0,0,1,195,80)."
std::string FormatPasv(const net::IpAddress& addr, uint16_t port);

// LF -> CRLF for TYPE A. `prev_cr` carries whether the previous chunk ended
// in CR, so an existing CRLF is not doubled.
void ToAscii(std::string_view in, bool* prev_cr, std::string* out);

enum class ControlAction { kContinue, kAbort, kIgnore };

// How transfer loops wait (net::Wait): on the data connection, the control
// stream (for ABOR; its Buffered() bytes count as readable) and signals
// (unblocked only inside the wait, so no wakeup is lost). on_control runs
// when the control stream is readable: kContinue after reading it, kIgnore
// to stop watching it for the rest of the call (its bytes stay unread).
struct Hooks {
  net::Stream* control = nullptr;
  const sigset_t* wait_mask = nullptr;        // mask during the wait
  std::function<bool()> stop_requested;       // checked after EINTR
  std::function<ControlAction()> on_control;  // control stream readable
  std::function<void(uint64_t)> progress;     // bytes so far
  int stall_timeout_ms = 0;                   // 0 = none
  // Mask during a blocking sendfile step (null: left as it is): a signal it
  // lets through cuts the step short, and stop_requested is then asked
  // after every step.
  const sigset_t* send_mask = nullptr;
};

enum class Status {
  kOk,
  kAborted,     // ABOR (or control connection gone)
  kPeerClosed,  // data peer closed or reset
  kLocalError,  // reading the file failed
  kStalled,     // no progress within stall_timeout_ms
  kStopped,     // stop_requested() (TERM/kick)
  kTimeout,     // data connection not established in time
  kForeign,     // SECURITY (S5): data connection from another address refused
  kNoData,      // no PASV/PORT given
};

// "ok", "aborted", "peer closed", ... (debug lines).
const char* StatusName(Status status);

// The range PASV/EPSV draws from when PassivePorts is not set: the kernel's
// ephemeral range, read by the worker before chroot (ReadEphemeralRange).
// Binding a random port ourselves avoids the kernel's port-0 search, which
// crawls when tens of thousands of TIME_WAIT sockets sit on the address.
void ReadEphemeralRange();

class DataChannel {
 public:
  // Forgets any PASV listener and PORT target.
  void Reset();
  // PASV/EPSV: listen on `local` (the control connection's local address)
  // at a port of `range` (0,0: kernel's choice). Returns the port.
  Result<uint16_t> Listen(const net::IpAddress& local, config::PortRange range);
  // PORT/EPRT: connect later to `target`, from `local`.
  void SetActive(const net::Endpoint& target, const net::IpAddress& local);
  bool configured() const { return listen_fd_.valid() || active_; }
  // PORT/EPRT set: Open connects (so the session opens before its 150).
  bool active() const { return active_; }

  // Establishes the connection: accepts on the PASV listener (refusing a
  // peer other than `peer` unless allow_foreign) or connects to the PORT
  // target. The channel is reset afterwards either way.
  Status Open(const net::IpAddress& peer, bool allow_foreign, int timeout_ms, const Hooks& hooks,
              UniqueFd* out, std::string* detail);

 private:
  UniqueFd listen_fd_;
  bool active_ = false;
  net::Endpoint target_;
  net::IpAddress local_;
};

// The loops below take the data connection as a stream that is
// non-blocking on entry and on return. `progress` gets the running total
// after each system call that moved bytes; ABOR (on_control), TERM/kick
// (stop_requested) and the stall timeout are looked at whenever the loop
// waits, and at least once per 1 MiB step when it never has to.

// Sends [offset, size) of `file_fd` (a regular file) to `out`: with
// `use_sendfile` in blocking 1 MiB Stream::SendFile steps (1 s each at
// most), else pread + Write. *sent counts bytes sent.
Status SendFile(net::Stream& out, int file_fd, uint64_t offset, uint64_t size, bool use_sendfile,
                const Hooks& hooks, uint64_t* sent);
// Sends the file from `offset` with LF->CRLF conversion.
Status SendAscii(net::Stream& out, int file_fd, uint64_t offset, const Hooks& hooks,
                 uint64_t* sent);
// Sends a buffer (listings).
Status SendBuffer(net::Stream& out, std::string_view buf, const Hooks& hooks, uint64_t* sent);
// Receives `in` to its EOF into `file_fd` from `offset` (pwrite; uploads,
// binary). *received counts bytes written to the file. kOk at the peer's
// orderly EOF; kPeerClosed on a reset; kLocalError when writing fails.
Status ReceiveFile(net::Stream& in, int file_fd, uint64_t offset, const Hooks& hooks,
                   uint64_t* received);

}  // namespace poolftpd::data
