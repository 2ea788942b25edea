// Unit tests for master's PidFile: atomic "PID\n" file, removal by the
// owner only, and the fork-safe owner check (a worker's copy never unlinks).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "poolftpd/master/pidfile.h"

namespace poolftpd::master {
namespace {

class TempDir {
 public:
  TempDir() {
    const char* tmp = ::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/master_test.XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) std::abort();
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename());
  return out;
}

// Runs `fn` in a forked child and returns its exit status (0 = success).
template <class Fn>
int InChild(Fn fn) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    fn();
    ::_exit(0);  // no gtest teardown, no static destructors in the child
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(PidFileTest, WritesPidAndNewline) {
  TempDir dir;
  const std::string path = dir / "poolftpd.pid";
  PidFile pf;
  ASSERT_TRUE(pf.Write(path));
  EXPECT_EQ(ReadFile(path), std::to_string(::getpid()) + "\n");
  // No temp file is left behind.
  EXPECT_EQ(Entries(dir.path()), std::vector<std::string>{"poolftpd.pid"});
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0022, 0u) << "pid file must not be group/world-writable";
}

TEST(PidFileTest, ReplacesStaleFileAtomically) {
  TempDir dir;
  const std::string path = dir / "poolftpd.pid";
  {
    std::ofstream f(path);
    f << "999999 and a much longer stale content\n";
  }
  struct stat before {};
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  // A reader holding the old file sees old content, never a half-written one.
  const int old_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(old_fd, 0);
  PidFile pf;
  ASSERT_TRUE(pf.Write(path));
  EXPECT_EQ(ReadFile(path), std::to_string(::getpid()) + "\n");
  struct stat after {};
  ASSERT_EQ(::stat(path.c_str(), &after), 0);
  EXPECT_NE(before.st_ino, after.st_ino) << "written as a new file and renamed into place";
  char buf[64] = {};
  EXPECT_GT(::pread(old_fd, buf, sizeof buf - 1, 0), 0);
  EXPECT_EQ(std::string(buf).rfind("999999", 0), 0u);
  ::close(old_fd);
}

TEST(PidFileTest, DoesNotFollowSymlinkedTempName) {
  // The temp name is predictable (path.tmp.PID): a symlink planted there
  // must not make us write through it.
  TempDir dir;
  const std::string path = dir / "poolftpd.pid";
  const std::string victim = dir / "victim";
  {
    std::ofstream f(victim);
    f << "precious\n";
  }
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  ASSERT_EQ(::symlink(victim.c_str(), tmp.c_str()), 0);
  PidFile pf;
  auto r = pf.Write(path);
  EXPECT_EQ(ReadFile(victim), "precious\n");
  if (r) {
    EXPECT_EQ(ReadFile(path), std::to_string(::getpid()) + "\n");
  }
}

TEST(PidFileTest, WriteFailsInMissingDirectory) {
  TempDir dir;
  PidFile pf;
  auto r = pf.Write(dir / "no/such/dir/poolftpd.pid");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kSystem);
  EXPECT_EQ(r.error().sys_errno(), ENOENT);
  EXPECT_NE(r.error().context().find("no/such/dir"), std::string::npos);
  pf.Remove();  // nothing was written: no-op, no crash
}

TEST(PidFileTest, WriteFailsWhenTargetIsDirectory) {
  TempDir dir;
  const std::string path = dir / "poolftpd.pid";
  ASSERT_EQ(::mkdir(path.c_str(), 0755), 0);
  {
    PidFile pf;
    auto r = pf.Write(path);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kSystem);
  }
  // The directory survives the failed write and the destructor, and no temp
  // file is left behind.
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(Entries(dir.path()), std::vector<std::string>{"poolftpd.pid"});
}

TEST(PidFileTest, RemoveUnlinks) {
  TempDir dir;
  const std::string path = dir / "poolftpd.pid";
  PidFile pf;
  ASSERT_TRUE(pf.Write(path));
  pf.Remove();
  EXPECT_FALSE(Exists(path));
  pf.Remove();  // twice is harmless
  EXPECT_FALSE(Exists(path));
}

TEST(PidFileTest, DestructorUnlinks) {
  TempDir dir;
  const std::string path = dir / "poolftpd.pid";
  {
    PidFile pf;
    ASSERT_TRUE(pf.Write(path));
    EXPECT_TRUE(Exists(path));
  }
  EXPECT_FALSE(Exists(path));
}

TEST(PidFileTest, RemoveAfterRemoveDoesNotTouchNewFile) {
  // After Remove(), a file another master later writes at the same path is
  // not ours to delete.
  TempDir dir;
  const std::string path = dir / "poolftpd.pid";
  {
    PidFile pf;
    ASSERT_TRUE(pf.Write(path));
    pf.Remove();
    std::ofstream f(path);
    f << "12345\n";
  }
  EXPECT_EQ(ReadFile(path), "12345\n");
}

TEST(PidFileTest, ForkedChildRemoveDoesNotUnlink) {
  TempDir dir;
  const std::string path = dir / "poolftpd.pid";
  PidFile pf;
  ASSERT_TRUE(pf.Write(path));
  const int rc = InChild([&] {
    pf.Remove();
    ::_exit(Exists(path) ? 0 : 1);
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(Exists(path));
  EXPECT_EQ(ReadFile(path), std::to_string(::getpid()) + "\n");
}

TEST(PidFileTest, ForkedChildDestructorDoesNotUnlink) {
  TempDir dir;
  const std::string path = dir / "poolftpd.pid";
  auto* pf = new PidFile;
  ASSERT_TRUE(pf->Write(path));
  const int rc = InChild([&] {
    delete pf;  // the child's copy of the owner object
    ::_exit(Exists(path) ? 0 : 1);
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(Exists(path));
  // The owner still removes it.
  delete pf;
  EXPECT_FALSE(Exists(path));
}

}  // namespace
}  // namespace poolftpd::master
