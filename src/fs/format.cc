// Pure formatting for listings: `ls -l` lines, RFC 3659 facts, LIST option
// parsing. No I/O, no locale: month names and UTC are fixed.
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>

#include "format_internal.h"
#include "poolftpd/fs/listing.h"

namespace poolftpd::fs {
namespace {

constexpr const char* kMonths[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// ProFTPD's mod_ls switches to the year for entries older than 180 days; like
// GNU ls we also do so for entries more than an hour in the future.
constexpr std::time_t kRecentPast = 180 * 24 * 60 * 60;
constexpr std::time_t kRecentFuture = 60 * 60;

struct FactName {
  Fact bit;
  std::string_view name;
};
constexpr FactName kFactNames[] = {
    {kFactType, "type"},
    {kFactSize, "size"},
    {kFactModify, "modify"},
    {kFactPerm, "perm"},
    {kFactUnique, "unique"},
    {kFactUnixMode, "UNIX.mode"},
    {kFactUnixOwner, "UNIX.owner"},
    {kFactUnixGroup, "UNIX.group"},
    {kFactUnixOwnerName, "UNIX.ownername"},
    {kFactUnixGroupName, "UNIX.groupname"},
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

char TypeChar(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return '-';
    case S_IFDIR:
      return 'd';
    case S_IFLNK:
      return 'l';
    case S_IFCHR:
      return 'c';
    case S_IFBLK:
      return 'b';
    case S_IFIFO:
      return 'p';
    case S_IFSOCK:
      return 's';
    default:
      return '?';
  }
}

char* PutMode(char* m, mode_t mode) {
  m[0] = TypeChar(mode);
  m[1] = (mode & S_IRUSR) ? 'r' : '-';
  m[2] = (mode & S_IWUSR) ? 'w' : '-';
  m[3] = (mode & S_ISUID) ? ((mode & S_IXUSR) ? 's' : 'S') : ((mode & S_IXUSR) ? 'x' : '-');
  m[4] = (mode & S_IRGRP) ? 'r' : '-';
  m[5] = (mode & S_IWGRP) ? 'w' : '-';
  m[6] = (mode & S_ISGID) ? ((mode & S_IXGRP) ? 's' : 'S') : ((mode & S_IXGRP) ? 'x' : '-');
  m[7] = (mode & S_IROTH) ? 'r' : '-';
  m[8] = (mode & S_IWOTH) ? 'w' : '-';
  m[9] = (mode & S_ISVTX) ? ((mode & S_IXOTH) ? 't' : 'T') : ((mode & S_IXOTH) ? 'x' : '-');
  return m + 10;
}

using internal::PutText;

// Writes `s` left-aligned in a field of at least `width` bytes.
char* PutPadded(char* p, std::string_view s, std::size_t width) {
  p = PutText(p, s);
  for (std::size_t n = s.size(); n < width; ++n) *p++ = ' ';
  return p;
}

std::string IdName(const NameLookup& names, bool is_group, unsigned id) {
  if (names) {
    std::string s = names(is_group, id);
    if (!s.empty()) return s;
  }
  return std::to_string(id);
}

// The UNIX.ownername/groupname value: LIST's name, else the number.
std::string FactIdName(const NameLookup& names, bool is_group, unsigned id) {
  std::string s = IdName(names, is_group, id);
  return internal::FactSafe(s) ? s : std::to_string(id);
}

// The type fact from a mode (a resolved link's target mode for links shown
// as their target, as ProFTPD does).
std::string_view FactType(uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return "file";
    case S_IFDIR:
      return "dir";
    case S_IFLNK:
      return "OS.unix=symlink";
    case S_IFCHR:
      return "OS.unix=chardev";
    case S_IFBLK:
      return "OS.unix=blockdev";
    case S_IFIFO:
      return "OS.unix=fifo";
    case S_IFSOCK:
      return "OS.unix=socket";
    default:
      return "OS.unix=unknown";
  }
}

}  // namespace

std::string FeatFactList(unsigned enabled) {
  std::string out;
  for (const FactName& f : kFactNames) {
    out.append(f.name);
    if (enabled & f.bit) out.push_back('*');
    out.push_back(';');
  }
  return out;
}

unsigned ParseFactList(std::string_view arg) {
  unsigned mask = 0;
  while (!arg.empty()) {
    const std::size_t semi = arg.find(';');
    std::string_view tok = arg.substr(0, semi);
    arg = (semi == std::string_view::npos) ? std::string_view{} : arg.substr(semi + 1);
    while (!tok.empty() && (tok.front() == ' ' || tok.front() == '\t')) tok.remove_prefix(1);
    while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t')) tok.remove_suffix(1);
    for (const FactName& f : kFactNames) {
      if (EqualsIgnoreCase(tok, f.name)) mask |= f.bit;
    }
  }
  return mask;
}

void ParseListArgs(std::string_view arg, ListOptions* opts, std::string* path) {
  std::size_t i = 0;
  while (true) {
    while (i < arg.size() && arg[i] == ' ') ++i;
    if (i >= arg.size() || arg[i] != '-') break;
    std::size_t end = arg.find(' ', i);
    if (end == std::string_view::npos) end = arg.size();
    const std::string_view word = arg.substr(i, end - i);
    if (word == "-") break;  // a lone "-" is a name, as in ls
    i = end;
    if (word == "--") {  // end of options
      while (i < arg.size() && arg[i] == ' ') ++i;
      break;
    }
    for (const char c : word.substr(1)) {
      if (c == 'a') opts->all = true;
      if (c == 'l') opts->long_form = true;
      if (c == 'd') opts->directory = true;
    }
  }
  path->assign(arg.substr(i));
}

namespace {

// Digit writers for the listing hot path (snprintf was most of the cost of
// formatting 100,000 entries). PutDec writes at `p`, right-aligned in `width`
// (at most 20 digits); the caller's buffer has room.
char* PutDec(char* p, unsigned long long v, size_t width, char pad) {
  char buf[24];
  size_t n = 0;
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (; width > n; --width) *p++ = pad;
  while (n > 0) *p++ = buf[--n];
  return p;
}

char* PutHex(char* p, unsigned long long v) {
  char buf[24];
  size_t n = 0;
  do {
    buf[n++] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v != 0);
  while (n > 0) *p++ = buf[--n];
  return p;
}

}  // namespace

namespace internal {

bool UtcCache::Get(int64_t t, struct tm* out) {
  constexpr int64_t kDay = 24 * 60 * 60;
  constexpr int64_t kCachedBelow = int64_t{1} << 40;  // far beyond any real mtime
  if (t < 0 || t >= kCachedBelow) {
    const std::time_t tt = static_cast<std::time_t>(t);
    return ::gmtime_r(&tt, out) != nullptr;
  }
  const int64_t day = t / kDay;
  if (day != day_) {
    const std::time_t midnight = static_cast<std::time_t>(day * kDay);
    if (::gmtime_r(&midnight, &tm_) == nullptr) return false;
    day_ = day;
  }
  // UTC has no offsets: the time of day is the seconds since midnight.
  const int64_t secs = t - day * kDay;
  *out = tm_;
  out->tm_hour = static_cast<int>(secs / 3600);
  out->tm_min = static_cast<int>(secs / 60 % 60);
  out->tm_sec = static_cast<int>(secs % 60);
  return true;
}

char* PutLsLine(char* p, const Attr& a, std::string_view name, std::string_view link_target,
                std::time_t now, std::string_view user, std::string_view group, UtcCache* utc,
                NameCoding coding) {
  const mode_t mode = static_cast<mode_t>(a.mode);
  p = PutMode(p, mode);
  *p++ = ' ';
  p = PutDec(p, a.nlink, 3, ' ');
  *p++ = ' ';
  p = PutPadded(p, user, 8);
  *p++ = ' ';
  p = PutPadded(p, group, 8);

  const int64_t mtime = a.mtime;
  struct tm tm {};
  if (!utc->Get(mtime, &tm)) tm = {};  // out of range: print 1900-01-00
  const bool recent = mtime <= now + kRecentFuture && now - mtime <= kRecentPast;
  const int mon = (tm.tm_mon >= 0 && tm.tm_mon < 12) ? tm.tm_mon : 0;
  // " %8lld %s %2d %02d:%02d " or " %8lld %s %2d %5d "
  *p++ = ' ';
  if (a.size < 0) {
    *p++ = '-';
    p = PutDec(p, static_cast<unsigned long long>(-a.size), 7, ' ');
  } else {
    p = PutDec(p, static_cast<unsigned long long>(a.size), 8, ' ');
  }
  *p++ = ' ';
  p = PutText(p, kMonths[mon]);
  *p++ = ' ';
  p = PutDec(p, static_cast<unsigned long long>(tm.tm_mday > 0 ? tm.tm_mday : 0), 2, ' ');
  *p++ = ' ';
  if (recent) {
    p = PutDec(p, static_cast<unsigned long long>(tm.tm_hour), 2, '0');
    *p++ = ':';
    p = PutDec(p, static_cast<unsigned long long>(tm.tm_min), 2, '0');
  } else {
    p = PutDec(p, static_cast<unsigned long long>(tm.tm_year + 1900 > 0 ? tm.tm_year + 1900 : 0), 5,
               ' ');
  }
  *p++ = ' ';
  p = PutName(p, name, coding);
  if (S_ISLNK(mode)) {
    p = PutText(p, " -> ");
    p = PutName(p, link_target, coding);
  }
  return p;
}

char* PutFacts(char* p, const Attr& a, bool dangling_link, std::string_view kind,
               std::string_view name, unsigned facts, UtcCache* utc, const Access& who,
               std::string_view user, std::string_view group, NameCoding coding) {
  const std::string_view type = !kind.empty()   ? kind
                                : dangling_link ? "OS.unix=symlink"
                                                : FactType(a.mode);
  const bool is_dir = type == "dir" || type == "cdir" || type == "pdir";
  const bool is_file = type == "file";
  if (facts & kFactType) {
    p = PutText(p, "type=");
    p = PutText(p, type.substr(0, kMaxKind));
    *p++ = ';';
  }
  if ((facts & kFactSize) && (is_file || is_dir)) {
    p = PutText(p, "size=");
    p = PutDec(p, static_cast<unsigned long long>(a.size > 0 ? a.size : 0), 0, ' ');
    *p++ = ';';
  }
  if (facts & kFactModify) {
    struct tm tm {};
    if (utc->Get(a.mtime, &tm)) {
      p = PutText(p, "modify=");
      p = PutDec(p, static_cast<unsigned long long>(tm.tm_year + 1900 > 0 ? tm.tm_year + 1900 : 0),
                 4, '0');
      p = PutDec(p, static_cast<unsigned long long>(tm.tm_mon + 1), 2, '0');
      p = PutDec(p, static_cast<unsigned long long>(tm.tm_mday), 2, '0');
      p = PutDec(p, static_cast<unsigned long long>(tm.tm_hour), 2, '0');
      p = PutDec(p, static_cast<unsigned long long>(tm.tm_min), 2, '0');
      p = PutDec(p, static_cast<unsigned long long>(tm.tm_sec), 2, '0');
      *p++ = ';';
    }
  }
  if ((facts & kFactPerm) && (is_file || is_dir)) {
    // What this session may do, from the mode (cdir/pdir are directories).
    const uint32_t mode = is_dir ? (a.mode & ~uint32_t{S_IFMT}) | S_IFDIR : a.mode;
    p = PutText(p, "perm=");
    p = who.PermLetters(mode, a.uid, a.gid, p);
    *p++ = ';';
  }
  if (facts & kFactUnique) {
    p = PutText(p, "unique=");
    p = PutHex(p, a.dev);
    *p++ = 'U';
    p = PutHex(p, a.ino);
    *p++ = ';';
  }
  if (facts & kFactUnixMode) {
    const unsigned m = a.mode & 07777;
    p = PutText(p, "UNIX.mode=");
    for (int shift = 9; shift >= 0; shift -= 3) *p++ = static_cast<char>('0' + ((m >> shift) & 7));
    *p++ = ';';
  }
  if (facts & kFactUnixOwner) {
    p = PutText(p, "UNIX.owner=");
    p = PutDec(p, a.uid, 0, ' ');
    *p++ = ';';
  }
  if (facts & kFactUnixGroup) {
    p = PutText(p, "UNIX.group=");
    p = PutDec(p, a.gid, 0, ' ');
    *p++ = ';';
  }
  if (facts & kFactUnixOwnerName) {
    p = PutText(p, "UNIX.ownername=");
    p = PutText(p, user);
    *p++ = ';';
  }
  if (facts & kFactUnixGroupName) {
    p = PutText(p, "UNIX.groupname=");
    p = PutText(p, group);
    *p++ = ';';
  }
  *p++ = ' ';
  return PutName(p, name, coding);
}

}  // namespace internal

std::string EncodeName(std::string_view name, NameCoding coding) {
  std::string out(2 * name.size(), '\0');
  char* end = internal::PutName(out.data(), name, coding);
  out.resize(static_cast<size_t>(end - out.data()));
  return out;
}

std::string FormatLsLine(const Entry& e, std::time_t now, const NameLookup& names,
                         NameCoding coding) {
  const std::string user = IdName(names, false, e.st.st_uid);
  const std::string group = IdName(names, true, e.st.st_gid);
  std::string out(
      internal::LsLineBound(user.size(), group.size(), e.name.size(), e.link_target.size()), '\0');
  internal::UtcCache utc;
  char* end = internal::PutLsLine(out.data(), internal::AttrOf(e.st), e.name, e.link_target, now,
                                  user, group, &utc, coding);
  out.resize(static_cast<size_t>(end - out.data()));
  return out;
}

std::string FormatFacts(const Entry& e, unsigned facts, const Access& who, const NameLookup& names,
                        std::string_view kind, NameCoding coding) {
  const struct stat& st = (e.is_link && e.target_ok) ? e.target_st : e.st;
  const std::string user =
      (facts & kFactUnixOwnerName) ? FactIdName(names, false, st.st_uid) : std::string();
  const std::string group =
      (facts & kFactUnixGroupName) ? FactIdName(names, true, st.st_gid) : std::string();
  std::string out(internal::FactsBound(e.name.size(), user.size(), group.size()), '\0');
  internal::UtcCache utc;
  char* end = internal::PutFacts(out.data(), internal::AttrOf(st), e.is_link && !e.target_ok, kind,
                                 e.name, facts, &utc, who, user, group, coding);
  out.resize(static_cast<size_t>(end - out.data()));
  return out;
}

}  // namespace poolftpd::fs
