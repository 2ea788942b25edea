// SystemLog and TransferLog. The master opens (and on HUP/USR1 reopens) the
// files; workers inherit the fds across fork and write whole lines with one
// O_APPEND write each, so lines from many processes never interleave.
// Line shapes follow ProFTPD (SystemLog) and xferlog(5) (TransferLog).
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "poolftpd/util/result.h"

namespace poolftpd::log {

// Debug levels (ProFTPD's -d / DebugLevel), each including the ones below:
//   1-4  the few existing diagnostics
//   5    every command received and every reply sent, in every session
//   7    data connections (PASV/EPSV/PORT/EPRT, accept/connect, peer check)
//        and transfer steps (start, sizes, end, abort, errors)
//   8    each sendfile step / buffer chunk of a transfer
//   9    pool decisions of the master (spawn, retire, rate, back-off, full, reap)
namespace internal {
// The process's debug level. An atomic so the worker's signal handler
// (ftpdctl debug N, forwarded by the master) may store it; always lock-free.
inline std::atomic<int> g_debug_level{0};
static_assert(std::atomic<int>::is_always_lock_free);
}  // namespace internal

// Whether debug lines of `level` are wanted: one relaxed load and a compare.
// Call sites test it before building any text, so debug logging costs
// nothing else when off:  if (log::DebugEnabled(5)) log::Debug(5, "..." + x);
inline bool DebugEnabled(int level) noexcept {
  return internal::g_debug_level.load(std::memory_order_relaxed) >= level;
}
// Async-signal-safe (a lock-free atomic store): for the worker's handler.
inline void SetDebugLevelFromSignal(int level) noexcept {
  internal::g_debug_level.store(level, std::memory_order_relaxed);
}

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
  // -d N / DebugLevel N / ftpdctl debug N (0-9). kDebug lines need N >= 1.
  static void SetDebugLevel(int level);
  static int debug_level();
  // In a new child: refresh the cached PID written in each line.
  static void AfterFork();
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
// "debug: message" at Info, when the level is at least `level`. Keeps errno.
void Debug(int level, std::string_view message);

namespace internal {
inline void AppendPart(std::string* out, std::string_view s) { out->append(s); }
inline void AppendPart(std::string* out, char c) { out->push_back(c); }
template <typename T>
requires(std::is_integral_v<T> && !std::is_same_v<T, bool> &&
         !std::is_same_v<T, char>) inline void AppendPart(std::string* out, T v) {
  out->append(std::to_string(v));
}
}  // namespace internal

// Debug(level, concatenation of `parts`: strings, chars and integers).
// Leaves errno as it found it, so a debug line never changes what the code
// around it tests next.
template <typename... T>
[[gnu::cold, gnu::noinline]] void DebugJoin(int level, const T&... parts) {
  const int saved = errno;
  std::string m;
  (internal::AppendPart(&m, parts), ...);
  Debug(level, m);
  errno = saved;
}

}  // namespace poolftpd::log

// A debug line of `level` made of `...` (see DebugJoin). A macro, as glog's
// VLOG: when the level is off the arguments are not even evaluated, so a
// call site costs one load and one compare, and no string is built.
// Client bytes in the parts must be escaped (util::EscapeControl).
#define POOLFTPD_DEBUG(level, ...)                         \
  do {                                                     \
    if (::poolftpd::log::DebugEnabled(level)) [[unlikely]] \
      ::poolftpd::log::DebugJoin(level, __VA_ARGS__);      \
  } while (0)

namespace poolftpd::log {

// Formats one SystemLog line (exposed for tests).
std::string FormatSystemLine(int64_t now_ns, std::string_view host, int pid,
                             std::string_view client_name, std::string_view client_ip,
                             std::string_view message);

struct XferRecord {
  int64_t now_s = 0;    // completion time (seconds since epoch)
  int64_t seconds = 0;  // transfer time, rounded, at least 1 if data moved
  std::string remote_host;
  uint64_t bytes = 0;
  std::string filename;  // real path
  bool ascii = false;
  char direction = 'o';    // 'o' outgoing, 'i' incoming
  char access_mode = 'a';  // 'a' anonymous, 'r' real, 'g' guest
  std::string username;    // for anonymous: the password (e-mail) given
  bool complete = true;    // 'c' or 'i'
};
// One xferlog(5) line, 14 fields, ending in '\n'.
std::string FormatXferLine(const XferRecord& r);
void WriteXfer(const XferRecord& r);

}  // namespace poolftpd::log
