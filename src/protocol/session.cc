// The session's life: construction, the command loop (Run), replies and
// the ways a session ends.
#include "poolftpd/protocol/session.h"

#include "poolftpd/log/log.h"
#include "poolftpd/util/limits.h"
#include "session_internal.h"

namespace poolftpd::protocol {

Session::Session(const SessionEnv& env, net::Stream& control, const net::Endpoint& local,
                 const net::Endpoint& peer, std::string peer_name)
    : env_(env),
      cfg_(*env.config),
      ctl_(control,
           ControlTimeouts{cfg_.timeout_login, cfg_.timeout_idle, cfg_.timeout_no_transfer},
           env.wait_mask, env.stop_requested),
      local_(local),
      peer_(peer),
      peer_name_(std::move(peer_name)),
      status_(env.scoreboard, env.slot, env.record),
      rate_(static_cast<uint32_t>(cfg_.max_command_rate),
            static_cast<uint32_t>(cfg_.max_command_interval)) {}

void Session::Refuse(net::Stream& control, int code, std::string_view text) {
  ControlChannel::Refuse(control, code, text);
}

void Session::Reply(int code, std::string_view text) {
  if (!ctl_.Reply(code, text)) {
    done_ = true;
    end_ = SessionEnd::kClientGone;
  }
}

void Session::EndWith(SessionEnd how, int code, std::string_view text) {
  if (code) Reply(code, text);
  done_ = true;
  end_ = how;
}

void Session::EndStopped() {
  std::string text = env_.stop_text ? env_.stop_text(logged_in_ ? user_ : "", cwd_) : std::string();
  if (text.empty()) text = "Service not available, closing control connection";
  log::Info("session ended by the server: " + text);
  EndWith(SessionEnd::kStopped, 421, text);
}

SessionEnd Session::Run() {
  // Pool workers get sockets already set up (accept4 SOCK_NONBLOCK, options
  // inherited from the listener); inetd's socket is set here.
  if (!env_.socket_ready) ctl_.stream().PrepareControl();
  ctl_.Started();
  status_.State(sb::SlotState::kConnected);
  log::Info("FTP session opened.");

  std::string greeting;
  if (!cfg_.server_ident_on) {
    greeting = local_.addr.ToString() + " FTP server ready";
  } else if (!cfg_.server_ident_text.empty()) {
    greeting = cfg_.server_ident_text;
  } else {
    greeting = "poolftpd " POOLFTPD_VERSION " Server (" + cfg_.server_name + ") [" +
               local_.addr.ToString() + "]";
  }
  // A pending ftpshut shows as leading 220- lines.
  Reply(220, env_.greeting_warning.empty() ? greeting : env_.greeting_warning + "\n" + greeting);

  std::string line;
  while (!done_) {
    status_.State(logged_in_ ? sb::SlotState::kIdle : sb::SlotState::kConnected);
    // An order that could not end the session when it came (the master
    // died during a transfer, which runs to its end) ends it before the
    // next command.
    if (env_.stop_requested && env_.stop_requested()) {
      EndStopped();
      break;
    }
    const bool passive = data_.configured() && !data_.active();
    switch (ctl_.ReadLine(&line, logged_in_, passive ? passive_expiry_ms_ : 0)) {
      case Read::kLine:
        if (!AdmitCommand()) break;
        ctl_.CommandReceived();
        Dispatch(line);
        break;
      case Read::kTooLong:
        if (!AdmitCommand()) break;
        ctl_.CommandReceived();
        log::Warn("command line too long (over " + std::to_string(limits::kMaxCommandLine) +
                  " bytes), discarded");
        Reply(500, "Command line too long");
        break;
      case Read::kEof:
        done_ = true;
        end_ = SessionEnd::kClientGone;
        break;
      case Read::kStop:
        EndStopped();
        break;
      case Read::kTimeout:
        EndTimedOut();
        break;
      case Read::kWake:
        ClosePassiveUnused();
        break;
    }
  }
  status_.State(sb::SlotState::kClosing);
  data_.Reset();
  if (end_ != SessionEnd::kClientGone) ctl_.LingeringClose();
  log::Info("FTP session closed.");
  return end_;
}

void Session::ClosePassiveUnused() {
  log::Info("Data connection timeout: no transfer command within " +
            std::to_string(DataConnectTimeoutMs(cfg_) / 1000) + " seconds; passive port " +
            std::to_string(passive_port_) + " closed");
  data_.Reset();
  passive_expiry_ms_ = 0;
}

void Session::EndTimedOut() {
  const std::string msg = ctl_.TimeoutText(logged_in_);
  log::Info(msg + ", disconnected");
  EndWith(SessionEnd::kTimeout, 421, msg + ": closing control connection");
}

}  // namespace poolftpd::protocol
