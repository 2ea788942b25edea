// Data-connection set-up: PASV and EPSV share one passive set-up
// (SetUpPassive), PORT and EPRT one active set-up (SetUpActive); the
// handlers only parse their argument and check what is particular to them.
#include "poolftpd/log/log.h"
#include "poolftpd/protocol/session.h"
#include "poolftpd/util/io.h"
#include "poolftpd/util/strings.h"
#include "session_internal.h"

namespace poolftpd::protocol {

bool Session::RefusedAfterEpsvAll(std::string_view verb) {
  if (!epsv_all_) return false;
  Reply(501, std::string(verb) + " not allowed after EPSV ALL");
  return true;
}

void Session::SetUpPassive(std::string_view verb, bool extended) {
  // Listen() first closes this session's previous listener, so PASV after
  // PASV holds one port, never more.
  auto port = data_.Listen(local_.addr, cfg_.passive_ports);
  if (!port) {
    log::Warn(std::string(verb) + ": " + port.error().message());
    Reply(425, "Unable to build data connection: no free port");
    return;
  }
  // SECURITY (S5): a listener the client never uses is closed after the data
  // timeout, so idle sessions cannot hold the PassivePorts range.
  passive_expiry_ms_ = util::MonotonicMs() + DataConnectTimeoutMs(cfg_);
  passive_port_ = *port;
  if (extended) {
    Reply(229, "Entering Extended Passive Mode (|||" + std::to_string(*port) + "|)");
    return;
  }
  net::IpAddress shown = local_.addr;
  if (cfg_.masquerade_address && cfg_.masquerade_address->is_v4()) shown = *cfg_.masquerade_address;
  Reply(227, data::FormatPasv(shown, *port));
}

void Session::SetUpActive(std::string_view verb, const net::Endpoint& ep) {
  // SECURITY (S5): the target must be the client itself (no FTP bounce) and not a
  // privileged port; the client controls every byte of the argument.
  if (!(ep.addr == peer_.addr) || ep.port < 1024) {
    log::Warn("Refused " + std::string(verb) + " " + ep.ToString() +
              " (address or port not allowed)");
    Reply(500, "Illegal " + std::string(verb) + " command");
    return;
  }
  data_.SetActive(ep, local_.addr);
  Reply(200, std::string(verb) + " command successful");
}

void Session::DoPasv(const Command&) {
  if (RefusedAfterEpsvAll("PASV")) return;
  if (!local_.addr.is_v4()) {
    Reply(501, "PASV not possible over IPv6: use EPSV");
    return;
  }
  SetUpPassive("PASV", /*extended=*/false);
}

void Session::DoEpsv(const Command& cmd) {
  const std::string_view arg = cmd.arg;
  const std::string a = util::ToUpper(util::Trim(arg));
  if (a == "ALL") {
    epsv_all_ = true;
    Reply(200, "EPSV ALL command successful");
    return;
  }
  if (!a.empty()) {
    const bool want_v4 = a == "1", want_v6 = a == "2";
    if (!want_v4 && !want_v6) {
      Reply(522, "Network protocol not supported, use (1,2)");
      return;
    }
    if (want_v4 != local_.addr.is_v4()) {
      Reply(522, std::string("Network protocol not supported, use (") +
                     (local_.addr.is_v4() ? "1" : "2") + ")");
      return;
    }
  }
  SetUpPassive("EPSV", /*extended=*/true);
}

void Session::DoPort(const Command& cmd) {
  if (RefusedAfterEpsvAll("PORT")) return;
  auto ep = data::ParsePort(util::Trim(cmd.arg));
  if (!ep) {
    Reply(501, "Illegal PORT command");
    return;
  }
  SetUpActive("PORT", *ep);
}

void Session::DoEprt(const Command& cmd) {
  if (RefusedAfterEpsvAll("EPRT")) return;
  auto ep = data::ParseEprt(util::Trim(cmd.arg));
  if (!ep) {
    if (ep.error().code() == ErrorCode::kNotFound)
      Reply(522, "Network protocol not supported, use (1,2)");
    else
      Reply(501, "Illegal EPRT command");
    return;
  }
  SetUpActive("EPRT", *ep);
}

}  // namespace poolftpd::protocol
