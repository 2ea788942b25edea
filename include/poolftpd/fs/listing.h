// Directory listings for LIST, NLST, MLSD, MLST and STAT: formatted text,
// produced from fds under a confined Root. Worker process only. Formatting
// functions are pure so they can be tested without a tree. DirListing streams
// big directories (LIST/NLST/MLSD); ReadDir returns whole Entries (STAT, and
// the reference the tests hold DirListing to).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "poolftpd/fs/access.h"
#include "poolftpd/fs/path.h"
#include "poolftpd/util/result.h"

namespace poolftpd::fs {

// MLST facts a client may select with OPTS MLST (RFC 3659 7.9).
enum Fact : unsigned {
  kFactType = 1u << 0,
  kFactSize = 1u << 1,
  kFactModify = 1u << 2,
  kFactPerm = 1u << 3,
  kFactUnique = 1u << 4,
  kFactUnixMode = 1u << 5,
  kFactUnixOwner = 1u << 6,      // numeric uid, as ProFTPD's mod_facts
  kFactUnixGroup = 1u << 7,      // numeric gid
  kFactUnixOwnerName = 1u << 8,  // the owner as LIST shows it (name, else uid)
  kFactUnixGroupName = 1u << 9,  // the group as LIST shows it
  kFactAll = 0x3ff,
};
// "type;size;modify;perm;unique;UNIX.mode;UNIX.owner;UNIX.group;
// UNIX.ownername;UNIX.groupname;" with '*' after enabled ones, as FEAT
// advertises them.
std::string FeatFactList(unsigned enabled);
// Parses the OPTS MLST argument ("type;size;"): unknown facts ignored.
unsigned ParseFactList(std::string_view arg);

struct Entry {
  std::string name;   // as in the directory; "." / ".." for cdir/pdir
  struct stat st {};  // of the entry itself (lstat) ...
  bool is_link = false;
  std::string link_target;   // for LIST "name -> target"
  bool target_ok = false;    // link target resolved inside the root
  struct stat target_st {};  // ... and of the link target when target_ok
};

struct ListOptions {
  bool all = false;        // -a: show dotfiles (and . ..)
  bool long_form = true;   // LIST yes, NLST no (NLST -l gives long form)
  bool directory = false;  // -d: list the directory itself
};

// Splits "LIST -la dir" style arguments: leading "-xyz" words into options,
// the rest is the path (may contain spaces). Unknown letters are ignored.
void ParseListArgs(std::string_view arg, ListOptions* opts, std::string* path);

// How a file name (or a symlink target) is written into a listing or reply.
// A name may hold any byte but '/' and NUL, CR and LF included; written
// verbatim such a name would end the line early and forge entries or reply
// lines. Every output path goes through EncodeName (or its buffer form in
// format_internal.h), so no name can ever produce an extra line:
//  - kData, the data connection (LIST, NLST, MLSD): CR and LF each become '?'
//    (the mark vsftpd puts for unprintable bytes in its logs; its ls.c copies
//    names verbatim); every other byte is kept. The name
//    stays recognisable, and '?' is the glob that matches the byte again
//    (LIST 'a?b' lists it). (RFC 3659 section 2.2 allows another form or
//    leaving the name out; hiding files from a mirror was judged worse.)
//  - kControl, replies on the control connection (PWD, MLST, STAT, texts
//    that echo a path): CR is sent as CR NUL (the Telnet NVT form of a bare
//    CR that RFC 959 and RFC 3659 section 2.2 ask for in pathnames), which
//    the command reader turns back into CR, so such a name round-trips
//    (RETR, CWD). A LF cannot be sent inside a reply line and is sent as
//    NUL (the encoded-pathname convention, as Twisted does). A NUL in a
//    command is not turned back into LF (a LF in an argument would reach
//    log lines), so names with LF are listed but cannot be named back.
// Note: Python's ftplib reads replies with universal newlines, so it takes
// the CR of CR NUL for a line end: the rest of that reply reaches it as a
// line starting with NUL, which can never pass for a reply or an entry.
enum class NameCoding { kData, kControl };
std::string EncodeName(std::string_view name, NameCoding coding);

// uid/gid -> name for LIST's owner columns and UNIX.ownername/groupname;
// "" when unknown (the number is shown then).
using NameLookup = std::function<std::string(bool is_group, unsigned id)>;

// Facts line for MLSD/MLST: "type=file;size=12;modify=20261121114512;perm=r;
// unique=803U1a2b;UNIX.mode=0644;UNIX.owner=0;UNIX.group=0;
// UNIX.ownername=root;UNIX.groupname=root; name" (no CRLF). `kind` for the
// cdir/pdir cases: "" = from mode, else used as the type value.
// perm is what `who` may do (Access::PermLetters): "e" and/or "l" for a
// directory, "r" or nothing for a file; the server is read-only, so never a
// write letter.
// Facts come in the order type;size;modify;perm;unique;UNIX.mode;UNIX.owner;
// UNIX.group;UNIX.ownername;UNIX.groupname; modify is UTC; size and perm
// only for files and directories. A symlink with target_ok shows its
// target's facts, else type=OS.unix=symlink and its own. Other types:
// OS.unix=chardev|blockdev|fifo|socket. The owner and group names are those
// of `names` (the number when it does not know them, or when the name holds
// a byte a fact value cannot: space, ';', control bytes).
std::string FormatFacts(const Entry& e, unsigned facts, const Access& who, const NameLookup& names,
                        std::string_view kind = "", NameCoding coding = NameCoding::kData);

// One `ls -l` line without CRLF: "-rw-r--r--   1 0        0            1234 Nov 21 11:39 name"
// (year instead of time for entries older than 6 months or in the future by
// more than an hour, relative to `now`). uid/gid printed as names when
// `names` resolves them, else numbers. Name and link target per `coding`.
std::string FormatLsLine(const Entry& e, std::time_t now, const NameLookup& names,
                         NameCoding coding = NameCoding::kData);

// Reads the directory `vpath` under `root` into entries (sorted by name,
// byte order), dotfiles only with opts.all. Each entry is lstat'ed through
// the dir fd (fstatat(AT_SYMLINK_NOFOLLOW) of a single component never leaves
// the root); symlinks are resolved with Root::Stat so a link pointing outside
// the root reports target_ok = false. Stops at limits::kMaxListEntries: a
// result of exactly that size means the listing was cut (the caller logs it).
// With `all`, "." (the directory) and ".." (its parent through the root; the
// root itself at "/") are included, sorted with the rest. Entries that vanish
// between readdir and stat are skipped.
// `pattern` (may be empty) is a glob for the names (see GlobMatch).
Result<std::vector<Entry>> ReadDir(const Root& root, std::string_view vpath, bool all,
                                   std::string_view pattern = {});
// How DirListing::Emit writes each entry: an `ls -l` line (FormatLsLine), a
// facts line (FormatFacts, "." as type=cdir and ".." as type=pdir) or the
// bare name. Every line ends in CRLF; names are written per `coding`.
enum class ListStyle { kLs, kFacts, kNames };

struct EmitOptions {
  ListStyle style = ListStyle::kLs;
  std::time_t now = 0;                    // kLs: reference time for recent/old dates
  const NameLookup* names = nullptr;      // kLs, kFacts: uid/gid names (may be null)
  unsigned facts = kFactAll;              // kFacts: the facts to show
  const Access* access = nullptr;         // kFacts: perm for whom (null: this process now)
  NameCoding coding = NameCoding::kData;  // kControl for STAT
  bool skip_dot_dirs = false;             // leave out "." and ".." (NLST)
};

// A directory listing for LIST, NLST and MLSD, built in two steps so the
// caller can answer 550 before it opens the data connection and then stream:
// Read() opens the directory, reads and sorts the names (byte order) and
// stats them; Emit() formats the entries in order and hands the text to a
// sink in pieces of a few tens of KiB. Entries, order, fields and filtering
// are those of ReadDir (same `all`, `pattern`, limit, "."/".." and
// vanished-entry rules); only the delivery differs.
// Big directories use a few threads inside Read and Emit (none outlives the
// call; the threads block all signals). Worker process only; `root` must
// outlive the DirListing. Not copyable; movable.
class DirListing {
 public:
  // Errors: those of Root::Open for `vpath` (ENOENT, ENOTDIR, EACCES...) and
  // of reading the directory. `cut()` is true when the listing stopped at
  // limits::kMaxListEntries (the caller logs it).
  static Result<DirListing> Read(const Root& root, std::string_view vpath, bool all,
                                 std::string_view pattern = {});

  DirListing(DirListing&&) noexcept;
  DirListing& operator=(DirListing&&) noexcept;
  ~DirListing();

  bool cut() const;

  // Calls `sink` with consecutive pieces of the text, in order, on the
  // calling thread; stops early (returning false) when `sink` returns false
  // or a helper thread fails. `opts.names` is called on one thread at a
  // time. Call at most once.
  using Sink = std::function<bool(std::string_view text)>;
  bool Emit(const EmitOptions& opts, const Sink& sink);

 private:
  struct State;
  explicit DirListing(std::unique_ptr<State> s);
  std::unique_ptr<State> s_;
};

// Stat one path as an Entry (for MLST, LIST of a file, -d). `name` is the
// last component of `vpath` ("/" for the root).
Result<Entry> StatEntry(const Root& root, std::string_view vpath);

// Bounded glob on one name: '*', '?', '[abc]', '[a-z]', '[!x]', '\\' escapes.
// Never more than limits::kGlobStepBudget steps; false when exhausted.
bool GlobMatch(std::string_view pattern, std::string_view name);
bool HasGlob(std::string_view s);

}  // namespace poolftpd::fs
