// Every bound poolftpd applies to untrusted or operator input, with the reason
// for its value. A limit hit is a reply and a log line, never a crash.
#pragma once

#include <cstddef>

namespace poolftpd::limits {

// RFC 959 sets no line limit; 4 KiB fits any sane path argument (vsftpd uses
// the same). Longer lines get "500 Command line too long" and are discarded.
inline constexpr std::size_t kMaxCommandLine = 4096;
// Pre-login input is capped harder: USER/PASS need far less.
inline constexpr std::size_t kMaxUserName = 256;
inline constexpr std::size_t kMaxPassword = 256;
// Longest virtual path after normalisation (PATH_MAX).
inline constexpr std::size_t kMaxPath = 4096;
// Wildcard matching in LIST/NLST arguments: steps before we give up.
inline constexpr std::size_t kGlobStepBudget = 100000;
// Entries one listing returns before it is cut with a log line; a mirror's
// biggest directories hold a few hundred thousand files.
inline constexpr std::size_t kMaxListEntries = 2000000;
// Config: file size, Include nesting and the number of included files.
inline constexpr std::size_t kMaxConfigFileSize = 4 * 1024 * 1024;
inline constexpr int kMaxIncludeDepth = 16;
inline constexpr int kMaxIncludedFiles = 1024;
// Lines queued while a transfer runs (the client may pipeline a few).
inline constexpr std::size_t kMaxPendingLines = 16;
// Command lines a client may send before it has logged in, besides two
// (USER and PASS) per allowed login attempt: the session may take
// kMaxPreLoginCommands + 2 * MaxLoginAttempts lines before login, then it
// gets 421 and is closed with a log line. Real clients send few: lftp FEAT,
// AUTH TLS, OPTS UTF8 ON (and sometimes HOST, CLNT, SYST); curl at most AUTH
// SSL/TLS and PBSZ/PROT; ftplib nothing; FileZilla-like clients AUTH TLS,
// AUTH SSL, FEAT, OPTS UTF8, CLNT, SYST. No more than about 8 besides
// USER/PASS, so 50 leaves six times that, room for a human typing HELP
// and NOOP in telnet, while a pipelined flood is cut after a few dozen
// lines instead of running until TimeoutLogin.
inline constexpr int kMaxPreLoginCommands = 50;

}  // namespace poolftpd::limits
