// Pure formatting for listings: `ls -l` lines, RFC 3659 facts, LIST option
// parsing. No I/O, no locale: month names and UTC are fixed.
#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>

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
    {kFactType, "type"}, {kFactSize, "size"},     {kFactModify, "modify"},
    {kFactPerm, "perm"}, {kFactUnique, "unique"}, {kFactUnixMode, "unix.mode"},
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

void AppendModeString(mode_t mode, std::string* out) {
  char m[10];
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
  out->append(m, sizeof m);
}

// Appends `s` left-aligned in a field of at least `width` bytes.
void AppendPadded(std::string_view s, std::size_t width, std::string* out) {
  out->append(s);
  if (s.size() < width) out->append(width - s.size(), ' ');
}

std::string IdName(const NameLookup& names, bool is_group, unsigned id) {
  if (names) {
    std::string s = names(is_group, id);
    if (!s.empty()) return s;
  }
  return std::to_string(id);
}

// The facts' view of an entry: a symlink whose target resolved inside the
// root is shown as its target (as ProFTPD does); a dangling or escaping one
// as OS.unix=symlink.
const struct stat& FactStat(const Entry& e) {
  return (e.is_link && e.target_ok) ? e.target_st : e.st;
}

std::string_view FactType(const Entry& e, const struct stat& st) {
  if (e.is_link && !e.target_ok) return "OS.unix=symlink";
  switch (st.st_mode & S_IFMT) {
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

// Digit writers for the listing hot path (snprintf was most of the cost of
// formatting 100,000 entries).
void AppendDec(unsigned long long v, size_t width, char pad, std::string* out) {
  char buf[24];
  size_t n = 0;
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  if (n < width) out->append(width - n, pad);
  while (n > 0) out->push_back(buf[--n]);
}

void AppendHex(unsigned long long v, std::string* out) {
  char buf[24];
  size_t n = 0;
  do {
    buf[n++] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v != 0);
  while (n > 0) out->push_back(buf[--n]);
}

std::string FormatLsLine(const Entry& e, std::time_t now, const NameLookup& names) {
  const struct stat& st = e.st;
  std::string out;
  out.reserve(64 + e.name.size() + e.link_target.size());
  AppendModeString(st.st_mode, &out);

  out.push_back(' ');
  AppendDec(static_cast<unsigned long long>(st.st_nlink), 3, ' ', &out);
  out.push_back(' ');
  AppendPadded(IdName(names, false, st.st_uid), 8, &out);
  out.push_back(' ');
  AppendPadded(IdName(names, true, st.st_gid), 8, &out);

  const std::time_t mtime = st.st_mtime;
  struct tm tm {};
  if (::gmtime_r(&mtime, &tm) == nullptr) tm = {};  // out of range: print 1900-01-00
  const bool recent = mtime <= now + kRecentFuture && now - mtime <= kRecentPast;
  const int mon = (tm.tm_mon >= 0 && tm.tm_mon < 12) ? tm.tm_mon : 0;
  // " %8lld %s %2d %02d:%02d " or " %8lld %s %2d %5d "
  out.push_back(' ');
  const long long size = static_cast<long long>(st.st_size);
  if (size < 0) {
    out.push_back('-');
    AppendDec(static_cast<unsigned long long>(-size), 7, ' ', &out);
  } else {
    AppendDec(static_cast<unsigned long long>(size), 8, ' ', &out);
  }
  out.push_back(' ');
  out.append(kMonths[mon]);
  out.push_back(' ');
  AppendDec(static_cast<unsigned long long>(tm.tm_mday > 0 ? tm.tm_mday : 0), 2, ' ', &out);
  out.push_back(' ');
  if (recent) {
    AppendDec(static_cast<unsigned long long>(tm.tm_hour), 2, '0', &out);
    out.push_back(':');
    AppendDec(static_cast<unsigned long long>(tm.tm_min), 2, '0', &out);
  } else {
    AppendDec(static_cast<unsigned long long>(tm.tm_year + 1900 > 0 ? tm.tm_year + 1900 : 0), 5, ' ', &out);
  }
  out.push_back(' ');
  out.append(e.name);
  if (S_ISLNK(st.st_mode)) {
    out.append(" -> ");
    out.append(e.link_target);
  }
  return out;
}

std::string FormatFacts(const Entry& e, unsigned facts, std::string_view kind) {
  const struct stat& st = FactStat(e);
  const std::string_view type = kind.empty() ? FactType(e, st) : kind;
  const bool is_dir = type == "dir" || type == "cdir" || type == "pdir";
  const bool is_file = type == "file";
  std::string out;
  out.reserve(128 + e.name.size());
  if (facts & kFactType) {
    out.append("type=");
    out.append(type);
    out.push_back(';');
  }
  if ((facts & kFactSize) && (is_file || is_dir)) {
    out.append("size=");
    AppendDec(static_cast<unsigned long long>(st.st_size > 0 ? st.st_size : 0), 0, ' ', &out);
    out.push_back(';');
  }
  if (facts & kFactModify) {
    const std::time_t mtime = st.st_mtime;
    struct tm tm {};
    if (::gmtime_r(&mtime, &tm) != nullptr) {
      out.append("modify=");
      AppendDec(static_cast<unsigned long long>(tm.tm_year + 1900 > 0 ? tm.tm_year + 1900 : 0), 4, '0', &out);
      AppendDec(static_cast<unsigned long long>(tm.tm_mon + 1), 2, '0', &out);
      AppendDec(static_cast<unsigned long long>(tm.tm_mday), 2, '0', &out);
      AppendDec(static_cast<unsigned long long>(tm.tm_hour), 2, '0', &out);
      AppendDec(static_cast<unsigned long long>(tm.tm_min), 2, '0', &out);
      AppendDec(static_cast<unsigned long long>(tm.tm_sec), 2, '0', &out);
      out.push_back(';');
    }
  }
  if ((facts & kFactPerm) && (is_file || is_dir)) {
    // Anonymous sessions are read-only: retrieve files; enter and list dirs.
    out.append(is_dir ? "perm=el;" : "perm=r;");
  }
  if (facts & kFactUnique) {
    out.append("unique=");
    AppendHex(static_cast<unsigned long long>(st.st_dev), &out);
    out.push_back('U');
    AppendHex(static_cast<unsigned long long>(st.st_ino), &out);
    out.push_back(';');
  }
  if (facts & kFactUnixMode) {
    const unsigned m = static_cast<unsigned>(st.st_mode & 07777);
    out.append("unix.mode=");
    for (int shift = 9; shift >= 0; shift -= 3) out.push_back(static_cast<char>('0' + ((m >> shift) & 7)));
    out.push_back(';');
  }
  out.push_back(' ');
  out.append(e.name);
  return out;
}

}  // namespace poolftpd::fs
