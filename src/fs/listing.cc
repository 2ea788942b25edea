// ReadDir / StatEntry: directory contents under a confined Root.
#include "poolftpd/fs/listing.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "poolftpd/util/limits.h"

namespace poolftpd::fs {
namespace {

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};
using UniqueDir = std::unique_ptr<DIR, DirCloser>;

// readlinkat() into a string; "" when the link vanished or cannot be read.
// `name` may be "" with an O_PATH fd of the link itself.
std::string ReadLinkAt(int dirfd, const char* name) {
  char buf[limits::kMaxPath + 1];
  const ssize_t n = ::readlinkat(dirfd, name, buf, sizeof buf);
  if (n < 0) return {};
  // A target longer than kMaxPath is cut; it is display-only.
  return std::string(buf, static_cast<std::size_t>(std::min<ssize_t>(n, limits::kMaxPath)));
}

std::string JoinVpath(std::string_view dir, std::string_view name) {
  std::string p;
  p.reserve(dir.size() + 1 + name.size());
  p.append(dir);
  if (p.empty() || p.back() != '/') p.push_back('/');
  p.append(name);
  return p;
}

// Fills is_link / link_target / target_* for an entry whose lstat is known.
// `link_dirfd`+`link_name` locate the link for readlinkat; `vpath` is its
// virtual path for the confined target lookup.
void ResolveLink(const Root& root, std::string_view vpath, int link_dirfd, const char* link_name,
                 Entry* e) {
  e->is_link = S_ISLNK(e->st.st_mode);
  if (!e->is_link) return;
  e->link_target = ReadLinkAt(link_dirfd, link_name);
  // SECURITY (S4): the target text is attacker-influenced (anyone who can create
  // links in the tree); it is resolved only through openat2 under the root,
  // so a link to "/etc/passwd" or "../../x" never reports an outside file.
  auto target = root.Stat(vpath);
  e->target_ok = target.has_value();
  if (e->target_ok) e->target_st = *target;
}

}  // namespace

Result<std::vector<Entry>> ReadDir(const Root& root, std::string_view vpath, bool all,
                                   std::string_view pattern) {
  auto dirfd = root.Open(vpath, O_RDONLY | O_DIRECTORY);
  if (!dirfd) return dirfd.error();
  struct stat dir_st {};
  if (::fstat(dirfd->get(), &dir_st) != 0) return Error::FromErrno(errno, "fstat", vpath);
  UniqueDir dir(::fdopendir(dirfd->get()));
  if (!dir) return Error::FromErrno(errno, "fdopendir", vpath);
  dirfd->release();  // now owned by `dir`
  const int dfd = ::dirfd(dir.get());
  const std::string base(vpath);
  auto wanted = [&](std::string_view name) { return pattern.empty() || GlobMatch(pattern, name); };

  // Phase 1: the wanted names, packed into one arena. Sorting offsets into a
  // few compact megabytes stays in cache for 100k+ names, and the Entries
  // are then built once, in their final order, with no moves.
  std::string arena;
  struct Name {
    uint32_t off;
    uint32_t len;
  };
  std::vector<Name> names;
  auto add = [&](std::string_view n) {
    names.push_back({static_cast<uint32_t>(arena.size()), static_cast<uint32_t>(n.size())});
    arena.append(n);
  };
  if (all) {
    if (wanted(".")) add(".");
    if (wanted("..")) add("..");
  }
  for (;;) {
    errno = 0;
    const dirent* d = ::readdir(dir.get());
    if (d == nullptr) {
      if (errno != 0) return Error::FromErrno(errno, "readdir", vpath);
      break;
    }
    const char* name = d->d_name;
    if (name[0] == '.') {
      if (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')) continue;
      if (!all) continue;
    }
    if (!wanted(name)) continue;
    // A limit hit returns exactly kMaxListEntries entries (caller logs it).
    if (names.size() >= limits::kMaxListEntries) break;
    add(name);
  }
  auto view = [&](const Name& n) { return std::string_view(arena.data() + n.off, n.len); };
  // Byte order (string_view compares as unsigned char), locale-free.
  std::sort(names.begin(), names.end(),
            [&](const Name& a, const Name& b) { return view(a) < view(b); });

  // Phase 2: stat each name through the open directory. (Large listings
  // for LIST/NLST/MLSD/STAT go through DirListing, which stats on several
  // threads; this is the plain sequential form.)
  std::vector<Entry> entries(names.size());
  std::vector<char> stat_ok(names.size(), 0);
  for (size_t i = 0; i < names.size(); ++i) {
    entries[i].name.assign(view(names[i]));
    const std::string& nm = entries[i].name;
    if (nm == "." || nm == "..") continue;
    // SECURITY (S4): `nm` is one component from the kernel (no '/'); with
    // AT_SYMLINK_NOFOLLOW the stat cannot leave the directory.
    stat_ok[i] = ::fstatat(dfd, nm.c_str(), &entries[i].st, AT_SYMLINK_NOFOLLOW) == 0;
  }

  // Compact in place (no second vector: entries are large).
  size_t kept = 0;
  auto keep = [&](size_t i) {
    if (kept != i) entries[kept] = std::move(entries[i]);
    ++kept;
  };
  for (size_t i = 0; i < entries.size(); ++i) {
    Entry& e = entries[i];
    const std::string_view name = e.name;
    if (name == ".") {
      e.st = dir_st;
      keep(i);
      continue;
    }
    if (name == "..") {
      // The parent through the root: at "/" that is the root itself.
      auto parent_path = Normalize(base, "..");
      auto parent =
          parent_path ? root.Stat(*parent_path) : Result<struct stat>(parent_path.error());
      if (!parent) continue;
      e.st = *parent;
      keep(i);
      continue;
    }
    if (!stat_ok[i]) continue;  // vanished since readdir
    if (S_ISLNK(e.st.st_mode)) {
      ResolveLink(root, JoinVpath(base, name), dfd, e.name.c_str(), &e);
    }
    keep(i);
  }
  entries.resize(kept);
  return entries;
}

Result<Entry> StatEntry(const Root& root, std::string_view vpath) {
  auto fd = root.Open(vpath, O_PATH | O_NOFOLLOW);
  if (!fd) return fd.error();
  Entry e;
  if (::fstat(fd->get(), &e.st) != 0) return Error::FromErrno(errno, "fstat", vpath);
  std::string_view name = vpath;
  while (name.size() > 1 && name.back() == '/') name.remove_suffix(1);
  const std::size_t slash = name.rfind('/');
  if (name != "/" && slash != std::string_view::npos) name.remove_prefix(slash + 1);
  e.name = name.empty() ? std::string("/") : std::string(name);
  // readlinkat(fd, "") reads the link an O_PATH|O_NOFOLLOW fd refers to.
  ResolveLink(root, vpath, fd->get(), "", &e);
  return e;
}

}  // namespace poolftpd::fs
