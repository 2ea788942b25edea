// Listing line writers shared by the one-entry formatters (format.cc) and the
// streaming directory listing (dir_listing.cc). Private to src/fs; pure, no
// I/O, safe to call from several threads at once (each with its own cache).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>

#include "poolftpd/fs/access.h"
#include "poolftpd/fs/listing.h"

namespace poolftpd::fs::internal {

// The fields a listing line shows, packed (a listing holds one per entry).
struct Attr {
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t nlink = 0;
  int64_t size = 0;
  int64_t mtime = 0;
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
};

inline Attr AttrOf(const struct stat& st) {
  Attr a;
  a.dev = static_cast<uint64_t>(st.st_dev);
  a.ino = static_cast<uint64_t>(st.st_ino);
  a.nlink = static_cast<uint64_t>(st.st_nlink);
  a.size = static_cast<int64_t>(st.st_size);
  a.mtime = static_cast<int64_t>(st.st_mtime);
  a.mode = static_cast<uint32_t>(st.st_mode);
  a.uid = static_cast<uint32_t>(st.st_uid);
  a.gid = static_cast<uint32_t>(st.st_gid);
  return a;
}

// gmtime_r with the calendar day cached: entries of one directory mostly
// share few days, and the time of day is plain arithmetic in UTC.
class UtcCache {
 public:
  // false when gmtime_r cannot represent `t`.
  bool Get(int64_t t, struct tm* out);

 private:
  int64_t day_ = INT64_MIN;
  struct tm tm_ {};
};

inline char* PutText(char* p, std::string_view s) {
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

// A name or link target per `coding` (see NameCoding in listing.h): the one
// place that writes them into listings and replies. Writes at most
// 2 * s.size() bytes (kControl doubles a CR).
// SECURITY (S4): names and link targets are chosen by whoever can create files
// in the tree; after this no CR or LF of theirs can end a line (kData has
// neither, kControl has no LF and a CR only before NUL).
inline char* PutName(char* p, std::string_view s, NameCoding coding) {
  if (coding == NameCoding::kData) {
    for (const char c : s) *p++ = (c == '\r' || c == '\n') ? '?' : c;
    return p;
  }
  for (const char c : s) {
    if (c == '\n') {
      *p++ = '\0';
    } else {
      *p++ = c;
      if (c == '\r') *p++ = '\0';
    }
  }
  return p;
}

// True when `s` can be a fact value (RFC 3659: no ';', and a space or a
// control byte would break parsers): owner/group names that are not are
// shown as numbers.
inline bool FactSafe(std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= ' ' || u == ';' || u == 0x7f) return false;
  }
  return !s.empty();
}

// The writers below fill a caller's buffer that has room for the matching
// bound, and return the end of what they wrote (no NUL, no CRLF).
//
// One `ls -l` line (see FormatLsLine); `user`/`group` are the owner columns
// as printed. `link_target` is written as " -> target" for a symlink mode.
inline std::size_t LsLineBound(std::size_t user, std::size_t group, std::size_t name,
                               std::size_t target) {
  return 128 + user + group + 2 * (name + target);
}
char* PutLsLine(char* p, const Attr& a, std::string_view name, std::string_view link_target,
                std::time_t now, std::string_view user, std::string_view group, UtcCache* utc,
                NameCoding coding);

// One facts line (see FormatFacts). `a` is the attribute set the facts
// describe (a resolved link's target); `dangling_link` for a symlink whose
// target did not resolve in the root; `kind` "" = from the mode, else the
// type value (at most kMaxKind bytes of it are shown). `user`/`group` are
// the UNIX.ownername/groupname values (FactSafe, or the numbers).
inline constexpr std::size_t kMaxKind = 32;
inline std::size_t FactsBound(std::size_t name, std::size_t user, std::size_t group) {
  return 320 + kMaxKind + 2 * name + user + group;
}
char* PutFacts(char* p, const Attr& a, bool dangling_link, std::string_view kind,
               std::string_view name, unsigned facts, UtcCache* utc, const Access& who,
               std::string_view user, std::string_view group, NameCoding coding);

}  // namespace poolftpd::fs::internal
