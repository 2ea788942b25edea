// Unit tests for the fs module: lexical normalisation, confinement of every
// lookup under the session root (real temp trees, real symlinks), listings
// and their formats.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "poolftpd/fs/listing.h"
#include "poolftpd/fs/path.h"
#include "poolftpd/util/limits.h"
#include "poolftpd/util/unique_fd.h"

namespace poolftpd::fs {
namespace {

// ---------------------------------------------------------------------------
// Helpers

// A temp directory tree removed at the end of the test.
class TempTree {
 public:
  TempTree() {
    const char* tmp = ::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/fs_test.XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) std::abort();
    path_ = buf.data();
  }
  ~TempTree() {
    std::error_code ec;  // remove_all does not follow symlinks
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

  void Mkdir(const std::string& rel) const {
    ASSERT_EQ(::mkdir((*this / rel).c_str(), 0755), 0) << rel;
  }
  void Write(const std::string& rel, const std::string& data) const {
    std::ofstream f(*this / rel, std::ios::binary);
    f << data;
    ASSERT_TRUE(f.good()) << rel;
  }
  void Symlink(const std::string& target, const std::string& rel) const {
    ASSERT_EQ(::symlink(target.c_str(), (*this / rel).c_str()), 0) << rel;
  }
  ino_t Inode(const std::string& rel) const {
    struct stat st {};
    if (::lstat((*this / rel).c_str(), &st) != 0) return 0;
    return st.st_ino;
  }

 private:
  std::string path_;
};

std::string Norm(std::string_view cwd, std::string_view arg) {
  auto r = Normalize(cwd, arg);
  if (!r) return "<error>";
  return *r;
}

std::vector<std::string> Names(const std::vector<Entry>& v) {
  std::vector<std::string> out;
  for (const auto& e : v) out.push_back(e.name);
  return out;
}

const Entry* Find(const std::vector<Entry>& v, const std::string& name) {
  for (const auto& e : v) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

std::time_t Utc(int y, int mo, int d, int h, int mi, int s) {
  struct tm tm {};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return ::timegm(&tm);
}

// ---------------------------------------------------------------------------
// Normalize / RelativeToRoot

TEST(NormalizeTest, Table) {
  struct Case {
    const char* cwd;
    const char* arg;
    const char* want;
  } cases[] = {
      {"/", "", "/"},
      {"/pub", "", "/pub"},
      {"/pub", ".", "/pub"},
      {"/pub", "./", "/pub"},
      {"/pub", "..", "/"},
      {"/pub/a", "../b", "/pub/b"},
      {"/", "..", "/"},
      {"/", "../../..", "/"},
      {"/pub", "../../../etc/passwd", "/etc/passwd"},
      {"/pub", "a//b///c", "/pub/a/b/c"},
      {"/pub", "a/", "/pub/a"},
      {"/pub", "a/./b/.", "/pub/a/b"},
      {"/pub", "/abs/path", "/abs/path"},
      {"/pub", "//abs", "/abs"},
      {"/pub", "/", "/"},
      {"/pub", "/..", "/"},
      {"/a/b/c", "../../..", "/"},
      {"/a", "...", "/a/..."},
      {"/a", "..x/.x", "/a/..x/.x"},
      {"/", "dir\\with\\backslash", "/dir\\with\\backslash"},
      {"/", "with space ", "/with space "},
      {"/", "\xc3\xa9t\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac",
       "/\xc3\xa9t\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac"},
      {"/", "\xff\xfe", "/\xff\xfe"},  // not UTF-8 either: bytes kept
      {"//pub//", "x", "/pub/x"},
      {"pub", "x", "/pub/x"},  // a relative cwd is taken from "/"
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Norm(c.cwd, c.arg), c.want) << "cwd=" << c.cwd << " arg=" << c.arg;
  }
}

TEST(NormalizeTest, RejectsNul) {
  const std::string arg("a\0b", 3);
  auto r = Normalize("/", arg);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalid);
  auto r2 = Normalize(std::string("/p\0q", 4), "x");
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code(), ErrorCode::kInvalid);
}

TEST(NormalizeTest, LengthLimit) {
  // Exactly kMaxPath bytes is fine; one more is not.
  const std::string ok_arg(limits::kMaxPath - 1, 'a');
  auto ok = Normalize("/", ok_arg);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->size(), limits::kMaxPath);
  auto too_long = Normalize("/", ok_arg + "b");
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().code(), ErrorCode::kInvalid);
  // The limit applies to the result: a long input that collapses is fine.
  std::string collapsing;
  for (int i = 0; i < 2000; ++i) collapsing += "x/../";
  EXPECT_EQ(Norm("/", collapsing + "y"), "/y");
  // The cwd counts too.
  const std::string long_cwd = "/" + std::string(limits::kMaxPath - 2, 'c');
  EXPECT_FALSE(Normalize(long_cwd, "dd"));
  EXPECT_TRUE(Normalize(long_cwd, "../dd"));
}

TEST(RelativeToRootTest, Table) {
  EXPECT_EQ(RelativeToRoot("/"), ".");
  EXPECT_EQ(RelativeToRoot(""), ".");
  EXPECT_EQ(RelativeToRoot("//"), ".");
  EXPECT_EQ(RelativeToRoot("/a"), "a");
  EXPECT_EQ(RelativeToRoot("/a/b"), "a/b");
  EXPECT_EQ(RelativeToRoot("a/b"), "a/b");
}

// ---------------------------------------------------------------------------
// Root: confinement

// root/pub/file, root/secret-dir, outside/outside-file next to root, and links
// in root/pub trying every way out.
class RootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    t_.Mkdir("root");
    t_.Mkdir("root/pub");
    t_.Mkdir("root/pub/sub");
    t_.Write("root/pub/file", "inside\n");
    t_.Write("root/pub/sub/deep", "deep\n");
    t_.Mkdir("outside");
    t_.Write("outside/outside-file", "SECRET\n");
    t_.Write("outside-top", "SECRET\n");
    t_.Symlink("/etc/passwd", "root/pub/etc-passwd");
    t_.Symlink("../../outside-top", "root/pub/dotdot-out");
    t_.Symlink("../../outside/outside-file", "root/pub/dotdot-out2");
    t_.Symlink("/pub/file", "root/pub/abs-in");
    t_.Symlink("file", "root/pub/rel-in");
    t_.Symlink("../../outside", "root/pub/dir-out");
    t_.Symlink(t_ / "outside", "root/pub/dir-out-abs");
    t_.Symlink("sub", "root/pub/dir-in");
    t_.Symlink("../../..", "root/pub/up");  // clamped: the root itself
    t_.Symlink("nowhere", "root/pub/dangling");
    t_.Symlink("loop2", "root/pub/loop1");
    t_.Symlink("loop1", "root/pub/loop2");
    auto r = Root::OpenDir(t_ / "root");
    ASSERT_TRUE(r) << r.error().message();
    root_ = std::move(*r);
  }

  // An outside file's inode must never be what a lookup returns.
  void ExpectNotOutside(const struct stat& st) {
    EXPECT_NE(st.st_ino, t_.Inode("outside/outside-file"));
    EXPECT_NE(st.st_ino, t_.Inode("outside-top"));
    EXPECT_NE(st.st_ino, t_.Inode("outside"));
    EXPECT_NE(st.st_ino, t_.Inode(""));  // the parent of the root
    struct stat pw {};
    if (::stat("/etc/passwd", &pw) == 0) {
      EXPECT_FALSE(st.st_ino == pw.st_ino && st.st_dev == pw.st_dev);
    }
  }

  TempTree t_;
  Root root_;
};

TEST_F(RootTest, OpenDirErrors) {
  auto missing = Root::OpenDir(t_ / "no-such-dir");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kSystem);
  EXPECT_EQ(missing.error().sys_errno(), ENOENT);
  auto file = Root::OpenDir(t_ / "root/pub/file");
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().sys_errno(), ENOTDIR);
  EXPECT_TRUE(root_.valid());
  EXPECT_GE(root_.fd(), 0);
  EXPECT_FALSE(Root().valid());
}

TEST_F(RootTest, OpensInRootFile) {
  auto fd = root_.Open("/pub/file", O_RDONLY);
  ASSERT_TRUE(fd) << fd.error().message();
  char buf[16] = {};
  ASSERT_EQ(::read(fd->get(), buf, sizeof buf), 7);
  EXPECT_STREQ(buf, "inside\n");
  EXPECT_EQ(::fcntl(fd->get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

TEST_F(RootTest, RootItself) {
  auto st = root_.Stat("/");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->st_ino, t_.Inode("root"));
  auto dot = root_.Stat(".");
  ASSERT_TRUE(dot);
  EXPECT_EQ(dot->st_ino, t_.Inode("root"));
}

TEST_F(RootTest, DotDotNeverLeavesRoot) {
  for (const char* p : {"..", "../..", "/..", "/../..", "pub/../../..", "/pub/sub/../../../.."}) {
    auto st = root_.Stat(p);
    ASSERT_TRUE(st) << p;
    EXPECT_EQ(st->st_ino, t_.Inode("root")) << p;
  }
  // Raw (un-normalised) paths with ".." go to the in-root file, not outside.
  for (const char* p : {"/../../outside/outside-file", "../outside-top", "../../etc/passwd",
                        "/../../etc/passwd", "pub/../../outside/outside-file"}) {
    auto fd = root_.Open(p, O_RDONLY);
    EXPECT_FALSE(fd) << p;
    if (!fd) {
      EXPECT_EQ(fd.error().sys_errno(), ENOENT) << p;
    }
    auto st = root_.Stat(p);
    if (st) ExpectNotOutside(*st);
  }
  auto in = root_.Stat("/../../pub/file");
  ASSERT_TRUE(in);
  EXPECT_EQ(in->st_ino, t_.Inode("root/pub/file"));
}

TEST_F(RootTest, AbsoluteSymlinkResolvesInsideRoot) {
  auto st = root_.Stat("/pub/abs-in");
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(st->st_ino, t_.Inode("root/pub/file"));
  auto fd = root_.Open("/pub/abs-in", O_RDONLY);
  ASSERT_TRUE(fd);
  char buf[16] = {};
  ASSERT_EQ(::read(fd->get(), buf, sizeof buf), 7);
  EXPECT_STREQ(buf, "inside\n");
  auto rel = root_.Stat("/pub/rel-in");
  ASSERT_TRUE(rel);
  EXPECT_EQ(rel->st_ino, t_.Inode("root/pub/file"));
}

TEST_F(RootTest, EscapingSymlinksNeverReachOutside) {
  for (const char* p : {"/pub/etc-passwd", "/pub/dotdot-out", "/pub/dotdot-out2",
                        "/pub/dir-out/outside-file", "/pub/dir-out-abs/outside-file"}) {
    auto fd = root_.Open(p, O_RDONLY);
    if (fd) {
      struct stat st {};
      ASSERT_EQ(::fstat(fd->get(), &st), 0);
      ExpectNotOutside(st);
    } else {
      const int e = fd.error().sys_errno();
      EXPECT_TRUE(e == ENOENT || e == EXDEV || e == ELOOP) << p << ": " << e;
    }
    auto st = root_.Stat(p);
    if (st) ExpectNotOutside(*st);
  }
  // A directory link pointing out resolves to the root itself when clamped.
  auto dir = root_.Stat("/pub/dir-out");
  if (dir) ExpectNotOutside(*dir);
  // "../../outside" from /pub is clamped to /outside in the root: absent.
  auto via = root_.Stat("/pub/dir-out/outside-file");
  ASSERT_FALSE(via);
  EXPECT_EQ(via.error().sys_errno(), ENOENT);
  // "../../.." from /pub is clamped to the root: /pub/up/pub/file is in-root.
  auto up = root_.Stat("/pub/up");
  ASSERT_TRUE(up);
  EXPECT_EQ(up->st_ino, t_.Inode("root"));
  auto up_file = root_.Stat("/pub/up/pub/file");
  ASSERT_TRUE(up_file);
  EXPECT_EQ(up_file->st_ino, t_.Inode("root/pub/file"));
  EXPECT_FALSE(root_.Stat("/pub/up/../outside-top"));
}

TEST_F(RootTest, ErrnoIsKept) {
  auto missing = root_.Open("/pub/missing", O_RDONLY);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kSystem);
  EXPECT_EQ(missing.error().sys_errno(), ENOENT);
  EXPECT_NE(missing.error().context().find("/pub/missing"), std::string::npos);
  auto notdir = root_.Open("/pub/file/x", O_RDONLY);
  ASSERT_FALSE(notdir);
  EXPECT_EQ(notdir.error().sys_errno(), ENOTDIR);
  auto loop = root_.Open("/pub/loop1", O_RDONLY);
  ASSERT_FALSE(loop);
  EXPECT_EQ(loop.error().sys_errno(), ELOOP);
  auto dangling = root_.Stat("/pub/dangling");
  ASSERT_FALSE(dangling);
  EXPECT_EQ(dangling.error().sys_errno(), ENOENT);
  auto isdir = root_.Open("/pub", O_WRONLY);
  ASSERT_FALSE(isdir);
  EXPECT_EQ(isdir.error().sys_errno(), EISDIR);
  auto nofollow = root_.Open("/pub/rel-in", O_RDONLY | O_NOFOLLOW);
  ASSERT_FALSE(nofollow);
  EXPECT_EQ(nofollow.error().sys_errno(), ELOOP);
  auto nul = root_.Open(std::string("/pub/file\0x", 11), O_RDONLY);
  ASSERT_FALSE(nul);
  EXPECT_EQ(nul.error().sys_errno(), EINVAL);
  Root closed;
  auto on_closed = closed.Open("/", O_RDONLY);
  ASSERT_FALSE(on_closed);
  EXPECT_EQ(on_closed.error().sys_errno(), EBADF);
}

TEST_F(RootTest, CreateHonoursModeAndStaysInside) {
  auto fd = root_.Open("/pub/new", O_WRONLY | O_CREAT | O_EXCL, 0600);
  ASSERT_TRUE(fd) << fd.error().message();
  struct stat st {};
  ASSERT_EQ(::stat((t_ / "root/pub/new").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Default mode (0666 & ~umask) through the two-argument form.
  auto fd2 = root_.Open("/pub/new2", O_WRONLY | O_CREAT);
  ASSERT_TRUE(fd2) << fd2.error().message();
  // Creating through ".." lands inside the root, never next to it.
  auto fd3 = root_.Open("/../../created-by-test", O_WRONLY | O_CREAT);
  ASSERT_TRUE(fd3);
  EXPECT_NE(t_.Inode("root/created-by-test"), 0u);
  EXPECT_EQ(t_.Inode("created-by-test"), 0u);
  // Creating through a link that points outside does not create outside.
  auto fd4 = root_.Open("/pub/dotdot-out", O_WRONLY | O_CREAT | O_TRUNC);
  if (fd4) {
    EXPECT_NE(t_.Inode("root/outside-top"), 0u);
  }
  std::ifstream top(t_ / "outside-top");
  std::string content;
  std::getline(top, content);
  EXPECT_EQ(content, "SECRET");
}

TEST_F(RootTest, LstatGivesTheLinkItself) {
  auto l = root_.Lstat("/pub/abs-in");
  ASSERT_TRUE(l);
  EXPECT_TRUE(S_ISLNK(l->st_mode));
  EXPECT_EQ(l->st_ino, t_.Inode("root/pub/abs-in"));
  auto s = root_.Stat("/pub/abs-in");
  ASSERT_TRUE(s);
  EXPECT_TRUE(S_ISREG(s->st_mode));
  // Lstat of an escaping or dangling link still works: it is inside.
  auto esc = root_.Lstat("/pub/etc-passwd");
  ASSERT_TRUE(esc);
  EXPECT_TRUE(S_ISLNK(esc->st_mode));
  auto dangling = root_.Lstat("/pub/dangling");
  ASSERT_TRUE(dangling);
  // Parents are resolved confined: a link in the middle is followed in-root.
  auto through = root_.Lstat("/pub/dir-in/deep");
  ASSERT_TRUE(through);
  EXPECT_EQ(through->st_ino, t_.Inode("root/pub/sub/deep"));
  auto missing = root_.Lstat("/pub/nothing");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().sys_errno(), ENOENT);
}

TEST(RootMagicLinkTest, MagicLinksRefused) {
  // /proc/self/root and /proc/self/fd/N are magic links that would jump
  // anywhere; RESOLVE_NO_MAGICLINKS refuses them even with "/" as root.
  auto r = Root::OpenDir("/");
  ASSERT_TRUE(r);
  auto via_proc = r->Open("/proc/self/root/etc", O_RDONLY | O_DIRECTORY);
  ASSERT_FALSE(via_proc);
  EXPECT_EQ(via_proc.error().sys_errno(), ELOOP);

  TempTree t;
  t.Write("secret", "x");
  UniqueFd outside(::open((t / "secret").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(outside);
  auto fds = Root::OpenDir("/proc/self/fd");
  ASSERT_TRUE(fds);
  auto jumped = fds->Open(std::to_string(outside.get()), O_RDONLY);
  ASSERT_FALSE(jumped);
  EXPECT_EQ(jumped.error().sys_errno(), ELOOP);
}

// ---------------------------------------------------------------------------
// ReadDir / StatEntry

class ListingTest : public RootTest {
 protected:
  void SetUp() override {
    RootTest::SetUp();
    t_.Write("root/pub/b.txt", "bb");
    t_.Write("root/pub/a.txt", "a");
    t_.Write("root/pub/B-upper", "");
    t_.Write("root/pub/.hidden", "h");
    t_.Mkdir("root/pub/.hiddendir");
    t_.Write("root/pub/\xc3\xa9t\xc3\xa9", "utf8");
    t_.Write("root/pub/with space", "s");
  }
};

TEST_F(ListingTest, SortedByBytesWithoutDotfiles) {
  auto r = ReadDir(root_, "/pub", false);
  ASSERT_TRUE(r) << r.error().message();
  const std::vector<std::string> want = {
      "B-upper",    "a.txt",       "abs-in",           "b.txt",
      "dangling",   "dir-in",      "dir-out",          "dir-out-abs",
      "dotdot-out", "dotdot-out2", "etc-passwd",       "file",
      "loop1",      "loop2",       "rel-in",           "sub",
      "up",         "with space",  "\xc3\xa9t\xc3\xa9"};
  EXPECT_EQ(Names(*r), want);
}

TEST_F(ListingTest, AllAddsDotfilesAndDotDirs) {
  auto r = ReadDir(root_, "/pub", true);
  ASSERT_TRUE(r);
  const auto names = Names(*r);
  ASSERT_GE(names.size(), 4u);
  EXPECT_EQ(names[0], ".");
  EXPECT_EQ(names[1], "..");
  EXPECT_EQ(names[2], ".hidden");
  EXPECT_EQ(names[3], ".hiddendir");
  const Entry* dot = Find(*r, ".");
  const Entry* dotdot = Find(*r, "..");
  ASSERT_TRUE(dot && dotdot);
  EXPECT_EQ(dot->st.st_ino, t_.Inode("root/pub"));
  EXPECT_EQ(dotdot->st.st_ino, t_.Inode("root"));
  // At the root, ".." is the root itself, never its real parent.
  auto top = ReadDir(root_, "/", true);
  ASSERT_TRUE(top);
  const Entry* top_dotdot = Find(*top, "..");
  ASSERT_TRUE(top_dotdot);
  EXPECT_EQ(top_dotdot->st.st_ino, t_.Inode("root"));
  EXPECT_EQ(Names(*top), (std::vector<std::string>{".", "..", "pub"}));
}

TEST_F(ListingTest, EntriesCarryLstatAndConfinedTargets) {
  auto r = ReadDir(root_, "/pub", false);
  ASSERT_TRUE(r);
  const Entry* file = Find(*r, "file");
  ASSERT_TRUE(file);
  EXPECT_TRUE(S_ISREG(file->st.st_mode));
  EXPECT_EQ(file->st.st_size, 7);
  EXPECT_FALSE(file->is_link);
  const Entry* sub = Find(*r, "sub");
  ASSERT_TRUE(sub);
  EXPECT_TRUE(S_ISDIR(sub->st.st_mode));

  const Entry* abs_in = Find(*r, "abs-in");
  ASSERT_TRUE(abs_in);
  EXPECT_TRUE(abs_in->is_link);
  EXPECT_TRUE(S_ISLNK(abs_in->st.st_mode));
  EXPECT_EQ(abs_in->link_target, "/pub/file");
  EXPECT_TRUE(abs_in->target_ok);
  EXPECT_EQ(abs_in->target_st.st_ino, t_.Inode("root/pub/file"));

  const Entry* dir_in = Find(*r, "dir-in");
  ASSERT_TRUE(dir_in);
  EXPECT_TRUE(dir_in->target_ok);
  EXPECT_TRUE(S_ISDIR(dir_in->target_st.st_mode));

  for (const char* name : {"etc-passwd", "dotdot-out", "dotdot-out2", "dangling", "loop1"}) {
    const Entry* e = Find(*r, name);
    ASSERT_TRUE(e) << name;
    EXPECT_TRUE(e->is_link) << name;
    EXPECT_FALSE(e->target_ok) << name;
  }
  EXPECT_EQ(Find(*r, "etc-passwd")->link_target, "/etc/passwd");
  EXPECT_EQ(Find(*r, "dotdot-out")->link_target, "../../outside-top");
  // "../../outside" clamps to "/outside" in the root, which does not exist.
  const Entry* dir_out = Find(*r, "dir-out");
  ASSERT_TRUE(dir_out);
  EXPECT_FALSE(dir_out->target_ok);
}

TEST_F(ListingTest, PatternFilters) {
  auto txt = ReadDir(root_, "/pub", false, "*.txt");
  ASSERT_TRUE(txt);
  EXPECT_EQ(Names(*txt), (std::vector<std::string>{"a.txt", "b.txt"}));
  auto q = ReadDir(root_, "/pub", false, "[ab]?txt");
  ASSERT_TRUE(q);
  EXPECT_EQ(Names(*q), (std::vector<std::string>{"a.txt", "b.txt"}));
  auto dots = ReadDir(root_, "/pub", true, ".h*");
  ASSERT_TRUE(dots);
  EXPECT_EQ(Names(*dots), (std::vector<std::string>{".hidden", ".hiddendir"}));
  // Without -a a pattern does not reveal dotfiles.
  auto hidden = ReadDir(root_, "/pub", false, ".h*");
  ASSERT_TRUE(hidden);
  EXPECT_TRUE(hidden->empty());
  auto none = ReadDir(root_, "/pub", false, "zzz*");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(ListingTest, ThroughSymlinkedDirectory) {
  auto r = ReadDir(root_, "/pub/dir-in", false);
  ASSERT_TRUE(r);
  EXPECT_EQ(Names(*r), (std::vector<std::string>{"deep"}));
}

TEST_F(ListingTest, Errors) {
  auto missing = ReadDir(root_, "/pub/missing", false);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().sys_errno(), ENOENT);
  auto file = ReadDir(root_, "/pub/file", false);
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().sys_errno(), ENOTDIR);
  auto out = ReadDir(root_, "/pub/dir-out-abs", false);
  ASSERT_FALSE(out);  // the absolute outside path does not exist in the root
  EXPECT_EQ(out.error().sys_errno(), ENOENT);
  if (::geteuid() != 0) {
    ASSERT_EQ(::chmod((t_ / "root/pub/sub").c_str(), 0), 0);
    auto denied = ReadDir(root_, "/pub/sub", false);
    ::chmod((t_ / "root/pub/sub").c_str(), 0755);
    ASSERT_FALSE(denied);
    EXPECT_EQ(denied.error().sys_errno(), EACCES);
  }
}

TEST_F(ListingTest, StatEntry) {
  auto root = StatEntry(root_, "/");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->name, "/");
  EXPECT_TRUE(S_ISDIR(root->st.st_mode));
  EXPECT_EQ(root->st.st_ino, t_.Inode("root"));

  auto file = StatEntry(root_, "/pub/file");
  ASSERT_TRUE(file);
  EXPECT_EQ(file->name, "file");
  EXPECT_FALSE(file->is_link);
  EXPECT_EQ(file->st.st_size, 7);

  auto link = StatEntry(root_, "/pub/abs-in");
  ASSERT_TRUE(link);
  EXPECT_EQ(link->name, "abs-in");
  EXPECT_TRUE(link->is_link);
  EXPECT_EQ(link->link_target, "/pub/file");
  EXPECT_TRUE(link->target_ok);
  EXPECT_EQ(link->target_st.st_ino, t_.Inode("root/pub/file"));

  auto esc = StatEntry(root_, "/pub/etc-passwd");
  ASSERT_TRUE(esc);
  EXPECT_TRUE(esc->is_link);
  EXPECT_EQ(esc->link_target, "/etc/passwd");
  EXPECT_FALSE(esc->target_ok);

  auto dir = StatEntry(root_, "/pub/sub");
  ASSERT_TRUE(dir);
  EXPECT_EQ(dir->name, "sub");
  EXPECT_TRUE(S_ISDIR(dir->st.st_mode));

  auto missing = StatEntry(root_, "/pub/none");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().sys_errno(), ENOENT);
  auto outside = StatEntry(root_, "/../outside-top");
  ASSERT_FALSE(outside);
  EXPECT_EQ(outside.error().sys_errno(), ENOENT);
}

TEST(ReadDirLargeTest, ManyEntries) {
  TempTree t;
  t.Mkdir("big");
  constexpr int kN = 1000;
  for (int i = 0; i < kN; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "big/f%05d", kN - 1 - i);
    UniqueFd fd(::open((t / name).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    ASSERT_TRUE(fd);
  }
  auto root = Root::OpenDir(t.path());
  ASSERT_TRUE(root);
  auto r = ReadDir(*root, "/big", false);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), static_cast<size_t>(kN));
  EXPECT_EQ((*r)[0].name, "f00000");
  EXPECT_EQ((*r)[kN - 1].name, "f00999");
  for (int i = 1; i < kN; ++i) ASSERT_LT((*r)[i - 1].name, (*r)[i].name);
}

// ---------------------------------------------------------------------------
// DirListing: the streamed listing must match ReadDir + the one-entry
// formatters line for line (ReadDir is the reference implementation).

std::string OwnerName(bool is_group, unsigned id) {
  if (id == 0) return is_group ? "wheel" : "root";
  return "";  // others as numbers
}

std::string Expected(const Root& root, std::string_view vpath, bool all, std::string_view pattern,
                     const EmitOptions& o) {
  auto entries = ReadDir(root, vpath, all, pattern);
  if (!entries) return "<error>";
  std::string out;
  for (const Entry& e : *entries) {
    switch (o.style) {
      case ListStyle::kLs:
        out += FormatLsLine(e, o.now, *o.names, o.coding);
        break;
      case ListStyle::kFacts:
        out += FormatFacts(e, o.facts, o.access ? *o.access : Access::OfProcess(),
                           o.names ? *o.names : NameLookup{},
                           e.name == "."    ? "cdir"
                           : e.name == ".." ? "pdir"
                                            : "",
                           o.coding);
        break;
      case ListStyle::kNames:
        if (o.skip_dot_dirs && (e.name == "." || e.name == "..")) continue;
        out += EncodeName(e.name, o.coding);
        break;
    }
    out += "\r\n";
  }
  return out;
}

// The text DirListing streams, and how many pieces it came in.
std::string Streamed(const Root& root, std::string_view vpath, bool all, std::string_view pattern,
                     const EmitOptions& o, size_t* pieces = nullptr) {
  auto l = DirListing::Read(root, vpath, all, pattern);
  if (!l) return "<error>";
  std::string out;
  size_t n = 0;
  const bool ok = l->Emit(o, [&](std::string_view text) {
    out.append(text);
    ++n;
    return true;
  });
  if (!ok) return "<emit failed>";
  if (pieces) *pieces = n;
  return out;
}

std::vector<EmitOptions> AllStyles(const NameLookup* names) {
  std::vector<EmitOptions> v(9);
  v[0].style = ListStyle::kLs;
  v[0].now = Utc(2026, 11, 21, 12, 0, 0);
  v[0].names = names;
  v[1].style = ListStyle::kFacts;
  v[1].names = names;
  v[2].style = ListStyle::kFacts;
  v[2].facts = kFactType | kFactUnixMode;
  v[3].style = ListStyle::kNames;
  v[4].style = ListStyle::kNames;
  v[4].skip_dot_dirs = true;
  // The control-connection coding (STAT) on every style.
  for (size_t i = 5; i < 9; ++i) {
    v[i] = v[i - 5];
    v[i].coding = NameCoding::kControl;
  }
  return v;
}

TEST_F(ListingTest, DirListingMatchesReadDir) {
  const NameLookup names = &OwnerName;
  int i = 0;
  for (const EmitOptions& o : AllStyles(&names)) {
    for (const char* dir : {"/pub", "/", "/pub/sub", "/pub/dir-in"}) {
      for (bool all : {false, true}) {
        EXPECT_EQ(Streamed(root_, dir, all, {}, o), Expected(root_, dir, all, {}, o))
            << "style " << i << " dir " << dir << " all " << all;
      }
    }
    for (const char* pattern : {"*.txt", "[ab]?txt", ".h*", "zzz*", "."}) {
      EXPECT_EQ(Streamed(root_, "/pub", true, pattern, o),
                Expected(root_, "/pub", true, pattern, o))
          << "style " << i << " pattern " << pattern;
    }
    ++i;
  }
  // Symlinks: LIST shows the link and its text, MLSD the confined target.
  EmitOptions facts;
  facts.style = ListStyle::kFacts;
  const std::string mlsd = Streamed(root_, "/pub", false, {}, facts);
  EXPECT_NE(mlsd.find("type=file;size=7;"), std::string::npos);
  EXPECT_NE(mlsd.find("type=OS.unix=symlink;modify="), std::string::npos);
  EXPECT_EQ(mlsd.find("SECRET"), std::string::npos);
}

TEST_F(ListingTest, DirListingErrors) {
  auto missing = DirListing::Read(root_, "/pub/missing", false);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().sys_errno(), ENOENT);
  auto file = DirListing::Read(root_, "/pub/file", false);
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().sys_errno(), ENOTDIR);
  auto out = DirListing::Read(root_, "/pub/dir-out-abs", false);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().sys_errno(), ENOENT);
}

// Big enough for the helper threads and many pieces: names that share long
// prefixes (the sort's tie path) and bytes above 0x7f (unsigned order).
class DirListingLargeTest : public ::testing::Test {
 protected:
  // One tree for the suite: creating the files is most of the test's time.
  static void SetUpTestSuite() {
    t_ = new TempTree;
    t_->Mkdir("big");
    uint32_t seed = 12345;
    auto next = [&seed] { return seed = seed * 1103515245u + 12345u; };
    for (int i = 0; i < kN; ++i) {
      char name[64];
      switch (i % 4) {
        case 0:
          std::snprintf(name, sizeof name, "big/f%05d", (i * 7919) % kN);
          break;
        case 1:
          std::snprintf(name, sizeof name, "big/commonprefix_%05d", i);
          break;
        case 2:
          std::snprintf(name, sizeof name, "big/x%c%c%d", static_cast<char>(0x80 + next() % 128),
                        static_cast<char>(0x21 + next() % 14), i);  // no '/'
          break;
        default:
          std::snprintf(name, sizeof name, "big/%c%d", static_cast<char>(0xc0 + next() % 64), i);
          break;
      }
      UniqueFd fd(::open((*t_ / name).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
      ASSERT_TRUE(fd) << name;
    }
    t_->Mkdir("big/zdir");
    t_->Symlink("f00001", "big/zlink");
    t_->Symlink("/etc/passwd", "big/zout");
  }
  static void TearDownTestSuite() {
    delete t_;
    t_ = nullptr;
  }
  void SetUp() override {
    auto r = Root::OpenDir(t_->path());
    ASSERT_TRUE(r);
    root_ = std::move(*r);
  }
  static constexpr int kN = 2200;  // above the threading threshold; 3 pieces
  static inline TempTree* t_ = nullptr;
  Root root_;
};

TEST_F(DirListingLargeTest, MatchesReadDirInOrder) {
  const NameLookup names = &OwnerName;
  for (const EmitOptions& o : AllStyles(&names)) {
    size_t pieces = 0;
    const std::string got = Streamed(root_, "/big", true, {}, o, &pieces);
    EXPECT_EQ(got, Expected(root_, "/big", true, {}, o));
    EXPECT_EQ(pieces, 3u);
  }
  auto r = ReadDir(root_, "/big", false);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), static_cast<size_t>(kN + 3));
  for (size_t i = 1; i < r->size(); ++i) ASSERT_LT((*r)[i - 1].name, (*r)[i].name);
}

TEST_F(DirListingLargeTest, SinkCanStopEarly) {
  auto l = DirListing::Read(root_, "/big", false);
  ASSERT_TRUE(l);
  EXPECT_FALSE(l->cut());
  EmitOptions o;
  o.style = ListStyle::kFacts;
  size_t calls = 0;
  std::string first;
  EXPECT_FALSE(l->Emit(o, [&](std::string_view text) {
    if (calls++ == 0) first.assign(text);
    return false;  // e.g. the data connection broke
  }));
  EXPECT_EQ(calls, 1u);
  EXPECT_EQ(first.substr(0, 10), "type=file;");
  EXPECT_EQ(first.substr(first.size() - 2), "\r\n");
}

// ---------------------------------------------------------------------------
// FormatLsLine

class FormatTest : public ::testing::Test {
 protected:
  static Entry Make(const std::string& name, mode_t mode, off_t size, std::time_t mtime) {
    Entry e;
    e.name = name;
    e.st.st_mode = mode;
    e.st.st_size = size;
    e.st.st_mtime = mtime;
    e.st.st_nlink = 1;
    e.st.st_uid = 1000;
    e.st.st_gid = 100;
    e.st.st_dev = 0x803;
    e.st.st_ino = 0x1a2b3c;
    return e;
  }
  static std::string LookupName(bool is_group, unsigned id) {
    if (!is_group && id == 1000) return "ftp";
    if (is_group && id == 100) return "users";
    if (!is_group && id == 0) return "averyveryverylongname";
    return "";
  }
  const std::time_t now_ = Utc(2026, 11, 21, 12, 0, 0);
  const NameLookup names_ = &FormatTest::LookupName;
  // Facts as seen by uid 1000 (the entries' owner), group 100.
  const Access owner_{1000, 100, {}, false, false};
};

TEST_F(FormatTest, RegularFile) {
  Entry e = Make("name", S_IFREG | 0644, 1234, Utc(2026, 11, 21, 11, 39, 5));
  EXPECT_EQ(FormatLsLine(e, now_, names_),
            "-rw-r--r--   1 ftp      users        1234 Nov 21 11:39 name");
  // Without names (lookup empty or missing) the numbers are printed.
  EXPECT_EQ(FormatLsLine(e, now_, NameLookup{}),
            "-rw-r--r--   1 1000     100          1234 Nov 21 11:39 name");
  e.st.st_uid = 0;
  e.st.st_gid = 0;
  EXPECT_EQ(FormatLsLine(e, now_, [](bool, unsigned) { return std::string(); }),
            "-rw-r--r--   1 0        0            1234 Nov 21 11:39 name");
  // Over-long names and sizes widen their field instead of being cut.
  e.st.st_size = 123456789012LL;
  EXPECT_EQ(FormatLsLine(e, now_, names_),
            "-rw-r--r--   1 averyveryverylongname 0        123456789012 Nov 21 11:39 name");
}

TEST_F(FormatTest, Directory) {
  Entry e = Make("pub dir", S_IFDIR | 0755, 4096, Utc(2026, 11, 3, 8, 5, 0));
  e.st.st_nlink = 12;
  EXPECT_EQ(FormatLsLine(e, now_, names_),
            "drwxr-xr-x  12 ftp      users        4096 Nov  3 08:05 pub dir");
  e.st.st_nlink = 12345;
  EXPECT_EQ(FormatLsLine(e, now_, names_),
            "drwxr-xr-x 12345 ftp      users        4096 Nov  3 08:05 pub dir");
}

TEST_F(FormatTest, Symlink) {
  Entry e = Make("latest", S_IFLNK | 0777, 9, Utc(2026, 10, 1, 0, 0, 0));
  e.is_link = true;
  e.link_target = "/pub/file";
  EXPECT_EQ(FormatLsLine(e, now_, names_),
            "lrwxrwxrwx   1 ftp      users           9 Oct  1 00:00 latest -> /pub/file");
}

TEST_F(FormatTest, OldAndFutureUseYear) {
  Entry old = Make("old.tar.gz", S_IFREG | 0444, 5, Utc(2019, 2, 7, 13, 0, 0));
  EXPECT_EQ(FormatLsLine(old, now_, names_),
            "-r--r--r--   1 ftp      users           5 Feb  7  2019 old.tar.gz");
  // Exactly 180 days back still shows the time; one second more the year.
  Entry edge = Make("e", S_IFREG | 0644, 0, now_ - 180 * 24 * 3600);
  EXPECT_EQ(FormatLsLine(edge, now_, names_),
            "-rw-r--r--   1 ftp      users           0 May 25 12:00 e");
  edge.st.st_mtime -= 1;
  EXPECT_EQ(FormatLsLine(edge, now_, names_),
            "-rw-r--r--   1 ftp      users           0 May 25  2026 e");
  // Up to an hour in the future is "recent"; beyond, the year.
  Entry soon = Make("f", S_IFREG | 0644, 0, now_ + 3600);
  EXPECT_EQ(FormatLsLine(soon, now_, names_),
            "-rw-r--r--   1 ftp      users           0 Nov 21 13:00 f");
  soon.st.st_mtime += 1;
  EXPECT_EQ(FormatLsLine(soon, now_, names_),
            "-rw-r--r--   1 ftp      users           0 Nov 21  2026 f");
}

TEST_F(FormatTest, SpecialBitsAndTypes) {
  const std::time_t t = Utc(2026, 11, 20, 1, 2, 0);
  struct Case {
    mode_t mode;
    const char* want;
  } cases[] = {
      {S_IFREG | 04755, "-rwsr-xr-x"}, {S_IFREG | 04644, "-rwSr--r--"},
      {S_IFREG | 02755, "-rwxr-sr-x"}, {S_IFREG | 02745, "-rwxr-Sr-x"},
      {S_IFDIR | 01777, "drwxrwxrwt"}, {S_IFDIR | 01776, "drwxrwxrwT"},
      {S_IFREG | 07000, "---S--S--T"}, {S_IFCHR | 0620, "crw--w----"},
      {S_IFBLK | 0660, "brw-rw----"},  {S_IFIFO | 0600, "prw-------"},
      {S_IFSOCK | 0755, "srwxr-xr-x"}, {S_IFREG | 0, "----------"},
  };
  for (const auto& c : cases) {
    Entry e = Make("x", c.mode, 0, t);
    EXPECT_EQ(FormatLsLine(e, now_, names_),
              std::string(c.want) + "   1 ftp      users           0 Nov 20 01:02 x")
        << std::oct << c.mode;
  }
}

// ---------------------------------------------------------------------------
// FormatFacts / fact lists

TEST_F(FormatTest, FactsForFileAndDir) {
  Entry f = Make("file.txt", S_IFREG | 0644, 12, Utc(2026, 11, 21, 11, 45, 12));
  EXPECT_EQ(FormatFacts(f, kFactAll, owner_, names_),
            "type=file;size=12;modify=20261121114512;perm=r;unique=803U1a2b3c;UNIX.mode=0644;"
            "UNIX.owner=1000;UNIX.group=100;UNIX.ownername=ftp;UNIX.groupname=users; file.txt");
  Entry d = Make("sub", S_IFDIR | 02755, 4096, Utc(2001, 1, 2, 3, 4, 5));
  EXPECT_EQ(FormatFacts(d, kFactAll, owner_, names_),
            "type=dir;size=4096;modify=20010102030405;perm=el;unique=803U1a2b3c;UNIX.mode=2755;"
            "UNIX.owner=1000;UNIX.group=100;UNIX.ownername=ftp;UNIX.groupname=users; sub");
  EXPECT_EQ(FormatFacts(d, kFactAll, owner_, NameLookup{}, "cdir"),
            "type=cdir;size=4096;modify=20010102030405;perm=el;unique=803U1a2b3c;UNIX.mode=2755;"
            "UNIX.owner=1000;UNIX.group=100;UNIX.ownername=1000;UNIX.groupname=100; sub");
  EXPECT_EQ(FormatFacts(d, kFactType | kFactPerm, owner_, names_, "pdir"),
            "type=pdir;perm=el; sub");
}

TEST_F(FormatTest, FactSelection) {
  Entry f = Make("a b", S_IFREG | 0600, 0, Utc(2026, 1, 1, 0, 0, 0));
  EXPECT_EQ(FormatFacts(f, kFactType, owner_, names_), "type=file; a b");
  EXPECT_EQ(FormatFacts(f, kFactSize | kFactUnixMode, owner_, names_),
            "size=0;UNIX.mode=0600; a b");
  EXPECT_EQ(FormatFacts(f, kFactModify | kFactUnique, owner_, names_),
            "modify=20260101000000;unique=803U1a2b3c; a b");
  EXPECT_EQ(FormatFacts(f, kFactUnixOwner | kFactUnixGroupName, owner_, names_),
            "UNIX.owner=1000;UNIX.groupname=users; a b");
  EXPECT_EQ(FormatFacts(f, 0, owner_, names_), " a b");
}

TEST_F(FormatTest, FactsForSymlinks) {
  Entry link = Make("latest", S_IFLNK | 0777, 9, Utc(2026, 1, 1, 0, 0, 0));
  link.is_link = true;
  link.link_target = "file.txt";
  link.target_ok = true;
  link.target_st = Make("", S_IFREG | 0644, 12, Utc(2026, 11, 21, 11, 45, 12)).st;
  link.target_st.st_ino = 0xabc;
  link.target_st.st_uid = 0;
  const unsigned no_ids =
      kFactAll & ~(kFactUnixOwner | kFactUnixGroup | kFactUnixOwnerName | kFactUnixGroupName);
  // perm and the owner are the target's: owned by uid 0, read by others.
  EXPECT_EQ(
      FormatFacts(link, kFactAll, owner_, names_),
      "type=file;size=12;modify=20261121114512;perm=r;unique=803Uabc;UNIX.mode=0644;UNIX.owner=0;"
      "UNIX.group=100;UNIX.ownername=averyveryverylongname;UNIX.groupname=users; latest");
  link.target_st.st_mode = S_IFDIR | 0755;
  EXPECT_EQ(FormatFacts(link, kFactType | kFactPerm, owner_, names_), "type=dir;perm=el; latest");
  link.target_st.st_mode = S_IFDIR | 0750;  // group 100 may list it, others not
  EXPECT_EQ(FormatFacts(link, kFactType | kFactPerm, owner_, names_), "type=dir;perm=el; latest");
  EXPECT_EQ(FormatFacts(link, kFactType | kFactPerm, Access(2000, 200, {}, false, false), names_),
            "type=dir;perm=; latest");
  // A link whose target is missing or outside the root is shown as itself.
  link.target_ok = false;
  EXPECT_EQ(FormatFacts(link, no_ids, owner_, names_),
            "type=OS.unix=symlink;modify=20260101000000;unique=803U1a2b3c;UNIX.mode=0777; latest");
}

TEST(FactListTest, Feat) {
  EXPECT_EQ(FeatFactList(kFactAll),
            "type*;size*;modify*;perm*;unique*;UNIX.mode*;UNIX.owner*;UNIX.group*;UNIX.ownername*;"
            "UNIX.groupname*;");
  EXPECT_EQ(FeatFactList(0),
            "type;size;modify;perm;unique;UNIX.mode;UNIX.owner;UNIX.group;UNIX.ownername;UNIX."
            "groupname;");
  EXPECT_EQ(FeatFactList(kFactType | kFactUnixMode | kFactUnixGroup),
            "type*;size;modify;perm;unique;UNIX.mode*;UNIX.owner;UNIX.group*;UNIX.ownername;UNIX."
            "groupname;");
}

TEST(FactListTest, Parse) {
  EXPECT_EQ(ParseFactList("type;size;"), kFactType | kFactSize);
  EXPECT_EQ(ParseFactList("TYPE;Size;Modify;PERM;Unique;UNIX.mode;"), kFactAll & 0x3fu);
  EXPECT_EQ(ParseFactList("type;media-type;charset;unix.owner;"), kFactType | kFactUnixOwner);
  EXPECT_EQ(ParseFactList("UNIX.OWNERNAME;unix.groupname;unix.group"),
            kFactUnixOwnerName | kFactUnixGroupName | kFactUnixGroup);
  EXPECT_EQ(ParseFactList("modify"), kFactModify);
  EXPECT_EQ(ParseFactList(""), 0u);
  EXPECT_EQ(ParseFactList(";;;"), 0u);
  EXPECT_EQ(ParseFactList("typ;sizes;type2;"), 0u);
  EXPECT_EQ(ParseFactList(" type ; size;"), kFactType | kFactSize);
  EXPECT_EQ(ParseFactList(FeatFactList(0)), kFactAll);
}

// ---------------------------------------------------------------------------
// ParseListArgs

TEST(ParseListArgsTest, Cases) {
  struct Case {
    const char* arg;
    bool all, long_form, directory;
    const char* path;
  } cases[] = {
      {"", false, false, false, ""},
      {"-la", true, true, false, ""},
      {"-l dir with spaces", false, true, false, "dir with spaces"},
      {"-a -l x", true, true, false, "x"},
      {"-d pub", false, false, true, "pub"},
      {"-laRtx", true, true, false, ""},  // unknown letters ignored
      {"-A file", false, false, false, "file"},
      {"pub -l", false, false, false, "pub -l"},
      {"  -a   spaced", true, false, false, "spaced"},
      {"-", false, false, false, "-"},
      {"-a -", true, false, false, "-"},
      {"-- -weird", false, false, false, "-weird"},
      {"*.txt", false, false, false, "*.txt"},
      {"-l  two  spaces ", false, true, false, "two  spaces "},
  };
  for (const auto& c : cases) {
    ListOptions o;
    o.long_form = false;  // NLST defaults
    std::string path = "junk";
    ParseListArgs(c.arg, &o, &path);
    EXPECT_EQ(o.all, c.all) << c.arg;
    EXPECT_EQ(o.long_form, c.long_form) << c.arg;
    EXPECT_EQ(o.directory, c.directory) << c.arg;
    EXPECT_EQ(path, c.path) << c.arg;
  }
}

TEST(ParseListArgsTest, OnlySetsWhatFlagsSay) {
  ListOptions o;  // LIST defaults: long_form = true
  std::string path;
  ParseListArgs("-a", &o, &path);
  EXPECT_TRUE(o.long_form);
  EXPECT_TRUE(o.all);
  EXPECT_FALSE(o.directory);
}

// ---------------------------------------------------------------------------
// GlobMatch / HasGlob

TEST(GlobTest, Table) {
  struct Case {
    const char* pat;
    const char* name;
    bool want;
  } cases[] = {
      {"", "", true},
      {"", "a", false},
      {"*", "", true},
      {"*", "anything.at.all", true},
      {"*", ".hidden", true},
      {"a*", "abc", true},
      {"a*", "bac", false},
      {"*.txt", "a.txt", true},
      {"*.txt", "a.txt.gz", false},
      {"*.t*t", "a.tgzt", true},
      {"a?c", "abc", true},
      {"a?c", "ac", false},
      {"???", "abcd", false},
      {"a**b", "axxb", true},
      {"*a*b*c*", "xaxbxcx", true},
      {"*a*b*c*", "xaxcxbx", false},
      {"[abc]x", "bx", true},
      {"[abc]x", "dx", false},
      {"[a-z]1", "q1", true},
      {"[a-z]1", "Q1", false},
      {"[!a-z]1", "Q1", true},
      {"[!a-z]1", "q1", false},
      {"[^0-9]", "x", true},
      {"[^0-9]", "5", false},
      {"[]]", "]", true},
      {"[!]]", "]", false},
      {"[!]]", "a", true},
      {"[a-]", "-", true},
      {"[\\]]", "]", true},
      {"[abc", "[abc", true},  // unterminated class: literal '['
      {"[abc", "a", false},
      {"\\*", "*", true},
      {"\\*", "a", false},
      {"\\?x", "?x", true},
      {"a\\", "a\\", true},  // trailing backslash is literal
      {"\\[a]", "[a]", true},
      {"\xc3\xa9*", "\xc3\xa9t\xc3\xa9", true},
      {"?", "\xc3\xa9", false},  // '?' is one byte
      {"??", "\xc3\xa9", true},
      {"[\x80-\xff]*", "\xc3\xa9", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(GlobMatch(c.pat, c.name), c.want) << "pattern=" << c.pat << " name=" << c.name;
  }
}

TEST(GlobTest, PathologicalPatternsStayWithinBudget) {
  const std::string as(255, 'a');
  EXPECT_FALSE(GlobMatch("*a*a*a*a*a*a*b", as));
  EXPECT_TRUE(GlobMatch("*a*a*a*a*a*a*a", as));
  const std::string long_as(4096, 'a');
  // Either it fails to match or the budget runs out; both answer false.
  EXPECT_FALSE(GlobMatch("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", long_as));
  std::string classes;
  for (int i = 0; i < 64; ++i) classes += "*[a-z0-9a-z0-9a-z0-9a-z0-9]";
  EXPECT_FALSE(GlobMatch(classes + "!", long_as));
  // A match that would need more than the budget is refused.
  const std::string huge(200000, 'a');
  EXPECT_FALSE(GlobMatch("*b", huge));
  EXPECT_FALSE(GlobMatch("*a", huge));
  EXPECT_TRUE(GlobMatch("*a", as));
}

TEST(GlobTest, HasGlob) {
  EXPECT_TRUE(HasGlob("*.txt"));
  EXPECT_TRUE(HasGlob("a?"));
  EXPECT_TRUE(HasGlob("x[ab]"));
  EXPECT_TRUE(HasGlob("\\**"));
  EXPECT_FALSE(HasGlob("plain name"));
  EXPECT_FALSE(HasGlob(""));
  EXPECT_FALSE(HasGlob("\\*"));
  EXPECT_FALSE(HasGlob("a\\?b\\[c"));
  EXPECT_FALSE(HasGlob("trailing\\"));
}

// ---------------------------------------------------------------------------
// Name coding: no name may add a line to a listing or a reply.

TEST(EncodeNameTest, DataChannelSubstitutes) {
  EXPECT_EQ(EncodeName("plain name.txt", NameCoding::kData), "plain name.txt");
  EXPECT_EQ(EncodeName("a\rb", NameCoding::kData), "a?b");
  EXPECT_EQ(EncodeName("a\nb", NameCoding::kData), "a?b");
  EXPECT_EQ(EncodeName("a\r\nb\n", NameCoding::kData), "a??b?");
  EXPECT_EQ(EncodeName("\t\x1b\xff", NameCoding::kData), "\t\x1b\xff");  // only line breaks change
  EXPECT_EQ(EncodeName("", NameCoding::kData), "");
}

TEST(EncodeNameTest, ControlChannelRfc959) {
  using namespace std::string_literals;
  EXPECT_EQ(EncodeName("plain", NameCoding::kControl), "plain");
  EXPECT_EQ(EncodeName("a\rb", NameCoding::kControl), "a\r\0b"s);
  EXPECT_EQ(EncodeName("a\nb", NameCoding::kControl), "a\0b"s);
  EXPECT_EQ(EncodeName("\r\n\r", NameCoding::kControl), "\r\0\0\r\0"s);
  // No LF ever, and every CR is followed by NUL.
  const std::string e = EncodeName("x\r\n\n\r\ry", NameCoding::kControl);
  EXPECT_EQ(e.find('\n'), std::string::npos);
  for (size_t i = 0; i < e.size(); ++i) {
    if (e[i] == '\r') {
      ASSERT_LT(i + 1, e.size());
      EXPECT_EQ(e[i + 1], '\0');
    }
  }
}

TEST_F(FormatTest, LineBreaksInNamesAndTargets) {
  using namespace std::string_literals;
  const std::string forged =
      "mlsdevil\r\ntype=file;size=999;modify=20200101000000;perm=r; FAKE-MLSD";
  Entry f = Make(forged, S_IFREG | 0644, 12, Utc(2026, 11, 21, 11, 45, 12));
  const std::string data = FormatFacts(f, kFactType | kFactSize, owner_, names_);
  EXPECT_EQ(
      data,
      "type=file;size=12; mlsdevil??type=file;size=999;modify=20200101000000;perm=r; FAKE-MLSD");
  const std::string ctl = FormatFacts(f, kFactType, owner_, names_, "", NameCoding::kControl);
  EXPECT_EQ(ctl,
            "type=file; mlsdevil\r\0\0type=file;size=999;modify=20200101000000;perm=r; FAKE-MLSD"s);
  for (const std::string& line : {data, ctl, FormatLsLine(f, now_, names_),
                                  FormatLsLine(f, now_, names_, NameCoding::kControl)})
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;

  Entry link = Make("ln\nk", S_IFLNK | 0777, 9, Utc(2026, 10, 1, 0, 0, 0));
  link.is_link = true;
  link.link_target = "t\r\ndrwxr-xr-x   2 0 0 4096 Jan  1 00:00 FAKE-DIR";
  EXPECT_EQ(FormatLsLine(link, now_, names_),
            "lrwxrwxrwx   1 ftp      users           9 Oct  1 00:00 ln?k -> t??drwxr-xr-x   2 0 0 "
            "4096 Jan  1 "
            "00:00 FAKE-DIR");
  EXPECT_EQ(FormatLsLine(link, now_, names_, NameCoding::kControl),
            "lrwxrwxrwx   1 ftp      users           9 Oct  1 00:00 ln\0k -> t\r\0\0drwxr-xr-x   2 "
            "0 0 4096 Jan  1 "
            "00:00 FAKE-DIR"s);
}

TEST_F(FormatTest, OwnerNamesThatCannotBeFactValues) {
  Entry f = Make("x", S_IFREG | 0644, 1, Utc(2026, 1, 1, 0, 0, 0));
  const NameLookup odd = [](bool is_group, unsigned) {
    return std::string(is_group ? "a;b" : "sp ace");
  };
  EXPECT_EQ(FormatFacts(f, kFactUnixOwnerName | kFactUnixGroupName, owner_, odd),
            "UNIX.ownername=1000;UNIX.groupname=100; x");
}

// A tree whose names hold CR, LF and CRLF, and a symlink whose target does.
class EvilNamesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    t_.Mkdir("d");
    for (const std::string& n : EvilNames()) t_.Write("d/" + n, "x");
    t_.Symlink("target\r\n-rw-r--r--   1 0 0 1 Jan  1 00:00 FAKE-LINK", "d/link");
    auto r = Root::OpenDir(t_.path());
    ASSERT_TRUE(r);
    root_ = std::move(*r);
  }
  static std::vector<std::string> EvilNames() {
    return {"cr\rname",
            "lf\nname",
            "crlf\r\nname",
            "mlsdevil\r\ntype=file;size=999;modify=20200101000000;perm=r; FAKE-MLSD",
            "lsevil\r\n-rw-r--r--   1 0 0 999 Jan  1 00:00 FAKE-LS",
            "plain"};
  }
  static size_t CountCrlf(const std::string& s) {
    size_t n = 0;
    for (size_t at = 0; (at = s.find("\r\n", at)) != std::string::npos; at += 2) ++n;
    return n;
  }
  TempTree t_;
  Root root_;
};

TEST_F(EvilNamesTest, EveryStyleHasOneLinePerEntry) {
  const NameLookup names = &OwnerName;
  const size_t entries = EvilNames().size() + 1;  // + the link
  for (EmitOptions o : AllStyles(&names)) {
    for (bool all : {false, true}) {
      const std::string text = Streamed(root_, "/d", all, {}, o);
      const size_t want = entries + ((all && !o.skip_dot_dirs) ? 2 : 0);
      EXPECT_EQ(CountCrlf(text), want) << static_cast<int>(o.style) << " all " << all;
      // Line breaks only as line ends: no LF without CR before it, and every
      // other CR is followed by NUL (control) or absent (data).
      for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\n') {
          EXPECT_EQ(text[i - 1], '\r');
        }
        if (text[i] == '\r' && text[i + 1] != '\n') {
          EXPECT_EQ(o.coding, NameCoding::kControl);
          EXPECT_EQ(text[i + 1], '\0');
        }
      }
      EXPECT_EQ(text.find("\r\nFAKE"), std::string::npos);
      EXPECT_EQ(text.find("\r\n-rw-r--r--   1 0 0"), std::string::npos);
      EXPECT_EQ(text.find("\r\ntype=file;size=999"), std::string::npos);
      EXPECT_EQ(text, Expected(root_, "/d", all, {}, o));
    }
  }
  EmitOptions nlst;
  nlst.style = ListStyle::kNames;
  EXPECT_EQ(Streamed(root_, "/d", false, {}, nlst),
            "cr?name\r\ncrlf??name\r\nlf?name\r\nlink\r\nlsevil?"
            "?-rw-r--r--   1 0 0 999 Jan  1 00:00 FAKE-LS\r\n"
            "mlsdevil??type=file;size=999;modify=20200101000000;perm=r; FAKE-MLSD\r\nplain\r\n");
}

// ---------------------------------------------------------------------------
// Access: the perm fact follows the kernel's DAC rule.

TEST(AccessTest, OwnerGroupOtherClasses) {
  const Access a(1000, 100, {7, 300}, false, false);
  // The owner class alone decides for the owner.
  EXPECT_FALSE(a.Allows(S_IFREG | 0077, 1000, 100, Access::kRead));
  EXPECT_TRUE(a.Allows(S_IFREG | 0400, 1000, 100, Access::kRead));
  EXPECT_FALSE(a.Allows(S_IFREG | 0400, 1000, 100, Access::kRead | Access::kWrite));
  // Group: the primary or a supplementary group; then other.
  EXPECT_TRUE(a.Allows(S_IFREG | 0040, 0, 100, Access::kRead));
  EXPECT_TRUE(a.Allows(S_IFREG | 0040, 0, 300, Access::kRead));
  EXPECT_TRUE(a.Allows(S_IFREG | 0040, 0, 7, Access::kRead));
  EXPECT_FALSE(a.Allows(S_IFREG | 0407, 0, 300, Access::kRead));  // group class decides
  EXPECT_TRUE(a.Allows(S_IFREG | 0004, 0, 0, Access::kRead));
  EXPECT_FALSE(a.Allows(S_IFREG | 0440, 0, 0, Access::kRead));
}

TEST(AccessTest, CapabilitiesOverride) {
  const Access root(0, 0, {}, true, true);
  EXPECT_TRUE(root.Allows(S_IFDIR | 0000, 5, 5, Access::kRead | Access::kExec));
  EXPECT_TRUE(root.Allows(S_IFREG | 0000, 5, 5, Access::kRead | Access::kWrite));
  EXPECT_FALSE(root.Allows(S_IFREG | 0600, 5, 5, Access::kExec));  // no x bit at all
  EXPECT_TRUE(root.Allows(S_IFREG | 0001, 5, 5, Access::kExec));
  const Access reader(9, 9, {}, false, true);  // CAP_DAC_READ_SEARCH only
  EXPECT_TRUE(reader.Allows(S_IFREG | 0000, 5, 5, Access::kRead));
  EXPECT_FALSE(reader.Allows(S_IFREG | 0000, 5, 5, Access::kWrite));
  EXPECT_TRUE(reader.Allows(S_IFDIR | 0000, 5, 5, Access::kRead | Access::kExec));
  EXPECT_FALSE(reader.Allows(S_IFDIR | 0000, 5, 5, Access::kWrite));
}

TEST(AccessTest, PermLetters) {
  const Access a(1000, 100, {}, false, false);
  auto perm = [&](uint32_t mode, uint32_t uid) {
    char buf[8];
    return std::string(buf, a.PermLetters(mode, uid, 0, buf));
  };
  EXPECT_EQ(perm(S_IFDIR | 0755, 0), "el");
  EXPECT_EQ(perm(S_IFDIR | 0711, 0), "e");
  EXPECT_EQ(perm(S_IFDIR | 0744, 0), "");  // readable but not searchable: no listing
  EXPECT_EQ(perm(S_IFDIR | 0000, 0), "");
  EXPECT_EQ(perm(S_IFDIR | 0000, 1000), "");
  EXPECT_EQ(perm(S_IFREG | 0644, 0), "r");
  EXPECT_EQ(perm(S_IFREG | 0600, 0), "");
  EXPECT_EQ(perm(S_IFREG | 0600, 1000), "r");
  EXPECT_EQ(perm(S_IFIFO | 0666, 0), "");
}

// The computed perm agrees with what the kernel lets this process do, as
// the current user and (when the test runs as root) as nobody.
class AccessKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::chmod(t_.path().c_str(), 0755), 0);
    for (mode_t m : {0755, 0711, 0700, 0744, 0000, 0705, 0750}) {
      const std::string n = "d" + Octal(m);
      t_.Mkdir(n);
      ASSERT_EQ(::chmod((t_ / n).c_str(), m), 0);
    }
    for (mode_t m : {0644, 0600, 0000, 0604, 0640}) {
      const std::string n = "f" + Octal(m);
      t_.Write(n, "data");
      ASSERT_EQ(::chmod((t_ / n).c_str(), m), 0);
    }
  }
  static std::string Octal(mode_t m) {
    char b[8];
    std::snprintf(b, sizeof b, "%04o", static_cast<unsigned>(m));
    return b;
  }
  // "" when perm (from MLSD facts) agrees with RETR/CWD/LIST done for real.
  std::string Disagreements() const {
    std::string bad;
    auto root = Root::OpenDir(t_.path());
    if (!root) return "no root";
    EmitOptions o;
    o.style = ListStyle::kFacts;
    o.facts = kFactType | kFactPerm;
    const std::string mlsd = Streamed(*root, "/", false, {}, o);
    for (size_t pos = 0; pos < mlsd.size();) {
      const size_t end = mlsd.find("\r\n", pos);
      const std::string line = mlsd.substr(pos, end - pos);
      pos = end + 2;
      const std::string name = line.substr(line.find(' ') + 1);
      const size_t p0 = line.find("perm=") + 5;
      const std::string perm = line.substr(p0, line.find(';', p0) - p0);
      const std::string vpath = "/" + name;
      if (name[0] == 'd') {
        const bool can_enter = root->EnterDir(vpath).has_value();
        const bool can_list = DirListing::Read(*root, vpath, false).has_value() &&
                              ::faccessat(root->fd(), name.c_str(), R_OK | X_OK, AT_EACCESS) == 0;
        const std::string want = std::string(can_enter ? "e" : "") + (can_list ? "l" : "");
        if (perm != want) bad += name + ": perm=" + perm + " but kernel " + want + "; ";
      } else {
        const bool can_read = root->Open(vpath, O_RDONLY).has_value();
        if (perm != (can_read ? "r" : "")) bad += name + ": perm=" + perm + "; ";
      }
    }
    return bad;
  }
  TempTree t_;
};

TEST_F(AccessKernelTest, AgreesWithKernelAsThisUser) { EXPECT_EQ(Disagreements(), ""); }

TEST_F(AccessKernelTest, AgreesWithKernelAsNobody) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to become nobody";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0)
      ::_exit(3);
    const std::string bad = Disagreements();
    if (!bad.empty()) std::fprintf(stderr, "%s\n", bad.c_str());
    // As nobody: a mode-000 dir is neither entered nor listed, 0711 only entered.
    auto root = Root::OpenDir(t_.path());
    const bool expected = root && !root->EnterDir("/d0000") && root->EnterDir("/d0711") &&
                          !DirListing::Read(*root, "/d0711", false);
    ::_exit(bad.empty() && expected ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(AccessTest, OfProcessMatchesCredentials) {
  const Access a = Access::OfProcess();
  EXPECT_EQ(a.uid(), static_cast<uint32_t>(::geteuid()));
  EXPECT_EQ(a.gid(), static_cast<uint32_t>(::getegid()));
}

// ---------------------------------------------------------------------------
// Names that may be created (STOR/MKD/RNTO, issue 12)

TEST(IsStorableNameTest, Table) {
  using namespace std::string_literals;
  EXPECT_TRUE(IsStorableName("file.txt"));
  EXPECT_TRUE(IsStorableName("name with spaces"));
  EXPECT_TRUE(IsStorableName("h\xc3\xa9llo"));
  EXPECT_TRUE(IsStorableName("...."));
  EXPECT_FALSE(IsStorableName(""));
  EXPECT_FALSE(IsStorableName("."));
  EXPECT_FALSE(IsStorableName(".."));
  EXPECT_FALSE(IsStorableName("a/b"));
  EXPECT_FALSE(IsStorableName("a\rb"));
  EXPECT_FALSE(IsStorableName("a\nb"));
  EXPECT_FALSE(IsStorableName("evil\r\n-rw-r--r-- 1 0 0 1 Jan 1 00:00 FAKE"));
  EXPECT_FALSE(IsStorableName("a\0b"s));
  EXPECT_FALSE(IsStorableName("trailing\n"));
}

TEST(EnterDirTest, ErrorsAndConfinement) {
  TempTree t;
  t.Mkdir("d");
  t.Write("f", "x");
  t.Symlink("/", "up");
  auto root = Root::OpenDir(t.path());
  ASSERT_TRUE(root);
  EXPECT_TRUE(root->EnterDir("/d"));
  EXPECT_TRUE(root->EnterDir("/"));
  EXPECT_TRUE(root->EnterDir("/up"));  // "/" inside the root
  auto f = root->EnterDir("/f");
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().sys_errno(), ENOTDIR);
  auto m = root->EnterDir("/missing");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().sys_errno(), ENOENT);
}

}  // namespace
}  // namespace poolftpd::fs
