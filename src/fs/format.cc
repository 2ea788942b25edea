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

std::string FormatLsLine(const Entry& e, std::time_t now, const NameLookup& names) {
  const struct stat& st = e.st;
  std::string out;
  out.reserve(64 + e.name.size() + e.link_target.size());
  AppendModeString(st.st_mode, &out);

  char buf[64];
  std::snprintf(buf, sizeof buf, " %3lu ", static_cast<unsigned long>(st.st_nlink));
  out.append(buf);
  AppendPadded(IdName(names, false, st.st_uid), 8, &out);
  out.push_back(' ');
  AppendPadded(IdName(names, true, st.st_gid), 8, &out);

  const std::time_t mtime = st.st_mtime;
  struct tm tm {};
  if (::gmtime_r(&mtime, &tm) == nullptr) tm = {};  // out of range: print 1900-01-00
  const bool recent = mtime <= now + kRecentFuture && now - mtime <= kRecentPast;
  const int mon = (tm.tm_mon >= 0 && tm.tm_mon < 12) ? tm.tm_mon : 0;
  if (recent) {
    std::snprintf(buf, sizeof buf, " %8lld %s %2d %02d:%02d ", static_cast<long long>(st.st_size),
                  kMonths[mon], tm.tm_mday, tm.tm_hour, tm.tm_min);
  } else {
    std::snprintf(buf, sizeof buf, " %8lld %s %2d %5d ", static_cast<long long>(st.st_size),
                  kMonths[mon], tm.tm_mday, tm.tm_year + 1900);
  }
  out.append(buf);
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
  char buf[64];
  if (facts & kFactType) {
    out.append("type=");
    out.append(type);
    out.push_back(';');
  }
  if ((facts & kFactSize) && (is_file || is_dir)) {
    std::snprintf(buf, sizeof buf, "size=%lld;", static_cast<long long>(st.st_size));
    out.append(buf);
  }
  if (facts & kFactModify) {
    const std::time_t mtime = st.st_mtime;
    struct tm tm {};
    if (::gmtime_r(&mtime, &tm) != nullptr) {
      std::snprintf(buf, sizeof buf, "modify=%04d%02d%02d%02d%02d%02d;", tm.tm_year + 1900,
                    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
      out.append(buf);
    }
  }
  if ((facts & kFactPerm) && (is_file || is_dir)) {
    // Anonymous sessions are read-only: retrieve files; enter and list dirs.
    out.append(is_dir ? "perm=el;" : "perm=r;");
  }
  if (facts & kFactUnique) {
    std::snprintf(buf, sizeof buf, "unique=%llxU%llx;", static_cast<unsigned long long>(st.st_dev),
                  static_cast<unsigned long long>(st.st_ino));
    out.append(buf);
  }
  if (facts & kFactUnixMode) {
    std::snprintf(buf, sizeof buf, "unix.mode=%04o;", static_cast<unsigned>(st.st_mode & 07777));
    out.append(buf);
  }
  out.push_back(' ');
  out.append(e.name);
  return out;
}

}  // namespace poolftpd::fs
