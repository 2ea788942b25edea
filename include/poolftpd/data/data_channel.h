// The FTP data channel: PASV/EPSV listeners, PORT/EPRT targets, opening the
// connection with the foreign-address check, and the transfer loops
// (sendfile for binary RETR, LF->CRLF for ASCII, buffers for listings).
// Worker process only. Returns values; protocol turns them into replies.
#pragma once

#include <signal.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "poolftpd/config/config.h"
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

// How transfer loops wait: on the data fd, the control fd (for ABOR) and
// signals (unblocked only inside ppoll, so no wakeup is lost).
struct Hooks {
  int control_fd = -1;
  const sigset_t* wait_mask = nullptr;           // mask during ppoll
  std::function<bool()> stop_requested;          // checked after EINTR
  std::function<ControlAction()> on_control;     // control fd readable
  std::function<void(uint64_t)> progress;        // bytes so far
  int stall_timeout_ms = 0;                      // 0 = none
};

enum class Status {
  kOk,
  kAborted,     // ABOR (or control connection gone)
  kPeerClosed,  // data peer closed or reset
  kLocalError,  // reading the file failed
  kStalled,     // no progress within stall_timeout_ms
  kStopped,     // stop_requested() (TERM/kick)
  kTimeout,     // data connection not established in time
  kForeign,     // SECURITY: data connection from another address refused
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
  bool passive() const { return listen_fd_.valid(); }

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

// Sends [offset, size) of `file_fd` (a regular file) to `sock`; sendfile when
// `use_sendfile`, else read/write. *sent counts bytes sent.
Status SendFile(int sock, int file_fd, uint64_t offset, uint64_t size, bool use_sendfile,
                const Hooks& hooks, uint64_t* sent);
// Sends the file from `offset` with LF->CRLF conversion.
Status SendAscii(int sock, int file_fd, uint64_t offset, const Hooks& hooks, uint64_t* sent);
// Sends a buffer (listings).
Status SendBuffer(int sock, std::string_view buf, const Hooks& hooks, uint64_t* sent);

}  // namespace poolftpd::data
