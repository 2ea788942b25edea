// SystemLog and TransferLog. The master opens (and on HUP/USR1 reopens) the
// files; workers inherit the fds across fork and write whole lines with one
// O_APPEND write each, so lines from many processes never interleave.
// Line shapes follow ProFTPD (SystemLog) and xferlog(5) (TransferLog).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "poolftpd/util/result.h"

namespace poolftpd::log {

enum class Level : int { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

// Process-wide log state. Master: Open/Reopen. Everyone: the Write* calls.
// Not thread-safe (poolftpd processes are single-threaded).
class Logs {
 public:
  // Paths empty = not configured. With no SystemLog, lines go to stderr when
  // `foreground`, else to syslog(3) (LOG_DAEMON, socket opened at once so
  // it survives chroot).
  static Result<void> Open(const std::string& system_log, const std::string& transfer_log,
                           bool foreground);
  // Reopen the same or new paths; on failure the old fds stay in use.
  static Result<void> Reopen(const std::string& system_log, const std::string& transfer_log);
  static void SetDebugLevel(int level);
  // In a new child: refresh the cached PID written in each line.
  static void AfterFork();  // -d N: kDebug lines need N >= 1
  static int debug_level();
  // The "(name[ip])" client part of session lines; "" outside sessions.
  static void SetClient(std::string_view name, std::string_view ip);
  static void ClearClient();
  // The fds workers must keep open (others may be closed).
  static int system_fd();
  static int transfer_fd();
};

// "2026-11-21 11:39:26,123 poolftpd[PID] HOST (name[ip]): message"
// `message` must already be escaped of client control bytes.
void Write(Level level, std::string_view message);
inline void Error(std::string_view m) { Write(Level::kError, m); }
inline void Warn(std::string_view m) { Write(Level::kWarn, m); }
inline void Info(std::string_view m) { Write(Level::kInfo, m); }
void Debug(int level, std::string_view message);

// Formats one SystemLog line (exposed for tests).
std::string FormatSystemLine(int64_t now_ns, std::string_view host, int pid,
                             std::string_view client_name, std::string_view client_ip,
                             std::string_view message);

struct XferRecord {
  int64_t now_s = 0;           // completion time (seconds since epoch)
  int64_t seconds = 0;         // transfer time, rounded, at least 1 if data moved
  std::string remote_host;
  uint64_t bytes = 0;
  std::string filename;        // real path
  bool ascii = false;
  char direction = 'o';        // 'o' outgoing, 'i' incoming
  char access_mode = 'a';      // 'a' anonymous, 'r' real, 'g' guest
  std::string username;        // for anonymous: the password (e-mail) given
  bool complete = true;        // 'c' or 'i'
};
// One xferlog(5) line, 14 fields, ending in '\n'.
std::string FormatXferLine(const XferRecord& r);
void WriteXfer(const XferRecord& r);

}  // namespace poolftpd::log
