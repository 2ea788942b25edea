// Transfers: the one runner for either direction (RunTransfer), the
// control connection while data moves, and RETR.
#include <fcntl.h>
#include <sys/stat.h>

#include "poolftpd/log/log.h"
#include "poolftpd/protocol/session.h"
#include "poolftpd/util/io.h"
#include "poolftpd/util/limits.h"
#include "poolftpd/util/strings.h"
#include "session_internal.h"

namespace poolftpd::protocol {
int DataConnectTimeoutMs(const config::Config& cfg) {
  constexpr int kMaxMs = 30000;
  if (cfg.timeout_stalled <= 0 || cfg.timeout_stalled >= kMaxMs / 1000) return kMaxMs;
  return cfg.timeout_stalled * 1000;
}

data::ControlAction Session::OnControlDuringTransfer() {
  if (!ctl_.ReadDuringTransfer()) {
    done_ = true;
    end_ = SessionEnd::kClientGone;
    return data::ControlAction::kAbort;
  }
  std::string line;
  for (;;) {
    const auto next = ctl_.PopLine(&line);
    if (next == LineReader::Next::kNeedMore) break;
    if (next == LineReader::Next::kTooLong) {
      log::Warn("command line too long (over " + std::to_string(limits::kMaxCommandLine) +
                " bytes) during a transfer, discarded");
      Reply(500, "Command line too long");
      continue;
    }
    const std::string verb = util::ToUpper(util::Trim(line).substr(0, line.find(' ')));
    // Lines queued for afterwards are logged when they are dispatched.
    if (log::DebugEnabled(5) && (verb == "ABOR" || verb == "STAT" || verb == "NOOP"))
      DebugCommand(line, " during a transfer");
    if (verb == "ABOR") {
      abort_seen_ = true;
      return data::ControlAction::kAbort;
    }
    // SECURITY (S2): over MaxCommandRate, NOOP and STAT wait in the queue like
    // any other command (and are delayed after the transfer) instead of
    // being answered at once; ABOR is never delayed.
    const bool stat = verb == "STAT" && util::Trim(line).size() == 4;
    if ((stat || verb == "NOOP") && rate_.enabled()) {
      const int64_t now_ns = util::MonotonicNs();
      if (rate_.WouldDelay(now_ns)) {
        if (ctl_.Queue(line)) return data::ControlAction::kIgnore;
        continue;
      }
      (void)rate_.Admit(now_ns);
    }
    if (stat) {
      Reply(213,
            "Status: transfer of " + util::EscapeControl(status_.transfer_path()) + " in progress");
      continue;
    }
    if (verb == "NOOP") {
      Reply(200, "NOOP command successful");
      continue;
    }
    if (ctl_.Queue(std::move(line))) return data::ControlAction::kIgnore;
  }
  return ctl_.reader_full() ? data::ControlAction::kIgnore : data::ControlAction::kContinue;
}

data::Hooks Session::MakeHooks() {
  data::Hooks h;
  h.control = &ctl_.stream();
  h.wait_mask = env_.wait_mask;
  h.send_mask = env_.send_mask;
  h.stop_requested = env_.stop_requested;
  h.on_control = [this] { return OnControlDuringTransfer(); };
  h.stall_timeout_ms = cfg_.timeout_stalled > 0 ? cfg_.timeout_stalled * 1000 : 0;
  return h;
}

bool Session::RunTransfer(std::string_view opening, sb::XferDir dir, std::string_view vpath,
                          uint64_t size, uint64_t offset, const TransferFn& transfer,
                          uint64_t* moved, data::Status* status) {
  *moved = 0;
  if (!data_.configured()) {
    Reply(425, "Unable to build data connection: use PORT, EPRT, PASV or EPSV first");
    *status = data::Status::kNoData;
    return false;
  }
  data::Hooks hooks = MakeHooks();
  UniqueFd sock;
  std::string detail;
  data::Status st = data::Status::kOk;
  const bool active = data_.active();
  if (active) {
    // PORT/EPRT: connect before the 150, so a refused or unreachable client
    // port is a plain 425 (RFC 959: "Can't open data connection") and not a
    // 150 followed by 426. Passive mode must send 150 first: the client may
    // connect only after it.
    st = data_.Open(peer_.addr, cfg_.allow_foreign_address, DataConnectTimeoutMs(cfg_), hooks,
                    &sock, &detail);
    if (st != data::Status::kOk) {
      *status = data::Status::kNoData;  // no transfer took place
      switch (st) {
        case data::Status::kStopped:
          EndStopped();
          break;
        case data::Status::kAborted:
          if (done_) break;  // control connection gone
          Reply(426, "Transfer aborted. Data connection closed.");
          Reply(226, "Abort successful");
          break;
        case data::Status::kTimeout:
          log::Info("Data connection timeout: could not connect to the client's port within " +
                    std::to_string(DataConnectTimeoutMs(cfg_) / 1000) + " seconds");
          Reply(425, "Can't open data connection: Connection timed out");
          break;
        default:
          Reply(425, "Can't open data connection");
          break;
      }
      return false;
    }
  }
  Reply(150, opening);
  abort_seen_ = false;
  status_.TransferStarted(dir, vpath, size, offset);
  POOLFTPD_DEBUG(7, "transfer start: ",
                 dir == sb::XferDir::kRetr   ? "RETR "
                 : dir == sb::XferDir::kStor ? "STOR "
                                             : "listing of ",
                 util::EscapeControl(vpath), " (size ", size, ", offset ",
                 status_.transfer_offset(), ", ", ascii_ ? "TYPE A" : "TYPE I", ", ",
                 active ? "active" : "passive", ")");

  if (!active)
    st = data_.Open(peer_.addr, cfg_.allow_foreign_address, DataConnectTimeoutMs(cfg_), hooks,
                    &sock, &detail);
  if (st == data::Status::kOk) {
    hooks.progress = [this](uint64_t b) { status_.Progress(b); };
    net::TcpStream stream(std::move(sock));
    st = transfer(stream, hooks, moved);
    // Orderly close so the client reads to EOF.
    if (st == data::Status::kOk) stream.Shutdown();
  }
  // Bytes a loop moved without reporting them still count once.
  status_.TransferEnded(*moved);
  ctl_.TransferEnded();
  POOLFTPD_DEBUG(7, "transfer end: ", data::StatusName(st), ", ", *moved, " bytes in ",
                 (util::RealtimeNs() - status_.transfer_start_ns()) / 1000000, " ms",
                 detail.empty() ? std::string() : " (" + util::EscapeControl(detail) + ")");
  *status = st;
  switch (st) {
    case data::Status::kOk:
      Reply(226, "Transfer complete");
      return true;
    case data::Status::kAborted:
      if (done_) return false;  // control connection gone
      Reply(426, "Transfer aborted. Data connection closed.");
      Reply(226, "Abort successful");
      return false;
    case data::Status::kForeign:
      log::Warn("SECURITY VIOLATION: data connection from foreign address " + detail + " refused");
      Reply(425, "Unable to build data connection: connection from foreign address refused");
      return false;
    case data::Status::kTimeout:
      log::Info("Data connection timeout: the client did not connect within " +
                std::to_string(DataConnectTimeoutMs(cfg_) / 1000) +
                " seconds; passive listener closed");
      Reply(425, "Unable to build data connection: Connection timed out");
      return false;
    case data::Status::kNoData:
      Reply(425, "Unable to build data connection");
      return false;
    case data::Status::kPeerClosed:
      Reply(426, "Data connection closed; transfer aborted");
      return false;
    case data::Status::kLocalError:
      Reply(451, "Transfer aborted: local error in processing");
      return false;
    case data::Status::kStalled:
      log::Info("Data transfer stall timeout: " + std::to_string(cfg_.timeout_stalled) +
                " seconds");
      EndWith(SessionEnd::kTimeout, 421,
              "Data transfer stall timeout: " + std::to_string(cfg_.timeout_stalled) + " seconds");
      return false;
    case data::Status::kStopped:
      EndStopped();
      return false;
  }
  return false;
}

void Session::DoRetr(const Command& cmd) {
  const std::string_view arg = cmd.arg;
  const uint64_t offset = rest_;
  rest_ = 0;
  const std::string& vpath = cmd.vpath;
  auto fd = root_->Open(vpath, O_RDONLY | O_NOCTTY | O_NONBLOCK);
  if (!fd) {
    Reply(550, ErrnoText(arg, fd.error().sys_errno()));
    return;
  }
  struct stat st;
  if (::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    Reply(550, PathText(arg.substr(0, 512)) + ": Not a regular file");
    return;
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (offset > size) {
    Reply(554, "Invalid REST parameter: offset " + std::to_string(offset) + " beyond file size " +
                   std::to_string(size));
    return;
  }
  ::posix_fadvise(fd->get(), static_cast<off_t>(offset), 0, POSIX_FADV_SEQUENTIAL);
  const std::string opening = std::string("Opening ") + (ascii_ ? "ASCII" : "BINARY") +
                              " mode data connection for " + PathText(arg.substr(0, 512)) + " (" +
                              std::to_string(size - offset) + " bytes)";
  const int file_fd = fd->get();
  const bool ascii = ascii_;
  const bool use_sendfile = cfg_.use_sendfile;
  uint64_t sent = 0;
  data::Status status;
  const int64_t t0 = util::MonotonicMs();
  RunTransfer(
      opening, sb::XferDir::kRetr, vpath, size, offset,
      [&](net::Stream& out, const data::Hooks& h, uint64_t* n) {
        return ascii ? data::SendAscii(out, file_fd, offset, h, n)
                     : data::SendFile(out, file_fd, offset, size, use_sendfile, h, n);
      },
      &sent, &status);
  if (status == data::Status::kNoData) return;
  log::XferRecord x;
  x.now_s = util::RealtimeNs() / 1000000000;
  const int64_t ms = util::MonotonicMs() - t0;
  x.seconds = (ms + 500) / 1000;
  if (x.seconds == 0 && sent > 0) x.seconds = 1;
  x.remote_host = peer_name_.empty() ? peer_.addr.ToString() : peer_name_;
  x.bytes = sent;
  x.filename = real_root_ == "/" ? vpath : std::string(real_root_) + vpath;
  x.ascii = ascii;
  x.direction = 'o';
  x.access_mode = 'a';
  x.username = anon_pass_.empty() ? user_ : anon_pass_;
  x.complete = status == data::Status::kOk;
  log::WriteXfer(x);
}

}  // namespace poolftpd::protocol
