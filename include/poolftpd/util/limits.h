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

}  // namespace poolftpd::limits
