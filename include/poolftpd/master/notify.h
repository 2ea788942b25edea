// Readiness notification over $NOTIFY_SOCKET (the sd_notify protocol), which
// serves systemd Type=notify/notify-reload units and start-stop-daemon
// --notify-await alike. Master process only; a no-op when the variable is unset.
#pragma once

#include <string>

namespace poolftpd::master {

class Notifier {
 public:
  // Reads and unsets $NOTIFY_SOCKET (workers must not inherit it).
  void Init();
  bool enabled() const { return !path_.empty(); }
  // Sends one datagram ("READY=1\nSTATUS=..."); errors are ignored.
  void Send(const std::string& message) const;
  // "RELOADING=1\nMONOTONIC_USEC=<now>" as systemd's notify-reload expects.
  void Reloading() const;

 private:
  std::string path_;
};

}  // namespace poolftpd::master
