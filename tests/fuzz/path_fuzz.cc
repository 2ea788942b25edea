// Fuzz target: virtual path normalisation (fs::Normalize) together with
// openat2 resolution under a session root (fs::Root) in a scratch tree
// built once, with symlinks that point out of the root (relative, absolute,
// through "..", loops, /proc), a FIFO and names holding CR and LF.
// Properties:
//  - SECURITY (S3): nothing outside the root is ever opened or stat'ed.
//    Every fd Root::Open/EnterDir returns, for the normalised path and for
//    the client's raw text alike, is neither the sentinel file outside the
//    root nor a directory above it (st_dev/st_ino), and /proc/self/fd
//    names it under the root. Stat/Lstat and the link targets ReadDir
//    accepts (target_ok) never describe the sentinel either.
//  - Normalize gives "/" or "/a/b" (no empty, "." or ".." component, no
//    trailing '/'), is idempotent, ignores cwd for an absolute argument, and
//    fails only on a NUL byte or a result longer than limits::kMaxPath.
//  - A listing of any directory has one CRLF-terminated line per entry,
//    whatever bytes the names hold (no name can add a line).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "fuzz_util.h"
#include "poolftpd/fs/listing.h"
#include "poolftpd/fs/path.h"
#include "poolftpd/util/limits.h"

namespace poolftpd::fuzz {
namespace {

struct Tree {
  ScratchDir dir{"path_fuzz"};
  std::string root_real;
  fs::Root root;
  struct Id {
    dev_t dev;
    ino_t ino;
    std::string what;
  };
  std::vector<Id> forbidden;  // the sentinel and every directory above the root
};

Tree* g_tree = nullptr;

void Must(bool ok, const char* what) {
  if (!ok) {
    std::perror(what);
    std::abort();
  }
}

void AddForbidden(const std::string& path) {
  struct stat st {};
  Must(::stat(path.c_str(), &st) == 0, path.c_str());
  g_tree->forbidden.push_back({st.st_dev, st.st_ino, path});
}

void BuildTree() {
  g_tree = new Tree;
  const ScratchDir& d = g_tree->dir;
  const std::string root = d / "root";
  Must(::mkdir((d / "outside").c_str(), 0755) == 0, "mkdir outside");
  WriteWholeFile(d / "outside/secret", "sentinel: must never be opened\n");
  Must(::mkdir(root.c_str(), 0755) == 0, "mkdir root");
  for (const char* sub : {"pub", "pub/sub", "pub/sub/deep", "empty", "noperm"})
    Must(::mkdir((root + "/" + sub).c_str(), 0755) == 0, sub);
  Must(::chmod((root + "/noperm").c_str(), 0) == 0, "chmod noperm");
  WriteWholeFile(root + "/pub/file.txt", "hello\n");
  WriteWholeFile(root + "/pub/sub/deep/x", "x\n");
  WriteWholeFile(root + "/cr\rlf\nname", "odd name\n");
  WriteWholeFile(root + "/pub/.hidden", "dot\n");
  Must(::mkfifo((root + "/fifo").c_str(), 0644) == 0, "mkfifo");
  const std::vector<std::pair<std::string, std::string>> links = {
      {"pub/escape", "../../outside/secret"},
      {"pub/escape_dir", "../../outside"},
      {"pub/upup", "../../../../.."},
      {"up", ".."},
      {"abs", "/"},
      {"abs_secret", d / "outside/secret"},
      {"abs_outside", d / "outside"},
      {"loop", "loop"},
      {"a", "b"},
      {"b", "a"},
      {"proc_root", "/proc/self/root"},
      {"proc_cwd", "/proc/self/cwd"},
      {"proc_fd", "/proc/self/fd/0"},
      {"pub/ok", "file.txt"},
      {"pub/abs_ok", "/pub/file.txt"},
      {"pub/dangling", "nowhere"},
  };
  for (const auto& [name, target] : links)
    Must(::symlink(target.c_str(), (root + "/" + name).c_str()) == 0, name.c_str());
  g_tree->root_real = root;
  auto r = fs::Root::OpenDir(root);
  Must(r.has_value(), "open root");
  g_tree->root = std::move(*r);
  AddForbidden(d / "outside/secret");
  AddForbidden(d / "outside");
  // The scratch directory and every directory above it, up to "/".
  std::string up = d.path();
  for (;;) {
    AddForbidden(up);
    if (up == "/") break;
    const size_t slash = up.rfind('/');
    up = slash == 0 ? "/" : up.substr(0, slash);
  }
  // The fuzzer's cwd and its root are outside too (RESOLVE_IN_ROOT makes
  // /proc/self/cwd and /proc/self/root unreachable).
}

void CheckStat(const struct stat& st, std::string_view how, std::string_view path) {
  for (const auto& f : g_tree->forbidden)
    FUZZ_CHECK(!(st.st_dev == f.dev && st.st_ino == f.ino), "%.*s(\"%s\") reached %s",
               static_cast<int>(how.size()), how.data(), Printable(path).c_str(), f.what.c_str());
}

void CheckFd(int fd, std::string_view how, std::string_view path) {
  struct stat st {};
  FUZZ_CHECK(::fstat(fd, &st) == 0, "fstat of an fd Root returned failed");
  CheckStat(st, how, path);
  char link[4096];
  const std::string proc = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(proc.c_str(), link, sizeof link - 1);
  FUZZ_CHECK(n > 0, "readlink %s failed", proc.c_str());
  const std::string_view real(link, static_cast<size_t>(n));
  const std::string& root = g_tree->root_real;
  const bool inside = real == root || (real.size() > root.size() && real.starts_with(root) &&
                                       real[root.size()] == '/');
  FUZZ_CHECK(inside, "%.*s(\"%s\") opened %s, outside the root %s", static_cast<int>(how.size()),
             how.data(), Printable(path).c_str(), Printable(real).c_str(), root.c_str());
}

// Every way a session resolves a path, on `vpath` (normalised or not).
void Resolve(std::string_view vpath) {
  const fs::Root& root = g_tree->root;
  static constexpr int kFlags[] = {O_RDONLY | O_NONBLOCK | O_NOCTTY, O_PATH, O_PATH | O_NOFOLLOW,
                                   O_RDONLY | O_DIRECTORY};
  for (const int flags : kFlags) {
    auto fd = root.Open(vpath, flags);
    if (fd) CheckFd(fd->get(), "Open", vpath);
  }
  if (auto st = root.Stat(vpath)) CheckStat(*st, "Stat", vpath);
  if (auto st = root.Lstat(vpath)) CheckStat(*st, "Lstat", vpath);
  if (auto fd = root.EnterDir(vpath)) CheckFd(fd->get(), "EnterDir", vpath);
}

void CheckNormalized(std::string_view v, std::string_view from) {
  FUZZ_CHECK(!v.empty() && v.front() == '/', "Normalize gave \"%s\" for \"%s\"",
             Printable(v).c_str(), Printable(from).c_str());
  FUZZ_CHECK(v == "/" || v.back() != '/', "trailing '/' in \"%s\"", Printable(v).c_str());
  FUZZ_CHECK(v.size() <= limits::kMaxPath, "%zu bytes", v.size());
  if (v == "/") return;
  size_t i = 1;
  while (i <= v.size()) {
    size_t j = v.find('/', i);
    if (j == std::string_view::npos) j = v.size();
    const std::string_view comp = v.substr(i, j - i);
    FUZZ_CHECK(!comp.empty() && comp != "." && comp != "..", "component \"%s\" left in \"%s\"",
               Printable(comp).c_str(), Printable(v).c_str());
    i = j + 1;
  }
}

void CheckListing(const std::string& vpath, std::string_view pattern, unsigned style) {
  const fs::Root& root = g_tree->root;
  auto entries = fs::ReadDir(root, vpath, /*all=*/true, pattern);
  if (!entries) return;
  for (const auto& e : *entries) {
    FUZZ_CHECK(!e.name.empty() && e.name.find('/') == std::string::npos, "entry name \"%s\"",
               Printable(e.name).c_str());
    if (e.is_link && e.target_ok)
      CheckStat(e.target_st, "ReadDir link target", vpath + "/" + e.name);
  }
  auto listing = fs::DirListing::Read(root, vpath, /*all=*/true, pattern);
  if (!listing) return;
  fs::EmitOptions eo;
  eo.style = style % 3 == 0   ? fs::ListStyle::kLs
             : style % 3 == 1 ? fs::ListStyle::kFacts
                              : fs::ListStyle::kNames;
  eo.now = 1700000000;
  eo.coding = (style & 4) ? fs::NameCoding::kControl : fs::NameCoding::kData;
  std::string text;
  (void)listing->Emit(eo, [&](std::string_view piece) {
    text.append(piece);
    return true;
  });
  size_t lines = 0;
  for (size_t at = 0; at < text.size(); ++lines) {
    const size_t crlf = text.find("\r\n", at);
    FUZZ_CHECK(crlf != std::string::npos, "listing does not end in CRLF: \"%s\"",
               Printable(text.substr(at)).c_str());
    const std::string_view line(text.data() + at, crlf - at);
    FUZZ_CHECK(line.find('\n') == std::string_view::npos, "LF inside listing line \"%s\"",
               Printable(line).c_str());
    if (eo.coding == fs::NameCoding::kData)
      FUZZ_CHECK(line.find('\r') == std::string_view::npos, "CR inside listing line \"%s\"",
                 Printable(line).c_str());
    at = crlf + 2;
  }
  FUZZ_CHECK(lines == entries->size(), "%zu listing lines for %zu entries", lines, entries->size());
}

}  // namespace
}  // namespace poolftpd::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  poolftpd::fuzz::BuildTree();
  std::atexit([] { delete poolftpd::fuzz::g_tree; });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace poolftpd;
  using namespace poolftpd::fuzz;
  Input in(data, size);
  const unsigned style = in.Byte();
  // "cwd\narg": the session's directory, then what the client typed.
  const std::string_view cwd_text = in.TakeUntil("\n");
  const std::string_view arg = in.rest();

  const bool has_nul =
      cwd_text.find('\0') != std::string_view::npos || arg.find('\0') != std::string_view::npos;
  auto cwd = fs::Normalize("/", cwd_text);
  if (!cwd) {
    FUZZ_CHECK(has_nul || cwd_text.size() + 1 > limits::kMaxPath, "Normalize(\"/\", \"%s\") failed",
               Printable(cwd_text).c_str());
    return 0;
  }
  CheckNormalized(*cwd, cwd_text);
  auto again = fs::Normalize("/", *cwd);
  FUZZ_CHECK(again && *again == *cwd, "not idempotent: \"%s\"", Printable(*cwd).c_str());

  auto v = fs::Normalize(*cwd, arg);
  if (!v) {
    FUZZ_CHECK(has_nul || cwd->size() + arg.size() + 1 > limits::kMaxPath,
               "Normalize(\"%s\", \"%s\") failed", Printable(*cwd).c_str(), Printable(arg).c_str());
  } else {
    CheckNormalized(*v, arg);
    if (!arg.empty() && arg.front() == '/') {
      auto abs = fs::Normalize("/", arg);
      FUZZ_CHECK(abs && *abs == *v, "cwd changed an absolute path: \"%s\"", Printable(arg).c_str());
    }
    Resolve(*v);
    const size_t slash = v->rfind('/');
    const std::string dir = slash == 0 ? "/" : v->substr(0, slash);
    if (style & 8) CheckListing(*v, {}, style);
    else
      CheckListing(dir, std::string_view(*v).substr(slash + 1), style);
  }
  // The kernel's confinement alone: the client's bytes as they came.
  Resolve(arg);
  return 0;
}
