// Unit tests of libscoreboard: layout against FORMAT.md, Create/Open and the
// master lock across processes, stale takeover, every Open error, reader
// validation of corrupt slots, the seqlock under a forked writer, and inetd
// mode: OpenOrCreateShared on missing/valid/garbage/held files, concurrent
// ClaimFreeSlot from forked processes, dead-claimant reclaim, stale slots.
#include "poolftpd/scoreboard/scoreboard.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "poolftpd/scoreboard/layout.h"

namespace poolftpd::sb {
namespace {

// A fresh private directory, removed by the process that made it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/sbtest.XXXXXX";
    char* p = ::mkdtemp(tmpl.data());
    if (p == nullptr) std::abort();
    path_ = p;
    owner_ = ::getpid();
  }
  ~TempDir() {
    if (::getpid() == owner_) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  pid_t owner_;
};

// Runs `fn` in a forked child; returns its exit status (or 128+signal).
// The child never returns into gtest's frames.
template <class Fn>
int InChild(Fn&& fn) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int rc = 99;
    try {
      rc = fn();
    } catch (...) {
      rc = 98;
    }
    ::_exit(rc);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

void WriteAt(const std::string& path, off_t off, const void* data, size_t len) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::pwrite(fd, data, len, off), static_cast<ssize_t>(len));
  ::close(fd);
}
template <class T>
void WriteValue(const std::string& path, off_t off, T v) {
  WriteAt(path, off, &v, sizeof v);
}
void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}
off_t SlotOffset(size_t i) { return static_cast<off_t>(sizeof(Header) + i * sizeof(Slot)); }

SlotRecord SessionRecord(int32_t pid) {
  SlotRecord r;
  r.pid = pid;
  r.generation = 3;
  r.state = SlotState::kTransferring;
  r.xfer_dir = XferDir::kRetr;
  r.session_start_ns = 1'700'000'000'000'000'000;
  r.last_activity_ns = 1'700'000'010'000'000'000;
  r.xfer_start_ns = 1'700'000'005'000'000'000;
  r.xfer_size = 1 << 20;
  r.xfer_offset = 4096;
  r.sessions_served = 7;
  SetText(r.user, "alice");
  SetText(r.client_addr, "client.example[192.0.2.7]");
  SetText(r.server_addr, "192.0.2.1:21");
  SetText(r.protocol, "ftps");
  SetText(r.cwd, "/pub");
  SetText(r.cmd, "RETR");
  SetText(r.arg, "big.iso");
  SetText(r.xfer_path, "/pub/big.iso");
  return r;
}

// ---------------------------------------------------------------------------
// Layout

struct Field {
  size_t offset;
  size_t size;
};

#define SB_FIELD(T, f)                   \
  {                                      \
#f, { offsetof(T, f), sizeof(T::f) } \
  }

std::map<std::string, Field> HeaderFields() {
  return {SB_FIELD(Header, magic),           SB_FIELD(Header, layout_version),
          SB_FIELD(Header, header_size),     SB_FIELD(Header, slot_size),
          SB_FIELD(Header, slot_count),      SB_FIELD(Header, master_pid),
          SB_FIELD(Header, generation),      SB_FIELD(Header, master_start_ticks),
          SB_FIELD(Header, start_time_ns),   SB_FIELD(Header, max_clients),
          SB_FIELD(Header, name_seq),        SB_FIELD(Header, total_sessions),
          SB_FIELD(Header, total_bytes),     SB_FIELD(Header, reserved1),
          SB_FIELD(Header, shutdown_seq),    SB_FIELD(Header, reserved0),
          SB_FIELD(Header, shutdown_time),   SB_FIELD(Header, deny_time),
          SB_FIELD(Header, disconnect_time), SB_FIELD(Header, server_type),
          SB_FIELD(Header, server_name),     SB_FIELD(Header, shutdown_msg),
          SB_FIELD(Header, config_file),     SB_FIELD(Header, slot_hwm),
          SB_FIELD(Header, features),        SB_FIELD(Header, reserved)};
}

std::map<std::string, Field> SlotFields() {
  return {SB_FIELD(Slot, seq),
          SB_FIELD(Slot, pid),
          SB_FIELD(Slot, generation),
          SB_FIELD(Slot, state),
          SB_FIELD(Slot, xfer_dir),
          SB_FIELD(Slot, reserved0),
          SB_FIELD(Slot, session_start_ns),
          SB_FIELD(Slot, last_activity_ns),
          SB_FIELD(Slot, xfer_start_ns),
          SB_FIELD(Slot, xfer_size),
          SB_FIELD(Slot, xfer_offset),
          SB_FIELD(Slot, sessions_served),
          SB_FIELD(Slot, bytes_done),
          SB_FIELD(Slot, client_key),
          SB_FIELD(Slot, user),
          SB_FIELD(Slot, client_addr),
          SB_FIELD(Slot, server_addr),
          SB_FIELD(Slot, protocol),
          SB_FIELD(Slot, cmd),
          SB_FIELD(Slot, cwd),
          SB_FIELD(Slot, arg),
          SB_FIELD(Slot, xfer_path),
          SB_FIELD(Slot, owner),
          SB_FIELD(Slot, seccomp_trap),
          SB_FIELD(Slot, reserved1)};
}
#undef SB_FIELD

std::string FindFormatMd() {
  // Tests run from the top of the tree (make unit); fall back to __FILE__.
  for (const std::string& p :
       {std::string("scoreboard/FORMAT.md"),
        std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().string() +
            "/scoreboard/FORMAT.md"}) {
    if (std::filesystem::exists(p)) return p;
  }
  return {};
}

// "| 24 | 4 | i32 | master_pid | ..." rows under "## Header" / "## Slot".
std::map<std::string, std::map<std::string, Field>> ParseFormatMd(const std::string& path) {
  std::map<std::string, std::map<std::string, Field>> tables;
  std::ifstream in(path);
  std::string line, section;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) {
      section = line.substr(3);
      continue;
    }
    if (line.rfind("| ", 0) != 0) continue;
    std::vector<std::string> cells;
    std::stringstream ss(line.substr(1));
    std::string cell;
    while (std::getline(ss, cell, '|')) {
      const size_t b = cell.find_first_not_of(' ');
      const size_t e = cell.find_last_not_of(' ');
      cells.push_back(b == std::string::npos ? "" : cell.substr(b, e - b + 1));
    }
    if (cells.size() < 4 || cells[0].empty() || !std::isdigit(cells[0][0])) continue;
    tables[section][cells[3]] = Field{std::stoul(cells[0]), std::stoul(cells[1])};
  }
  return tables;
}

void ExpectSameFields(const std::map<std::string, Field>& doc,
                      const std::map<std::string, Field>& code, const char* what) {
  EXPECT_EQ(doc.size(), code.size()) << what << ": FORMAT.md and layout.h list different fields";
  for (const auto& [name, f] : code) {
    auto it = doc.find(name);
    if (it == doc.end()) {
      ADD_FAILURE() << what << "." << name << " is missing from FORMAT.md";
      continue;
    }
    EXPECT_EQ(it->second.offset, f.offset) << what << "." << name << " offset";
    EXPECT_EQ(it->second.size, f.size) << what << "." << name << " size";
  }
}

TEST(Layout, MatchesFormatMd) {
  const std::string path = FindFormatMd();
  ASSERT_FALSE(path.empty()) << "scoreboard/FORMAT.md not found (run from the source tree)";
  auto tables = ParseFormatMd(path);
  ExpectSameFields(tables["Header"], HeaderFields(), "Header");
  ExpectSameFields(tables["Slot"], SlotFields(), "Slot");
}

TEST(Layout, FieldsTileTheStructsWithoutGaps) {
  for (const auto& [fields, total] :
       {std::pair{HeaderFields(), sizeof(Header)}, std::pair{SlotFields(), sizeof(Slot)}}) {
    std::map<size_t, size_t> by_offset;
    for (const auto& [name, f] : fields) by_offset[f.offset] = f.size;
    size_t next = 0;
    for (const auto& [off, size] : by_offset) {
      EXPECT_EQ(off, next) << "gap or overlap at offset " << off;
      next = off + size;
    }
    EXPECT_EQ(next, total);
  }
  EXPECT_EQ(sizeof(Header) % 64, 0u);
  EXPECT_EQ(sizeof(Slot) % 64, 0u);
}

TEST(Text, StoreAndLoadTruncateAndTerminate) {
  std::atomic<uint64_t> words[2] = {};
  char out[16];
  StoreText(words, "0123456789abcdefXYZ");
  LoadText(words, out);
  EXPECT_STREQ(out, "0123456789abcde");  // 15 bytes + NUL
  StoreText(words, std::string_view("ab\0cd", 5));
  LoadText(words, out);
  EXPECT_STREQ(out, "ab");
  EXPECT_EQ(out[3], '\0');
  // Garbage without a NUL still loads as a terminated string, zero-padded.
  words[0].store(0x4141414141414141ULL);
  words[1].store(0x0041414141414141ULL | (0x42ULL << 56));
  LoadText(words, out);
  EXPECT_EQ(std::strlen(out), 15u);
}

TEST(Text, SetTextFillsRecordFields) {
  SlotRecord r;
  SetText(r.cmd, "AVERYLONGCOMMANDNAME");
  EXPECT_STREQ(r.cmd, "AVERYLONGCOMMAN");
  SetText(r.cmd, "RETR");
  EXPECT_STREQ(r.cmd, "RETR");
  EXPECT_EQ(r.cmd[5], '\0');
}

// ---------------------------------------------------------------------------
// Create / Open

TEST(Create, RoundTripThroughOpen) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto master = Scoreboard::Create(path, 8, "Test Server", 5);
  ASSERT_TRUE(master) << master.error().message();
  EXPECT_EQ(master->slot_count(), 8u);
  EXPECT_TRUE(master->writable());
  EXPECT_EQ(master->path(), path);

  struct stat st = {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_EQ(static_cast<size_t>(st.st_size), sizeof(Header) + 8 * sizeof(Slot));

  master->Publish(2, SessionRecord(4242));
  master->SetBytesDone(2, 12345);
  master->SetGeneration(3);
  master->SetMaxClients(6);
  master->SetServerName("Renamed Server");
  master->SetConfigFile("/etc/poolftpd/poolftpd.conf");

  auto tool = Scoreboard::Open(path);
  ASSERT_TRUE(tool) << tool.error().message();
  EXPECT_FALSE(tool->writable());
  EXPECT_TRUE(tool->MasterAlive());
  const HeaderView h = tool->ReadHeader();
  EXPECT_EQ(h.layout_version, kLayoutVersion);
  EXPECT_EQ(h.slot_count, 8u);
  EXPECT_EQ(h.master_pid, ::getpid());
  EXPECT_EQ(h.master_start_ticks, ProcessStartTicks(::getpid()));
  EXPECT_GT(h.start_time_ns, 0);
  EXPECT_EQ(h.generation, 3u);
  EXPECT_EQ(h.max_clients, 6u);
  EXPECT_STREQ(h.server_name, "Renamed Server");
  EXPECT_STREQ(h.server_type, "standalone");
  EXPECT_STREQ(h.config_file, "/etc/poolftpd/poolftpd.conf");
  EXPECT_FALSE(IsInetd(h));
  EXPECT_EQ(h.shutdown_time, 0);
  EXPECT_EQ(tool->file_info().uid, ::geteuid());
  EXPECT_EQ(tool->file_info().mode, static_cast<uint32_t>(S_IFREG | 0644));
  EXPECT_EQ(tool->file_info().ino, static_cast<uint64_t>(st.st_ino));
  EXPECT_EQ(master->file_info().ino, static_cast<uint64_t>(st.st_ino));

  const SlotView v = tool->Read(2);
  EXPECT_FALSE(v.updating);
  EXPECT_FALSE(v.stale);  // master-managed slot of a live master
  EXPECT_EQ(v.owner_pid, 0);
  EXPECT_EQ(v.index, 2u);
  EXPECT_EQ(v.bytes_done, 12345u);
  const SlotRecord want = SessionRecord(4242);
  EXPECT_EQ(v.rec.pid, 4242);
  EXPECT_EQ(v.rec.generation, 3u);
  EXPECT_EQ(v.rec.state, SlotState::kTransferring);
  EXPECT_EQ(v.rec.xfer_dir, XferDir::kRetr);
  EXPECT_EQ(v.rec.session_start_ns, want.session_start_ns);
  EXPECT_EQ(v.rec.last_activity_ns, want.last_activity_ns);
  EXPECT_EQ(v.rec.xfer_start_ns, want.xfer_start_ns);
  EXPECT_EQ(v.rec.xfer_size, want.xfer_size);
  EXPECT_EQ(v.rec.xfer_offset, want.xfer_offset);
  EXPECT_EQ(v.rec.sessions_served, 7u);
  EXPECT_STREQ(v.rec.user, "alice");
  EXPECT_STREQ(v.rec.client_addr, "client.example[192.0.2.7]");
  EXPECT_STREQ(v.rec.server_addr, "192.0.2.1:21");
  EXPECT_STREQ(v.rec.protocol, "ftps");
  EXPECT_STREQ(v.rec.cwd, "/pub");
  EXPECT_STREQ(v.rec.cmd, "RETR");
  EXPECT_STREQ(v.rec.arg, "big.iso");
  EXPECT_STREQ(v.rec.xfer_path, "/pub/big.iso");

  EXPECT_EQ(tool->PeekState(2), SlotState::kTransferring);
  EXPECT_EQ(tool->PeekGeneration(2), 3u);
  EXPECT_EQ(tool->PeekState(0), SlotState::kEmpty);

  auto all = tool->ReadAll();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].index, 2u);

  master->Clear(2);
  const SlotView cleared = tool->Read(2);
  EXPECT_EQ(cleared.rec.state, SlotState::kEmpty);
  EXPECT_EQ(cleared.rec.pid, 0);
  EXPECT_EQ(cleared.bytes_done, 0u);
  EXPECT_STREQ(cleared.rec.user, "");
  EXPECT_TRUE(tool->ReadAll().empty());
}

// A worker whose master died: nothing it writes may reach the file (a new
// master takes it over), whatever it calls; readers of the file see what
// was there before.
TEST(Detach, WritesAfterDetachingNeverReachTheFile) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto master = Scoreboard::Create(path, 4, "Test Server", 3);
  ASSERT_TRUE(master) << master.error().message();
  master->Publish(1, SessionRecord(4242));
  master->SetBytesDone(1, 77);
  auto tool = Scoreboard::Open(path);
  ASSERT_TRUE(tool) << tool.error().message();
  const uint64_t total = tool->ReadHeader().total_bytes;
  const uint32_t generation = tool->ReadHeader().generation;

  master->DetachFromFile();
  EXPECT_FALSE(master->writable());
  master->Publish(1, SessionRecord(999));
  master->Publish(2, SessionRecord(998));
  master->SetBytesDone(1, 123456);
  master->AddTotalBytes(1000);
  master->CountSession();
  master->Clear(1);
  master->SetGeneration(generation + 5);
  // Its own view is private zero memory now.
  EXPECT_EQ(master->Read(1).rec.pid, 0);
  EXPECT_EQ(master->ReadHeader().generation, 0u);

  EXPECT_EQ(tool->Read(1).rec.pid, 4242);
  EXPECT_EQ(tool->Read(1).bytes_done, 77u);
  EXPECT_EQ(tool->Read(2).rec.state, SlotState::kEmpty);
  EXPECT_EQ(tool->ReadHeader().total_bytes, total);
  EXPECT_EQ(tool->ReadHeader().generation, generation);
}

bool g_gate_open = true;
int g_gate_calls = 0;
bool TestGate() {
  ++g_gate_calls;
  return g_gate_open;
}

TEST(WriteGate, AClosedGateDropsEveryWrite) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto master = Scoreboard::Create(path, 4, "Test Server", 3);
  ASSERT_TRUE(master) << master.error().message();
  auto tool = Scoreboard::Open(path);
  ASSERT_TRUE(tool) << tool.error().message();
  SetWriteGate(&TestGate);
  g_gate_open = true;
  master->Publish(0, SessionRecord(100));
  EXPECT_EQ(tool->Read(0).rec.pid, 100);
  EXPECT_GE(g_gate_calls, 1);
  g_gate_open = false;
  master->Publish(0, SessionRecord(200));
  master->SetBytesDone(0, 5);
  master->Clear(0);
  EXPECT_EQ(tool->Read(0).rec.pid, 100);
  EXPECT_EQ(tool->Read(0).bytes_done, 0u);
  SetWriteGate(nullptr);
  master->Publish(0, SessionRecord(300));
  EXPECT_EQ(tool->Read(0).rec.pid, 300);
}

TEST(Create, LongStringsAreTruncatedNotOverflowed) {
  TempDir dir;
  auto sb = Scoreboard::Create(dir.File("sb"), 2, std::string(500, 'n'), 1);
  ASSERT_TRUE(sb);
  sb->SetConfigFile("/" + std::string(400, 'c'));
  EXPECT_EQ(std::strlen(sb->ReadHeader().config_file), kConfigFileLen - 1);
  SlotRecord r = SessionRecord(1);
  std::memset(r.arg, 'a', sizeof r.arg);  // no NUL at all
  sb->Publish(0, r);
  const SlotView v = sb->Read(0);
  EXPECT_EQ(std::strlen(v.rec.arg), kArgLen - 1);
  EXPECT_EQ(std::strlen(sb->ReadHeader().server_name), kServerNameLen - 1);
}

// Publish skips words whose value is unchanged: a shorter command or path
// must still replace the longer one completely, and every field must follow.
TEST(Create, RepublishingReplacesEveryChangedField) {
  TempDir dir;
  auto sb = Scoreboard::Create(dir.File("sb"), 2, "S", 1);
  ASSERT_TRUE(sb);
  SlotRecord r = SessionRecord(10);
  SetText(r.cmd, "RETR");
  SetText(r.arg, "/pub/a-long-file-name.iso");
  SetText(r.cwd, "/pub/releases/2026");
  r.xfer_size = 1u << 30;
  sb->Publish(1, r);
  SetText(r.cmd, "PWD");
  SetText(r.arg, "");
  SetText(r.cwd, "/pub");
  r.xfer_size = 0;
  r.pid = 11;
  sb->Publish(1, r);
  const SlotView v = sb->Read(1);
  EXPECT_STREQ(v.rec.cmd, "PWD");
  EXPECT_STREQ(v.rec.arg, "");
  EXPECT_STREQ(v.rec.cwd, "/pub");
  EXPECT_EQ(v.rec.xfer_size, 0u);
  EXPECT_EQ(v.rec.pid, 11);
  sb->Publish(1, r);  // unchanged: still the same record
  EXPECT_STREQ(sb->Read(1).rec.cwd, "/pub");
}

TEST(Create, MissingDirectoryIsNotFound) {
  TempDir dir;
  const std::string path = dir.File("no/such/dir/sb");
  auto sb = Scoreboard::Create(path, 4, "x", 1);
  ASSERT_FALSE(sb);
  EXPECT_EQ(sb.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(sb.error().message().find(path), std::string::npos) << sb.error().message();
}

TEST(Create, BadSlotCountIsRefused) {
  TempDir dir;
  auto zero = Scoreboard::Create(dir.File("sb"), 0, "x", 1);
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().code(), ErrorCode::kLimit);
  auto huge = Scoreboard::Create(dir.File("sb"), kMaxSlots + 1, "x", 1);
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().code(), ErrorCode::kLimit);
}

TEST(Create, RefusesSymlink) {
  TempDir dir;
  const std::string target = dir.File("target");
  WriteFile(target, "");
  ASSERT_EQ(::symlink(target.c_str(), dir.File("sb").c_str()), 0);
  auto sb = Scoreboard::Create(dir.File("sb"), 4, "x", 1);
  ASSERT_FALSE(sb);
  EXPECT_EQ(sb.error().code(), ErrorCode::kPermission);
  EXPECT_NE(sb.error().message().find("symbolic link"), std::string::npos);
}

TEST(Create, HoldsExactlyOneCloexecFd) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto sb = Scoreboard::Create(path, 4, "x", 1);
  ASSERT_TRUE(sb);
  struct stat want = {};
  ASSERT_EQ(::stat(path.c_str(), &want), 0);
  int count = 0;
  DIR* d = ::opendir("/proc/self/fd");
  ASSERT_NE(d, nullptr);
  while (dirent* e = ::readdir(d)) {
    const int fd = std::atoi(e->d_name);
    if (e->d_name[0] == '.' || fd == ::dirfd(d)) continue;
    struct stat st = {};
    if (::fstat(fd, &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino) {
      ++count;
      EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC) << "fd " << fd << " lacks FD_CLOEXEC";
    }
  }
  ::closedir(d);
  EXPECT_EQ(count, 1);
}

// The lock is per process: the live holder is this test process, the second
// master a forked child.
TEST(Create, SecondMasterInAnotherProcessGetsExists) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto master = Scoreboard::Create(path, 4, "x", 1);
  ASSERT_TRUE(master);
  master->Publish(1, SessionRecord(77));

  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  const int rc = InChild([&] {
    ::close(pipefd[0]);
    auto second = Scoreboard::Create(path, 4, "y", 1);
    if (second) return 1;
    const std::string msg = second.error().message();
    (void)!::write(pipefd[1], msg.data(), msg.size());
    return second.error().code() == ErrorCode::kExists ? 0 : 2;
  });
  ::close(pipefd[1]);
  char buf[512] = {};
  (void)!::read(pipefd[0], buf, sizeof buf - 1);
  ::close(pipefd[0]);
  EXPECT_EQ(rc, 0) << buf;
  const std::string msg = buf;
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("pid " + std::to_string(::getpid())), std::string::npos) << msg;
  // The refused master touched nothing.
  EXPECT_EQ(master->Read(1).rec.pid, 77);
}

int ChildCreateCode(const std::string& path) {
  return InChild([&] {
    auto sb = Scoreboard::Create(path, 4, "child", 1);
    if (sb) return 0;
    return sb.error().code() == ErrorCode::kExists ? 17 : 1;
  });
}

TEST(Create, SecondCreateInSameProcessIsRefusedAndKeepsTheLock) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto master = Scoreboard::Create(path, 4, "x", 1);
  ASSERT_TRUE(master);
  master->Publish(0, SessionRecord(5));
  {
    auto again = Scoreboard::Create(path, 4, "x", 1);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code(), ErrorCode::kExists);
  }
  EXPECT_EQ(master->Read(0).rec.pid, 5);  // not truncated
  EXPECT_EQ(ChildCreateCode(path), 17);   // still locked
}

TEST(Create, OpenAndCloseInTheMasterProcessKeepsTheLock) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto master = Scoreboard::Create(path, 4, "x", 1);
  ASSERT_TRUE(master);
  for (int i = 0; i < 3; ++i) {
    auto tool = Scoreboard::Open(path, i == 1);
    ASSERT_TRUE(tool) << tool.error().message();
  }  // each closes its fd here: must not release the master's fcntl lock
  EXPECT_EQ(ChildCreateCode(path), 17);
}

TEST(Create, LockIsReleasedWhenTheMasterObjectGoes) {
  TempDir dir;
  const std::string path = dir.File("sb");
  {
    auto master = Scoreboard::Create(path, 4, "x", 1);
    ASSERT_TRUE(master);
    EXPECT_EQ(ChildCreateCode(path), 17);
  }
  EXPECT_EQ(ChildCreateCode(path), 0);
}

TEST(Create, MovedScoreboardKeepsTheLock) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto created = Scoreboard::Create(path, 4, "x", 1);
  ASSERT_TRUE(created);
  Scoreboard moved = std::move(created.value());
  EXPECT_EQ(ChildCreateCode(path), 17);
  EXPECT_EQ(moved.slot_count(), 4u);
}

TEST(Create, StaleScoreboardIsTakenOver) {
  TempDir dir;
  const std::string path = dir.File("sb");
  pid_t dead_pid = 0;
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  // A master that dies without clearing anything.
  const int rc = InChild([&] {
    auto sb = Scoreboard::Create(path, 4, "old", 1);
    if (!sb) return 1;
    sb->Publish(3, SessionRecord(999));
    const pid_t self = ::getpid();
    (void)!::write(pipefd[1], &self, sizeof self);
    ::_exit(0);  // no destructors, no ClearMaster: a crash
  });
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(::read(pipefd[0], &dead_pid, sizeof dead_pid), static_cast<ssize_t>(sizeof dead_pid));
  ::close(pipefd[0]);
  ::close(pipefd[1]);

  {
    auto tool = Scoreboard::Open(path);
    ASSERT_TRUE(tool);
    EXPECT_EQ(tool->ReadHeader().master_pid, dead_pid);
    EXPECT_FALSE(tool->MasterAlive());
    EXPECT_EQ(tool->Read(3).rec.pid, 999);
  }
  auto master = Scoreboard::Create(path, 6, "new", 2);
  ASSERT_TRUE(master) << master.error().message();
  const HeaderView h = master->ReadHeader();
  EXPECT_EQ(h.master_pid, ::getpid());
  EXPECT_EQ(h.slot_count, 6u);
  EXPECT_STREQ(h.server_name, "new");
  EXPECT_TRUE(master->ReadAll().empty()) << "the old slots must be gone";
  EXPECT_TRUE(master->MasterAlive());
}

TEST(MasterAlive, ClearMasterAndPidReuse) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto master = Scoreboard::Create(path, 2, "x", 1);
  ASSERT_TRUE(master);
  auto tool = Scoreboard::Open(path);
  ASSERT_TRUE(tool);
  EXPECT_TRUE(tool->MasterAlive());

  // Same PID, other start time: a reused PID, not our master.
  const uint64_t ticks = tool->ReadHeader().master_start_ticks;
  WriteValue<uint64_t>(path, offsetof(Header, master_start_ticks), ticks + 1);
  EXPECT_FALSE(tool->MasterAlive());
  WriteValue<uint64_t>(path, offsetof(Header, master_start_ticks), ticks);
  EXPECT_TRUE(tool->MasterAlive());

  master->ClearMaster();
  EXPECT_EQ(tool->ReadHeader().master_pid, 0);
  EXPECT_FALSE(tool->MasterAlive());
}

TEST(ProcessStartTicks, LiveAndGone) {
  EXPECT_GT(ProcessStartTicks(::getpid()), 0u);
  EXPECT_EQ(ProcessStartTicks(0), 0u);
  EXPECT_EQ(ProcessStartTicks(-5), 0u);
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status;
  ::waitpid(child, &status, 0);
  EXPECT_EQ(ProcessStartTicks(child), 0u);
}

// ---------------------------------------------------------------------------
// Open errors

class OpenErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("sb");
    // A valid file left by a master that has gone.
    ASSERT_EQ(InChild([&] { return Scoreboard::Create(path_, 4, "x", 1) ? 0 : 1; }), 0);
  }
  Error OpenError() {
    auto sb = Scoreboard::Open(path_);
    EXPECT_FALSE(sb) << "opened a corrupt scoreboard";
    return sb ? Error() : sb.error();
  }
  TempDir dir_;
  std::string path_;
};

TEST_F(OpenErrors, ValidFileOpens) { EXPECT_TRUE(Scoreboard::Open(path_)); }

TEST_F(OpenErrors, MissingFileIsNotFound) {
  const std::string missing = dir_.File("missing");
  auto sb = Scoreboard::Open(missing);
  ASSERT_FALSE(sb);
  EXPECT_EQ(sb.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(sb.error().context().find(missing), std::string::npos) << sb.error().message();
}

TEST_F(OpenErrors, WrongMagic) {
  WriteValue<uint64_t>(path_, 0, 0x0123456789abcdefULL);
  const Error e = OpenError();
  EXPECT_EQ(e.code(), ErrorCode::kInvalid);
  EXPECT_NE(e.message().find("not a poolftpd scoreboard"), std::string::npos) << e.message();
  EXPECT_NE(e.message().find(path_), std::string::npos);
}

TEST_F(OpenErrors, ZeroMagic) {
  WriteValue<uint64_t>(path_, 0, 0);
  EXPECT_EQ(OpenError().code(), ErrorCode::kInvalid);
}

TEST_F(OpenErrors, OtherLayoutVersion) {
  WriteValue<uint32_t>(path_, offsetof(Header, layout_version), 7);
  const Error e = OpenError();
  EXPECT_EQ(e.code(), ErrorCode::kVersion);
  EXPECT_NE(e.message().find("version 7"), std::string::npos) << e.message();
  EXPECT_NE(e.message().find("reads version " + std::to_string(kLayoutVersion)), std::string::npos)
      << e.message();
}

TEST_F(OpenErrors, TruncatedFile) {
  ASSERT_EQ(::truncate(path_.c_str(), sizeof(Header) + sizeof(Slot) * 2 + 100), 0);
  const Error e = OpenError();
  EXPECT_EQ(e.code(), ErrorCode::kInvalid);
  EXPECT_NE(e.message().find("truncated"), std::string::npos) << e.message();
}

TEST_F(OpenErrors, ShorterThanHeader) {
  WriteFile(path_, "PFTPDSB1 but nothing more");
  const Error e = OpenError();
  EXPECT_EQ(e.code(), ErrorCode::kInvalid);
  EXPECT_NE(e.message().find("shorter"), std::string::npos) << e.message();
}

TEST_F(OpenErrors, EmptyFile) {
  WriteFile(path_, "");
  EXPECT_EQ(OpenError().code(), ErrorCode::kInvalid);
}

TEST_F(OpenErrors, SlotCountDisagreesWithSize) {
  WriteValue<uint32_t>(path_, offsetof(Header, slot_count), 1000);
  EXPECT_EQ(OpenError().code(), ErrorCode::kInvalid);
  WriteValue<uint32_t>(path_, offsetof(Header, slot_count), 0);
  EXPECT_EQ(OpenError().code(), ErrorCode::kInvalid);
  WriteValue<uint32_t>(path_, offsetof(Header, slot_count), 0xffffffffu);
  EXPECT_EQ(OpenError().code(), ErrorCode::kInvalid);
}

TEST_F(OpenErrors, WrongSlotOrHeaderSize) {
  WriteValue<uint32_t>(path_, offsetof(Header, slot_size), 1024);
  EXPECT_EQ(OpenError().code(), ErrorCode::kInvalid);
  WriteValue<uint32_t>(path_, offsetof(Header, slot_size), sizeof(Slot));
  WriteValue<uint32_t>(path_, offsetof(Header, header_size), 64);
  EXPECT_EQ(OpenError().code(), ErrorCode::kInvalid);
}

TEST_F(OpenErrors, DirectoryIsNotAScoreboard) {
  auto sb = Scoreboard::Open(dir_.path());
  EXPECT_FALSE(sb);
}

TEST_F(OpenErrors, RandomBytes) {
  std::string junk(sizeof(Header) + 4 * sizeof(Slot), '\0');
  unsigned x = 12345;
  for (char& c : junk) c = static_cast<char>((x = x * 1103515245 + 12345) >> 16);
  WriteFile(path_, junk);
  EXPECT_EQ(OpenError().code(), ErrorCode::kInvalid);
}

// ---------------------------------------------------------------------------
// Reader validation of slots a dead or hostile writer left behind

TEST_F(OpenErrors, OddSeqIsReportedAsUpdatingWithoutHanging) {
  auto writer = Scoreboard::Open(path_, true);
  ASSERT_TRUE(writer);
  writer->Publish(1, SessionRecord(321));
  WriteValue<uint32_t>(path_, SlotOffset(1) + offsetof(Slot, seq), 7);  // died mid-write

  auto tool = Scoreboard::Open(path_);
  ASSERT_TRUE(tool);
  const SlotView v = tool->Read(1);
  EXPECT_TRUE(v.updating);
  EXPECT_EQ(v.rec.pid, 321);  // best-effort copy, validated
  auto all = tool->ReadAll();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_TRUE(all[0].updating);

  // The master's Clear() at reap repairs the slot.
  writer->Clear(1);
  const SlotView fixed = tool->Read(1);
  EXPECT_FALSE(fixed.updating);
  EXPECT_EQ(fixed.rec.state, SlotState::kEmpty);
  EXPECT_TRUE(tool->ReadAll().empty());
  // And the next Publish works normally.
  writer->Publish(1, SessionRecord(322));
  EXPECT_FALSE(tool->Read(1).updating);
  EXPECT_EQ(tool->Read(1).rec.pid, 322);
}

TEST_F(OpenErrors, GarbageSlotIsValidated) {
  std::string junk(sizeof(Slot), '\xff');
  std::memset(junk.data(), 0, 4);  // even seq
  WriteAt(path_, SlotOffset(2), junk.data(), junk.size());
  auto tool = Scoreboard::Open(path_);
  ASSERT_TRUE(tool);
  const SlotView v = tool->Read(2);
  EXPECT_TRUE(v.updating);
  EXPECT_EQ(v.rec.state, SlotState::kEmpty);
  EXPECT_EQ(v.rec.xfer_dir, XferDir::kNone);
  EXPECT_EQ(v.rec.pid, 0);  // -1 clamped
  EXPECT_EQ(v.rec.session_start_ns, 0);
  EXPECT_EQ(std::strlen(v.rec.user), kUserLen - 1);
  EXPECT_EQ(std::strlen(v.rec.arg), kArgLen - 1);
  EXPECT_EQ(std::strlen(v.rec.protocol), kProtoLen - 1);
  EXPECT_EQ(tool->PeekState(2), SlotState::kEmpty);
  // No writer went through slot 2, so the high-water mark leaves it out...
  EXPECT_EQ(tool->scan_limit(), 0u);
  EXPECT_TRUE(tool->ReadAll().empty());
  // ...until the mark covers it: then the garbage is reported, validated.
  WriteValue<uint32_t>(path_, offsetof(Header, slot_hwm), 3);
  EXPECT_EQ(tool->scan_limit(), 3u);
  ASSERT_EQ(tool->ReadAll().size(), 1u);
  EXPECT_TRUE(tool->ReadAll()[0].updating);
  // A mark past the slot count is file garbage too: clamped.
  WriteValue<uint32_t>(path_, offsetof(Header, slot_hwm), 4000);
  EXPECT_EQ(tool->scan_limit(), 4u);
  // A file of an older release (no kFeatureSlotHwm): every slot is read.
  WriteValue<uint32_t>(path_, offsetof(Header, slot_hwm), 0);
  WriteValue<uint32_t>(path_, offsetof(Header, features), 0);
  EXPECT_EQ(tool->scan_limit(), 4u);
  EXPECT_EQ(tool->ReadAll().size(), 1u);
}

TEST_F(OpenErrors, UnknownEnumValuesAreRejected) {
  auto writer = Scoreboard::Open(path_, true);
  ASSERT_TRUE(writer);
  writer->Publish(0, SessionRecord(10));
  WriteValue<uint8_t>(path_, SlotOffset(0) + offsetof(Slot, xfer_dir), 9);
  SlotView v = writer->Read(0);
  EXPECT_TRUE(v.updating);
  EXPECT_EQ(v.rec.state, SlotState::kEmpty);
  EXPECT_EQ(v.rec.xfer_dir, XferDir::kNone);

  writer->Publish(0, SessionRecord(10));
  WriteValue<uint8_t>(path_, SlotOffset(0) + offsetof(Slot, state), 8);
  v = writer->Read(0);
  EXPECT_TRUE(v.updating);
  EXPECT_EQ(v.rec.state, SlotState::kEmpty);
}

TEST_F(OpenErrors, ReadOnlyOpenIgnoresWriters) {
  auto tool = Scoreboard::Open(path_);
  ASSERT_TRUE(tool);
  // On a PROT_READ mapping these would fault if they wrote.
  tool->Publish(0, SessionRecord(1));
  tool->Clear(0);
  tool->SetBytesDone(0, 1);
  tool->SetClientKey(0, 1);
  tool->AddTotalBytes(1);
  tool->CountSession();
  tool->SetGeneration(9);
  tool->SetServerName("n");
  tool->SetShutdown(1, 2, 3, "m");
  tool->ClearMaster();
  EXPECT_EQ(tool->Read(0).rec.state, SlotState::kEmpty);
}

TEST_F(OpenErrors, OutOfRangeIndexIsHarmless) {
  auto writer = Scoreboard::Open(path_, true);
  ASSERT_TRUE(writer);
  writer->Publish(4, SessionRecord(1));
  writer->Clear(1000);
  writer->SetBytesDone(99, 5);
  const SlotView v = writer->Read(4);
  EXPECT_EQ(v.rec.state, SlotState::kEmpty);
  EXPECT_EQ(writer->PeekState(4), SlotState::kEmpty);
  EXPECT_TRUE(writer->ReadAll().empty());
}

// ---------------------------------------------------------------------------
// Counters and client keys

TEST(Counters, TotalsAndShutdown) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto master = Scoreboard::Create(path, 4, "x", 1);
  ASSERT_TRUE(master);
  master->CountSession();
  master->CountSession();
  master->AddTotalBytes(1000);
  master->AddTotalBytes(24);
  master->SetShutdown(1700000000, 1699999400, 1699999700, "maintenance\tat noon");

  // Another process (a worker) adds through the inherited mapping.
  ASSERT_EQ(InChild([&] {
              master->CountSession();
              master->AddTotalBytes(1000);
              return 0;
            }),
            0);

  auto tool = Scoreboard::Open(path);
  ASSERT_TRUE(tool);
  const HeaderView h = tool->ReadHeader();
  EXPECT_EQ(h.total_sessions, 3u);
  EXPECT_EQ(h.total_bytes, 2024u);
  EXPECT_EQ(h.shutdown_time, 1700000000);
  EXPECT_EQ(h.deny_time, 1699999400);
  EXPECT_EQ(h.disconnect_time, 1699999700);
  EXPECT_STREQ(h.shutdown_msg, "maintenance\tat noon");

  auto writer = Scoreboard::Open(path, true);
  ASSERT_TRUE(writer);
  writer->SetShutdown(0, 0, 0, "");
  EXPECT_EQ(tool->ReadHeader().shutdown_time, 0);
  EXPECT_STREQ(tool->ReadHeader().shutdown_msg, "");
}

// A reader sees each step's bytes while the transfer runs: the worker adds
// per step, and nothing waits for the transfer's end.
TEST(Counters, TotalBytesGrowsPerStepWhileATransferRuns) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto master = Scoreboard::Create(path, 2, "x", 1);
  ASSERT_TRUE(master);
  auto tool = Scoreboard::Open(path);
  ASSERT_TRUE(tool);
  int to_parent[2], to_child[2];
  ASSERT_EQ(::pipe(to_parent), 0);
  ASSERT_EQ(::pipe(to_child), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // the worker: three 1 MiB steps, a handshake after each
    for (uint64_t step = 1; step <= 3; ++step) {
      master->SetBytesDone(0, step << 20);
      master->AddTotalBytes(1 << 20);
      char c = 's';
      if (::write(to_parent[1], &c, 1) != 1 || ::read(to_child[0], &c, 1) != 1) ::_exit(1);
    }
    ::_exit(0);
  }
  for (uint64_t step = 1; step <= 3; ++step) {
    char c;
    ASSERT_EQ(::read(to_parent[0], &c, 1), 1);
    EXPECT_EQ(tool->ReadHeader().total_bytes, step << 20);  // the transfer has not ended
    ASSERT_EQ(::write(to_child[1], &c, 1), 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]}) ::close(fd);
}

// Open sessions are counted from the slots at read time, so a worker killed
// mid-session counts until the master's Clear() at reap and never after: no
// header word can be left too high.
TEST(Counters, OpenSessionsComeFromSlotsAndDropWhenAKilledWorkerIsReaped) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto master = Scoreboard::Create(path, 4, "x", 1);
  ASSERT_TRUE(master);
  auto open_sessions = [&] {
    auto tool = Scoreboard::Open(path);
    uint32_t n = 0;
    for (const SlotView& v : tool->ReadAll())
      n += IsSessionState(v.rec.state) && !v.updating ? 1 : 0;
    return n;
  };
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    SlotRecord r = SessionRecord(::getpid());
    r.state = SlotState::kIdle;
    master->Publish(1, r);
    char c = 'r';
    (void)!::write(ready[1], &c, 1);
    ::pause();
    ::_exit(0);
  }
  SlotRecord other = SessionRecord(::getpid());
  other.state = SlotState::kConnected;
  master->Publish(0, other);
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  EXPECT_EQ(open_sessions(), 2u);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  master->Clear(1);  // the master at reap
  EXPECT_EQ(open_sessions(), 1u);
  EXPECT_EQ(master->CheckHeader(1), "");  // nothing in the header to correct
  ::close(ready[0]);
  ::close(ready[1]);
}

// The word that held a never-maintained active_sessions is reserved now: a
// nonzero value there is damage, and a repair keeps the live counters.
TEST(Counters, RetiredActiveSessionsWordIsDamageAndRepairKeepsTotals) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto master = Scoreboard::Create(path, 2, "x", 1);
  ASSERT_TRUE(master);
  master->CountSession();
  master->AddTotalBytes(4096);
  WriteValue<uint64_t>(path, offsetof(Header, reserved1), 5);
  EXPECT_NE(master->CheckHeader(0).find("reserved"), std::string::npos);
  master->RepairHeader(0);
  EXPECT_EQ(master->CheckHeader(0), "");
  EXPECT_EQ(master->ReadHeader().total_sessions, 1u);
  EXPECT_EQ(master->ReadHeader().total_bytes, 4096u);
}

TEST(Counters, StuckHeaderSeqlockIsOvertaken) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto master = Scoreboard::Create(path, 1, "before", 1);
  ASSERT_TRUE(master);
  WriteValue<uint32_t>(path, offsetof(Header, name_seq), 3);  // a writer died
  EXPECT_STREQ(master->ReadHeader().server_name, "before");   // best effort, no hang
  master->SetServerName("after");
  EXPECT_STREQ(master->ReadHeader().server_name, "after");
}

TEST(ClientKey, CountsNonEmptySlotsWithThatKey) {
  TempDir dir;
  auto sb = Scoreboard::Create(dir.File("sb"), 6, "x", 6);
  ASSERT_TRUE(sb);
  SlotRecord r = SessionRecord(1);
  for (size_t i = 0; i < 5; ++i) sb->Publish(i, r);
  sb->SetClientKey(0, 0xabc);
  sb->SetClientKey(1, 0xabc);
  sb->SetClientKey(2, 0xdef);
  sb->SetClientKey(3, 0xabc);
  sb->SetClientKey(5, 0xabc);  // slot 5 is empty: not counted
  EXPECT_EQ(sb->CountClientKey(0xabc), 3u);
  EXPECT_EQ(sb->CountClientKey(0xdef), 1u);
  EXPECT_EQ(sb->CountClientKey(0x123), 0u);
  EXPECT_EQ(sb->CountClientKey(0), 0u);
  sb->Clear(3);  // reaped: key gone
  EXPECT_EQ(sb->CountClientKey(0xabc), 2u);
}

TEST(SeccompTrap, WorkerStoresMasterReadsClearZeroes) {
  TempDir dir;
  auto sb = Scoreboard::Create(dir.File("sb"), 3, "x", 3);
  ASSERT_TRUE(sb);
  {
    uint32_t features = 0;
    std::ifstream in(dir.File("sb"), std::ios::binary);
    in.seekg(offsetof(Header, features));
    in.read(reinterpret_cast<char*>(&features), sizeof features);
    EXPECT_EQ(features, kFeatureSlotHwm | kFeatureSeccompTrap);
  }
  EXPECT_EQ(sb->SeccompTrap(1), 0u);
  std::atomic<uint64_t>* word = sb->SeccompTrapWord(1);
  ASSERT_NE(word, nullptr);
  sb->Publish(1, SessionRecord(1));
  word->store((uint64_t{0xc000003e} << 32) | 135, std::memory_order_relaxed);
  EXPECT_EQ(sb->SeccompTrap(1), (uint64_t{0xc000003e} << 32) | 135);
  EXPECT_EQ(sb->SeccompTrap(0), 0u);  // one slot's word only
  sb->Publish(1, SessionRecord(1));   // the record's writes leave it alone
  EXPECT_NE(sb->SeccompTrap(1), 0u);
  sb->Clear(1);  // reaped: gone with the worker
  EXPECT_EQ(sb->SeccompTrap(1), 0u);
  EXPECT_EQ(sb->SeccompTrapWord(3), nullptr);
  EXPECT_EQ(sb->SeccompTrap(3), 0u);
  auto ro = Scoreboard::Open(dir.File("sb"));
  ASSERT_TRUE(ro);
  EXPECT_EQ(ro->SeccompTrapWord(1), nullptr);  // a read-only mapping hands out no word
}

TEST(States, NamesAndSessionPredicate) {
  EXPECT_STREQ(SlotStateName(SlotState::kLoggedIn), "logged_in");
  EXPECT_STREQ(SlotStateName(SlotState::kTransferring), "transferring");
  EXPECT_STREQ(XferDirName(XferDir::kStor), "upload");
  EXPECT_FALSE(IsSessionState(SlotState::kReady));
  EXPECT_FALSE(IsSessionState(SlotState::kStarting));
  EXPECT_TRUE(IsSessionState(SlotState::kConnected));
  EXPECT_TRUE(IsSessionState(SlotState::kClosing));
}

// ---------------------------------------------------------------------------
// The seqlock under a hammering writer in another process

// Every field is a function of one counter, so any mix of two records shows.
SlotRecord RecordFor(uint32_t c) {
  SlotRecord r;
  r.pid = static_cast<int32_t>(c & 0x7fffffff);
  r.generation = c;
  r.state = static_cast<SlotState>(3 + c % 5);
  r.xfer_dir = static_cast<XferDir>(c % 4);
  r.session_start_ns = static_cast<int64_t>(c) * 3;
  r.last_activity_ns = static_cast<int64_t>(c) * 5;
  r.xfer_start_ns = static_cast<int64_t>(c) * 7;
  r.xfer_size = uint64_t{c} * 11;
  r.xfer_offset = uint64_t{c} * 13;
  r.sessions_served = uint64_t{c} * 17;
  char tag[16];
  std::snprintf(tag, sizeof tag, "%08x", c);
  auto fill = [&](auto& field) {
    std::string s;
    const size_t len = (c % (sizeof field - 1)) + 1;  // lengths vary too
    while (s.size() < len) s += tag;
    s.resize(len);
    SetText(field, s);
  };
  fill(r.user);
  fill(r.client_addr);
  fill(r.server_addr);
  fill(r.protocol);
  fill(r.cmd);
  fill(r.cwd);
  fill(r.arg);
  fill(r.xfer_path);
  return r;
}

bool SameRecord(const SlotRecord& a, const SlotRecord& b) {
  return a.pid == b.pid && a.generation == b.generation && a.state == b.state &&
         a.xfer_dir == b.xfer_dir && a.session_start_ns == b.session_start_ns &&
         a.last_activity_ns == b.last_activity_ns && a.xfer_start_ns == b.xfer_start_ns &&
         a.xfer_size == b.xfer_size && a.xfer_offset == b.xfer_offset &&
         a.sessions_served == b.sessions_served && std::strcmp(a.user, b.user) == 0 &&
         std::strcmp(a.client_addr, b.client_addr) == 0 &&
         std::strcmp(a.server_addr, b.server_addr) == 0 &&
         std::strcmp(a.protocol, b.protocol) == 0 && std::strcmp(a.cmd, b.cmd) == 0 &&
         std::strcmp(a.cwd, b.cwd) == 0 && std::strcmp(a.arg, b.arg) == 0 &&
         std::strcmp(a.xfer_path, b.xfer_path) == 0;
}

TEST(Seqlock, ForkedWriterNeverYieldsATornRecord) {
  TempDir dir;
  auto sb = Scoreboard::Create(dir.File("sb"), 2, "x", 1);
  ASSERT_TRUE(sb);
  sb->Publish(1, RecordFor(1));

  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t writer = ::fork();
  if (writer == 0) {  // the worker: owns slot 1 from now on
    ::close(ready[0]);
    for (uint32_t c = 2;; ++c) {
      sb->Publish(1, RecordFor(c));
      sb->SetBytesDone(1, c);
      if (c == 1000) (void)!::write(ready[1], "x", 1);
    }
  }
  ASSERT_GT(writer, 0);
  ::close(ready[1]);
  char byte;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  ::close(ready[0]);

  // Bounded by iterations and a deadline; asserts correctness, not speed.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  uint64_t reads = 0, torn = 0, updating = 0;
  std::set<uint32_t> seen;
  while (reads < 5'000'000 && std::chrono::steady_clock::now() < deadline) {
    for (int i = 0; i < 100; ++i, ++reads) {
      const SlotView v = sb->Read(1);
      if (v.updating) {
        ++updating;
        continue;
      }
      if (!SameRecord(v.rec, RecordFor(v.rec.generation))) {
        if (++torn < 5) ADD_FAILURE() << "torn record at generation " << v.rec.generation;
      }
      if (seen.size() < 100000) seen.insert(v.rec.generation);
    }
  }
  // The same through ForEachSlot() with some text fields left out: what it
  // copies is just as consistent, the rest stays "".
  const auto deadline2 = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  uint64_t streamed = 0;
  std::set<uint32_t> seen2;
  while (std::chrono::steady_clock::now() < deadline2) {
    sb->ForEachSlot(kReadBrief, [&](const SlotView& v) {
      ++streamed;
      if (v.index != 1 || v.updating) return;
      SlotRecord want = RecordFor(v.rec.generation);
      SetText(want.client_addr, "");
      SetText(want.server_addr, "");
      SetText(want.protocol, "");
      SetText(want.cwd, "");
      if (want.state != SlotState::kTransferring) SetText(want.xfer_path, "");
      if (!SameRecord(v.rec, want)) {
        if (++torn < 5) ADD_FAILURE() << "torn streamed record at " << v.rec.generation;
      }
      if (seen2.size() < 100000) seen2.insert(v.rec.generation);
    });
  }
  ::kill(writer, SIGKILL);
  int status;
  ::waitpid(writer, &status, 0);
  EXPECT_EQ(torn, 0u) << "out of " << reads << " reads and " << streamed << " streamed";
  EXPECT_GT(seen.size(), 1u) << "the reader never saw the writer progress";
  EXPECT_GT(seen2.size(), 1u) << "the streaming reader never saw the writer progress";
  RecordProperty("reads", std::to_string(reads));
  RecordProperty("distinct", std::to_string(seen.size()));
  RecordProperty("updating", std::to_string(updating));
}

// ---------------------------------------------------------------------------
// High-water mark and streaming reads

TEST(HighWaterMark, RaisedBeforeEveryWriteAndNeverLowered) {
  TempDir dir;
  auto master = Scoreboard::Create(dir.File("sb"), 16, "x", 16);
  ASSERT_TRUE(master);
  auto tool = Scoreboard::Open(dir.File("sb"));
  ASSERT_TRUE(tool);
  EXPECT_EQ(tool->scan_limit(), 0u);  // nothing written yet: nothing to scan
  EXPECT_TRUE(tool->ReadAll().empty());
  master->Publish(5, SessionRecord(55));
  EXPECT_EQ(tool->scan_limit(), 6u);  // re-read on every call
  auto all = tool->ReadAll();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].index, 5u);
  master->Publish(2, SessionRecord(22));
  EXPECT_EQ(tool->scan_limit(), 6u);
  master->Clear(5);
  EXPECT_EQ(tool->scan_limit(), 6u);  // never lowered
  master->Clear(9);                   // Clear() is a seqlock write too
  EXPECT_EQ(master->scan_limit(), 10u);
  ASSERT_EQ(tool->ReadAll().size(), 1u);
  tool->Publish(15, SessionRecord(1));  // read-only: no effect
  EXPECT_EQ(tool->scan_limit(), 10u);

  // Concurrent writers in forked processes: the mark ends at the maximum.
  std::vector<pid_t> kids;
  for (size_t k = 10; k < 16; ++k) {
    const pid_t p = ::fork();
    if (p == 0) {
      master->Publish(k, SessionRecord(static_cast<int32_t>(1000 + k)));
      ::_exit(0);
    }
    kids.push_back(p);
  }
  for (const pid_t p : kids) ::waitpid(p, nullptr, 0);
  EXPECT_EQ(tool->scan_limit(), 16u);
  EXPECT_EQ(tool->ReadAll().size(), 7u);

  // inetd mode: the file builder sets the feature too, claims raise it.
  auto shared = Scoreboard::OpenOrCreateShared(dir.File("inetd"), 8, "x");
  ASSERT_TRUE(shared);
  EXPECT_EQ(shared->scan_limit(), 0u);
  auto slot = shared->ClaimFreeSlot(::getpid());
  ASSERT_TRUE(slot);
  EXPECT_EQ(shared->scan_limit(), *slot + 1);
  EXPECT_EQ(shared->ReadAll().size(), 1u);
}

TEST(ForEachSlot, StreamsWhatReadAllReturnsWithOnlyTheAskedText) {
  TempDir dir;
  auto sb = Scoreboard::Create(dir.File("sb"), 8, "x", 8);
  ASSERT_TRUE(sb);
  sb->Publish(0, RecordFor(7));
  sb->Publish(3, RecordFor(12));
  sb->Publish(4, RecordFor(9));
  sb->Clear(4);  // empty again: skipped
  sb->Publish(6, RecordFor(31));
  WriteValue<uint32_t>(dir.File("sb"), SlotOffset(6) + offsetof(Slot, seq), 9);  // died mid-write
  const auto all = sb->ReadAll();
  std::vector<SlotView> streamed;
  sb->ForEachSlot(kReadAllText, [&](const SlotView& v) { streamed.push_back(v); });
  ASSERT_EQ(all.size(), 3u);
  ASSERT_EQ(streamed.size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(streamed[i].index, all[i].index);
    EXPECT_EQ(streamed[i].updating, all[i].updating);
    EXPECT_TRUE(SameRecord(streamed[i].rec, all[i].rec)) << i;
  }
  EXPECT_TRUE(all[2].updating);

  // Only the user name: every number still read, the other text "".
  std::vector<SlotView> users;
  sb->ForEachSlot(kReadUser, [&](const SlotView& v) { users.push_back(v); });
  ASSERT_EQ(users.size(), 3u);
  const SlotRecord want = RecordFor(12);
  const SlotRecord& got = users[1].rec;
  EXPECT_EQ(users[1].index, 3u);
  EXPECT_STREQ(got.user, want.user);
  EXPECT_EQ(got.pid, want.pid);
  EXPECT_EQ(got.state, want.state);
  EXPECT_EQ(got.xfer_size, want.xfer_size);
  EXPECT_EQ(got.sessions_served, want.sessions_served);
  for (const char* text :
       {got.client_addr, got.server_addr, got.protocol, got.cmd, got.cwd, got.arg, got.xfer_path}) {
    EXPECT_STREQ(text, "");
  }
}

// ---------------------------------------------------------------------------
// inetd mode: the shared file, slot claims, stale slots

// A child process that runs `fn` and then waits (alive) until Release().
class HeldChild {
 public:
  template <class Fn>
  explicit HeldChild(Fn&& fn) {
    int ready[2], hold[2];
    if (::pipe(ready) != 0 || ::pipe(hold) != 0) std::abort();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(ready[0]);
      ::close(hold[1]);
      int32_t result = -1;
      try {
        result = fn();
      } catch (...) {
      }
      (void)!::write(ready[1], &result, sizeof result);
      char b;
      (void)!::read(hold[0], &b, 1);  // until the parent closes its end
      ::_exit(0);
    }
    ::close(ready[1]);
    ::close(hold[0]);
    hold_ = hold[1];
    if (::read(ready[0], &result_, sizeof result_) != static_cast<ssize_t>(sizeof result_)) {
      result_ = -2;
    }
    ::close(ready[0]);
  }
  ~HeldChild() { Release(); }
  void Release() {
    if (pid_ <= 0) return;
    ::close(hold_);
    int status;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  pid_t pid() const { return pid_; }
  int32_t result() const { return result_; }  // what fn returned

 private:
  pid_t pid_ = -1;
  int hold_ = -1;
  int32_t result_ = -1;
};

// Files in `dir` other than `keep` (temporary names must not be left behind).
std::vector<std::string> OtherFiles(const TempDir& dir, const std::string& keep) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    if (e.path().filename() != keep) out.push_back(e.path().filename().string());
  }
  return out;
}

uint64_t Inode(const std::string& path) {
  struct stat st = {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

TEST(Shared, MissingFileIsCreatedAsInetd) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto sb = Scoreboard::OpenOrCreateShared(path, 5, "Inetd Server");
  ASSERT_TRUE(sb) << sb.error().message();
  EXPECT_TRUE(sb->writable());
  EXPECT_EQ(sb->slot_count(), 5u);
  const HeaderView h = sb->ReadHeader();
  EXPECT_EQ(h.master_pid, 0);
  EXPECT_EQ(h.master_start_ticks, 0u);
  EXPECT_STREQ(h.server_type, "inetd");
  EXPECT_STREQ(h.server_name, "Inetd Server");
  EXPECT_GT(h.start_time_ns, 0);
  EXPECT_TRUE(IsInetd(h));
  EXPECT_FALSE(sb->MasterAlive());
  struct stat st = {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_EQ(static_cast<size_t>(st.st_size), sizeof(Header) + 5 * sizeof(Slot));
  EXPECT_TRUE(OtherFiles(dir, "sb").empty());
  // A tool sees the same file.
  auto tool = Scoreboard::Open(path);
  ASSERT_TRUE(tool) << tool.error().message();
  EXPECT_TRUE(IsInetd(tool->ReadHeader()));
}

TEST(Shared, ValidFileIsUsedAsItIs) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto first = Scoreboard::OpenOrCreateShared(path, 4, "one");
  ASSERT_TRUE(first);
  auto slot = first->ClaimFreeSlot(::getpid());
  ASSERT_TRUE(slot);
  const uint64_t ino = Inode(path);
  auto second = Scoreboard::OpenOrCreateShared(path, 9, "two");  // other arguments: ignored
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(Inode(path), ino);
  EXPECT_EQ(second->slot_count(), 4u);
  EXPECT_STREQ(second->ReadHeader().server_name, "one");
  EXPECT_EQ(second->Read(*slot).owner_pid, ::getpid());
  EXPECT_EQ(second->file_info().ino, ino);
}

TEST(Shared, GarbageAndOldLayoutsAreReplacedAtomically) {
  TempDir dir;
  const std::string path = dir.File("sb");
  std::string old_layout(512 + 2 * 1088, '\0');  // a version-1 file of a dead master
  const uint64_t magic = kMagic;
  const uint32_t v1 = 1;
  std::memcpy(old_layout.data(), &magic, 8);
  std::memcpy(old_layout.data() + 8, &v1, 4);
  for (const std::string& content :
       {std::string(), std::string("garbage\n", 8), std::string(100000, '\xa5'), old_layout}) {
    WriteFile(path, content);
    const uint64_t old_ino = Inode(path);
    auto opened = Scoreboard::Open(path);
    ASSERT_FALSE(opened);  // invalid as it is
    {
      // A reader that mapped the old file keeps its bytes: nothing is
      // truncated in place.
      const int keep = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      ASSERT_GE(keep, 0);
      auto sb = Scoreboard::OpenOrCreateShared(path, 3, "fresh");
      ASSERT_TRUE(sb) << sb.error().message();
      EXPECT_NE(Inode(path), old_ino);
      EXPECT_TRUE(IsInetd(sb->ReadHeader()));
      EXPECT_EQ(sb->slot_count(), 3u);
      struct stat st = {};
      ASSERT_EQ(::fstat(keep, &st), 0);
      EXPECT_EQ(static_cast<size_t>(st.st_size), content.size());
      ::close(keep);
    }
    EXPECT_TRUE(OtherFiles(dir, "sb").empty());
    ASSERT_TRUE(Scoreboard::Open(path));
    ASSERT_EQ(::unlink(path.c_str()), 0);
  }
}

TEST(Shared, Errors) {
  TempDir dir;
  auto missing_dir = Scoreboard::OpenOrCreateShared(dir.File("no/dir/sb"), 2, "x");
  ASSERT_FALSE(missing_dir);
  EXPECT_EQ(missing_dir.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing_dir.error().message().find("no/dir/sb"), std::string::npos);

  auto zero = Scoreboard::OpenOrCreateShared(dir.File("sb"), 0, "x");
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().code(), ErrorCode::kLimit);
  auto huge = Scoreboard::OpenOrCreateShared(dir.File("sb"), kMaxSlots + 1, "x");
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().code(), ErrorCode::kLimit);

  ASSERT_TRUE(Scoreboard::OpenOrCreateShared(dir.File("target"), 2, "x"));
  ASSERT_EQ(::symlink(dir.File("target").c_str(), dir.File("link").c_str()), 0);
  auto link = Scoreboard::OpenOrCreateShared(dir.File("link"), 2, "x");
  ASSERT_FALSE(link);
  EXPECT_EQ(link.error().code(), ErrorCode::kPermission);
  EXPECT_NE(link.error().message().find("symbolic link"), std::string::npos);

  ASSERT_EQ(::mkdir(dir.File("adir").c_str(), 0755), 0);
  auto directory = Scoreboard::OpenOrCreateShared(dir.File("adir"), 2, "x");
  ASSERT_FALSE(directory);
  EXPECT_TRUE(std::filesystem::is_directory(dir.File("adir")));  // not replaced
}

TEST(Shared, InvalidFileHeldByALiveMasterIsLeftAlone) {
  TempDir dir;
  const std::string path = dir.File("sb");
  WriteFile(path, std::string(4096, '\0'));  // looks like a master starting up
  HeldChild holder([&] {
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    struct flock fl = {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    return fd >= 0 && ::fcntl(fd, F_SETLK, &fl) == 0 ? 0 : 1;
  });
  ASSERT_EQ(holder.result(), 0);
  const uint64_t ino = Inode(path);
  auto sb = Scoreboard::OpenOrCreateShared(path, 2, "x");
  ASSERT_FALSE(sb);
  EXPECT_EQ(sb.error().code(), ErrorCode::kExists);
  EXPECT_NE(sb.error().message().find("pid " + std::to_string(holder.pid())), std::string::npos)
      << sb.error().message();
  EXPECT_EQ(Inode(path), ino);
  struct stat st = {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 4096);
  holder.Release();
  EXPECT_TRUE(Scoreboard::OpenOrCreateShared(path, 2, "x"));  // now it may be replaced
}

TEST(Shared, LiveStandaloneMasterIsShared) {
  TempDir dir;
  const std::string path = dir.File("sb");
  const std::string path_str = path;
  HeldChild master([&]() -> int32_t {
    static std::optional<Scoreboard> keep;  // lives until _exit
    auto sb = Scoreboard::Create(path_str, 6, "standalone one", 4);
    if (!sb) return 1;
    keep.emplace(std::move(*sb));
    SlotRecord r = SessionRecord(::getpid());
    keep->Publish(0, r);  // the master fills from slot 0 up
    return 0;
  });
  ASSERT_EQ(master.result(), 0);
  auto sb = Scoreboard::OpenOrCreateShared(path, 2, "ignored");
  ASSERT_TRUE(sb) << sb.error().message();
  const HeaderView h = sb->ReadHeader();
  EXPECT_EQ(h.master_pid, master.pid());
  EXPECT_STREQ(h.server_type, "standalone");
  EXPECT_TRUE(sb->MasterAlive());
  auto slot = sb->ClaimFreeSlot(::getpid());
  ASSERT_TRUE(slot);
  EXPECT_EQ(*slot, 5u);                          // from the top
  EXPECT_EQ(sb->Read(0).rec.pid, master.pid());  // the master's slot untouched
  EXPECT_FALSE(sb->Read(0).stale);
}

TEST(Shared, FileOfADeadOrStoppedMasterBecomesInetd) {
  TempDir dir;
  const std::string path = dir.File("sb");
  ASSERT_EQ(InChild([&] {
              auto sb = Scoreboard::Create(path, 3, "crashed", 1);
              if (!sb) return 1;
              sb->Publish(0, SessionRecord(::getpid()));  // a worker entry left behind
              ::_exit(0);
            }),
            0);
  auto sb = Scoreboard::OpenOrCreateShared(path, 3, "x");
  ASSERT_TRUE(sb) << sb.error().message();
  HeaderView h = sb->ReadHeader();
  EXPECT_EQ(h.master_pid, 0);
  EXPECT_STREQ(h.server_type, "inetd");
  EXPECT_STREQ(h.server_name, "crashed");
  EXPECT_TRUE(sb->Read(0).stale);  // its process is dead

  // A master that exited cleanly (master_pid 0, "standalone").
  auto master = Scoreboard::Create(dir.File("sb2"), 2, "clean", 1);
  ASSERT_TRUE(master);
  master->ClearMaster();
  auto shared = Scoreboard::OpenOrCreateShared(dir.File("sb2"), 2, "x");
  ASSERT_TRUE(shared) << shared.error().message();
  EXPECT_TRUE(IsInetd(shared->ReadHeader()));
}

TEST(Shared, ConcurrentCreatorsShareOneFile) {
  TempDir dir;
  const std::string path = dir.File("sb");
  constexpr int kProcs = 8;
  int go[2], out[2];
  ASSERT_EQ(::pipe(go), 0);
  ASSERT_EQ(::pipe(out), 0);
  std::vector<pid_t> kids;
  for (int k = 0; k < kProcs; ++k) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(go[1]);
      char b;
      (void)!::read(go[0], &b, 1);  // start together
      uint64_t msg[2] = {0, 0};
      auto sb = Scoreboard::OpenOrCreateShared(path, 16, "race");
      if (sb) {
        auto slot = sb->ClaimFreeSlot(::getpid());
        msg[0] = sb->file_info().ino;
        msg[1] = slot ? *slot + 1 : 0;
      }
      (void)!::write(out[1], msg, sizeof msg);
      ::_exit(0);  // dies holding the claim
    }
    kids.push_back(pid);
  }
  ::close(go[0]);
  ::close(out[1]);
  ::close(go[1]);  // go
  std::set<uint64_t> inodes;
  std::set<uint64_t> slots;
  uint64_t msg[2];
  int n = 0;
  while (::read(out[0], msg, sizeof msg) == static_cast<ssize_t>(sizeof msg)) {
    ++n;
    inodes.insert(msg[0]);
    EXPECT_NE(msg[1], 0u) << "a process got no slot";
    EXPECT_TRUE(slots.insert(msg[1]).second) << "slot " << msg[1] - 1 << " claimed twice";
  }
  ::close(out[0]);
  for (pid_t p : kids) ::waitpid(p, nullptr, 0);
  EXPECT_EQ(n, kProcs);
  ASSERT_EQ(inodes.size(), 1u) << "the creators ended up on different files";
  EXPECT_EQ(*inodes.begin(), Inode(path));
  EXPECT_TRUE(OtherFiles(dir, "sb").empty());
}

// Several processes race to claim every slot, release them all and race
// again: every slot is won by exactly one of them each round.
TEST(Claim, ConcurrentClaimantsNeverShareASlot) {
  TempDir dir;
  const std::string path = dir.File("sb");
  constexpr uint32_t kSlots = 64;
  constexpr int kProcs = 6;
  constexpr int kRounds = 20;
  auto sb = Scoreboard::OpenOrCreateShared(path, kSlots, "race");
  ASSERT_TRUE(sb);
  for (int round = 0; round < kRounds; ++round) {
    int go[2], out[2], done[2];
    ASSERT_EQ(::pipe(go), 0);
    ASSERT_EQ(::pipe(out), 0);
    ASSERT_EQ(::pipe(done), 0);
    std::vector<pid_t> kids;
    for (int k = 0; k < kProcs; ++k) {
      const pid_t pid = ::fork();
      if (pid == 0) {
        ::close(go[1]);
        ::close(out[0]);
        ::close(done[1]);
        char b;
        (void)!::read(go[0], &b, 1);
        std::vector<uint32_t> mine;
        while (auto slot = sb->ClaimFreeSlot(::getpid())) mine.push_back(*slot);
        // Each claimant checks that its slots still name it.
        uint32_t clobbered = 0;
        for (uint32_t i : mine) {
          if (sb->Read(i).rec.pid != ::getpid() || sb->Read(i).owner_pid != ::getpid()) {
            ++clobbered;
          }
        }
        mine.push_back(0x80000000u | clobbered);
        (void)!::write(out[1], mine.data(), mine.size() * sizeof(uint32_t));
        ::close(out[1]);
        // Stay alive until every claimant is done: a dead claimant's slots
        // may rightly be taken over.
        (void)!::read(done[0], &b, 1);
        ::_exit(0);
      }
      kids.push_back(pid);
    }
    ::close(go[0]);
    ::close(out[1]);
    ::close(done[0]);
    ::close(go[1]);
    std::multiset<uint32_t> won;
    uint32_t v;
    int finished = 0;
    while (::read(out[0], &v, sizeof v) == static_cast<ssize_t>(sizeof v)) {
      if (v & 0x80000000u) {
        ++finished;
        EXPECT_EQ(v & 0x7fffffffu, 0u) << "a claimed slot was overwritten by another claimant";
      } else {
        won.insert(v);
      }
    }
    ::close(out[0]);
    ::close(done[1]);
    for (pid_t p : kids) ::waitpid(p, nullptr, 0);
    EXPECT_EQ(finished, kProcs);
    ASSERT_EQ(won.size(), kSlots) << "round " << round;
    for (uint32_t i = 0; i < kSlots; ++i) ASSERT_EQ(won.count(i), 1u) << "slot " << i;
    // The claimants died without releasing: every slot is stale now, and
    // ReleaseSlot() empties them for the next round.
    auto all = sb->ReadAll();
    ASSERT_EQ(all.size(), kSlots);
    for (const SlotView& s : all) EXPECT_TRUE(s.stale) << "slot " << s.index;
    for (uint32_t i = 0; i < kSlots; ++i) sb->ReleaseSlot(i);
    ASSERT_TRUE(sb->ReadAll().empty());
  }
}

TEST(Claim, ClaimPublishesAndReleaseClears) {
  TempDir dir;
  auto sb = Scoreboard::OpenOrCreateShared(dir.File("sb"), 3, "x");
  ASSERT_TRUE(sb);
  auto a = sb->ClaimFreeSlot(::getpid());
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, 0u);  // no master: the lowest free slot
  SlotView v = sb->Read(*a);
  EXPECT_EQ(v.rec.pid, ::getpid());
  EXPECT_EQ(v.rec.state, SlotState::kStarting);
  EXPECT_EQ(v.owner_pid, ::getpid());
  EXPECT_FALSE(v.stale);
  SlotRecord r = SessionRecord(::getpid());
  sb->Publish(*a, r);
  sb->SetClientKey(*a, 77);
  EXPECT_EQ(sb->CountClientKey(77), 1u);
  EXPECT_EQ(sb->ClaimFreeSlot(::getpid()), std::optional<size_t>(1));
  EXPECT_EQ(sb->ClaimFreeSlot(::getpid()), std::optional<size_t>(2));
  EXPECT_EQ(sb->scan_limit(), 3u);
  EXPECT_EQ(sb->ClaimFreeSlot(::getpid()), std::nullopt);  // full of live claims
  sb->ReleaseSlot(*a);
  v = sb->Read(*a);
  EXPECT_EQ(v.rec.state, SlotState::kEmpty);
  EXPECT_EQ(v.owner_pid, 0);
  EXPECT_EQ(sb->CountClientKey(77), 0u);
  EXPECT_EQ(sb->ClaimFreeSlot(::getpid()), a);

  EXPECT_EQ(sb->ClaimFreeSlot(0), std::nullopt);
  EXPECT_EQ(sb->ClaimFreeSlot(-4), std::nullopt);
  auto ro = Scoreboard::Open(dir.File("sb"));
  ASSERT_TRUE(ro);
  sb->ReleaseSlot(2);
  EXPECT_EQ(ro->ClaimFreeSlot(::getpid()), std::nullopt);  // read-only: no-op
  ro->ReleaseSlot(1);
  EXPECT_EQ(ro->Read(1).owner_pid, ::getpid());
  sb->ReleaseSlot(99);  // out of range: harmless
}

TEST(Claim, DeadClaimantsAreStaleAndReclaimed) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto sb = Scoreboard::OpenOrCreateShared(path, 3, "x");
  ASSERT_TRUE(sb);
  // Slot 0: a session process that crashed holding its slot.
  pid_t dead = 0;
  ASSERT_EQ(InChild([&] {
              auto mine = Scoreboard::OpenOrCreateShared(path, 3, "x");
              if (!mine) return 1;
              auto slot = mine->ClaimFreeSlot(::getpid());
              if (!slot || *slot != 0) return 2;
              SlotRecord r = SessionRecord(::getpid());
              mine->Publish(*slot, r);
              mine->SetClientKey(*slot, 5);
              return 0;
            }),
            0);
  SlotView left = sb->Read(0);
  dead = left.rec.pid;
  EXPECT_EQ(left.owner_pid, dead);
  EXPECT_TRUE(left.stale);
  EXPECT_EQ(sb->CountClientKey(5), 0u);  // a dead session holds no per-host quota
  auto all = sb->ReadAll();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_TRUE(all[0].stale);

  // Slot 1: a live process (this one) whose start time does not match: a
  // reused PID. Slot 2: a live claimant.
  HeldChild live([&] {
    auto mine = Scoreboard::OpenOrCreateShared(path, 3, "x");
    if (!mine) return -1;
    auto slot = mine->ClaimFreeSlot(::getpid());
    return slot ? static_cast<int32_t>(*slot) : -1;
  });
  ASSERT_EQ(live.result(), 1);
  WriteValue<uint64_t>(path, SlotOffset(1) + offsetof(Slot, owner),
                       MakeOwner(::getpid(), ProcessStartTicks(::getpid()) + 1));
  EXPECT_TRUE(sb->Read(1).stale);
  HeldChild live0([&] {
    auto mine = Scoreboard::OpenOrCreateShared(path, 3, "x");
    if (!mine) return -1;
    auto slot = mine->ClaimFreeSlot(::getpid());
    return slot ? static_cast<int32_t>(*slot) : -1;
  });
  ASSERT_EQ(live0.result(), 2);
  EXPECT_FALSE(sb->Read(2).stale);

  // No free slot left: the two stale ones are taken over, the live one never.
  auto r1 = sb->ClaimFreeSlot(::getpid());
  auto r2 = sb->ClaimFreeSlot(::getpid());
  ASSERT_TRUE(r1 && r2);
  EXPECT_EQ(std::set<size_t>({*r1, *r2}), std::set<size_t>({0, 1}));
  EXPECT_EQ(sb->ClaimFreeSlot(::getpid()), std::nullopt);
  const SlotView taken = sb->Read(0);
  EXPECT_EQ(taken.rec.pid, ::getpid());
  EXPECT_STREQ(taken.rec.user, "");  // the dead session's record is gone
  EXPECT_FALSE(taken.stale);
  EXPECT_EQ(sb->Read(2).owner_pid, live0.pid());
}

TEST(Claim, UnclaimedLeftoversOnAMasterlessFile) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto sb = Scoreboard::OpenOrCreateShared(path, 2, "x");
  ASSERT_TRUE(sb);
  pid_t gone = 0;
  {
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    ::waitpid(child, nullptr, 0);
    gone = child;
  }
  sb->Publish(0, SessionRecord(gone));        // unclaimed, dead pid
  sb->Publish(1, SessionRecord(::getpid()));  // unclaimed, live pid
  EXPECT_TRUE(sb->Read(0).stale);
  EXPECT_FALSE(sb->Read(1).stale);
  EXPECT_EQ(sb->ClaimFreeSlot(::getpid()), std::optional<size_t>(0));
  EXPECT_EQ(sb->ClaimFreeSlot(::getpid()), std::nullopt);

  // With a live master the master reaps its own slots: not stale here.
  auto master = Scoreboard::Create(dir.File("m"), 2, "m", 1);
  ASSERT_TRUE(master);
  master->Publish(0, SessionRecord(gone));
  EXPECT_FALSE(master->Read(0).stale);
}

TEST(Create, RefusesAFileWithLiveInetdSessions) {
  TempDir dir;
  const std::string path = dir.File("sb");
  {
    HeldChild session([&] {
      auto sb = Scoreboard::OpenOrCreateShared(path, 4, "x");
      return sb && sb->ClaimFreeSlot(::getpid()) ? 0 : 1;
    });
    ASSERT_EQ(session.result(), 0);
    const uint64_t ino = Inode(path);
    auto master = Scoreboard::Create(path, 4, "standalone", 2);
    ASSERT_FALSE(master);
    EXPECT_EQ(master.error().code(), ErrorCode::kExists);
    EXPECT_NE(master.error().message().find("1 inetd session (pid " +
                                            std::to_string(session.pid()) + ")"),
              std::string::npos)
        << master.error().message();
    auto still = Scoreboard::Open(path);
    ASSERT_TRUE(still);
    EXPECT_EQ(Inode(path), ino);
    EXPECT_EQ(still->ReadAll().size(), 1u);  // not truncated
  }
  // The session ended without releasing: its claim is dead, the file is free.
  auto master = Scoreboard::Create(path, 4, "standalone", 2);
  ASSERT_TRUE(master) << master.error().message();
  EXPECT_STREQ(master->ReadHeader().server_type, "standalone");
  EXPECT_TRUE(master->ReadAll().empty());
}

}  // namespace
}  // namespace poolftpd::sb

// ---- damage: the master's header check and repair, the SIGBUS guard ----

namespace poolftpd::sb {
namespace {

TEST(Damage, PlausibleShutdown) {
  EXPECT_TRUE(PlausibleShutdown(0, 0, 0, ""));
  EXPECT_TRUE(PlausibleShutdown(1700000000, 1699999400, 1699999700, "maintenance\tat noon"));
  EXPECT_TRUE(PlausibleShutdown(1700000000, 1700000000, 1700000000, ""));
  EXPECT_FALSE(PlausibleShutdown(0, 5, 0, ""));  // deny without a shutdown
  EXPECT_FALSE(PlausibleShutdown(0, 0, 0, "x"));
  EXPECT_FALSE(PlausibleShutdown(-1, 0, 0, ""));
  EXPECT_FALSE(PlausibleShutdown(253402300800, 0, 0, ""));         // year 10000
  EXPECT_FALSE(PlausibleShutdown(1700000000, 1700000001, 0, ""));  // deny after shutdown
  EXPECT_FALSE(PlausibleShutdown(1700000000, 0, 1700000001, ""));
  EXPECT_FALSE(PlausibleShutdown(1700000000, 0, 0, "line\r\nbreak"));
  EXPECT_FALSE(PlausibleShutdown(1700000000, 0, 0, "\x7f"));
}

TEST(Damage, IntactHeaderPassesAfterEveryMasterSetter) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto master = Scoreboard::Create(path, 8, "name", 5);
  ASSERT_TRUE(master);
  EXPECT_EQ(master->CheckHeader(0), "");
  master->SetGeneration(7);
  master->SetMaxClients(6);
  master->SetServerName(std::string(200, 'n'));  // truncated like the header field
  master->SetConfigFile("/etc/poolftpd.conf");
  master->SetShutdown(1700000000, 1699999400, 1699999700, "bye");  // ftpshut's right
  SlotRecord rec;
  rec.state = SlotState::kReady;
  master->Publish(3, rec);
  EXPECT_EQ(master->CheckHeader(4), "");
  // The floor is what the master handed out: a mark below it hides slots.
  EXPECT_NE(master->CheckHeader(5).find("slot_hwm"), std::string::npos);
  // Not the master: nothing to compare with.
  auto tool = Scoreboard::Open(path, true);
  ASSERT_TRUE(tool);
  EXPECT_EQ(tool->CheckHeader(0), "");
}

TEST(Damage, EachFieldIsNamedAndRepairedFromTheMastersCopy) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto master = Scoreboard::Create(path, 8, "name", 5);
  ASSERT_TRUE(master);
  master->SetGeneration(3);
  master->SetConfigFile("/c.conf");
  SlotRecord rec;
  rec.state = SlotState::kReady;
  master->Publish(1, rec);
  const HeaderView before = master->ReadHeader();
  struct Case {
    off_t off;
    uint64_t value;
    size_t size;
    const char* named;
  } cases[] = {
      {offsetof(Header, magic), 0x4141414141414141ULL, 8, "magic"},
      {offsetof(Header, generation), 77, 4, "generation 77 (expected 3)"},
      {offsetof(Header, slot_count), 1000, 4, "slot count 1000 (expected 8)"},
      {offsetof(Header, master_pid), 1, 4, "master pid 1"},
      {offsetof(Header, slot_hwm), 0xffffffff, 4, "slot_hwm"},
      {offsetof(Header, shutdown_time), 0x7fffffffffffffffULL, 8, "implausible shutdown"},
      {offsetof(Header, name_seq), 5, 4, "name seqlock left odd"},
      {offsetof(Header, server_name), 0x4141414141414141ULL, 8, "server name"},
      {offsetof(Header, reserved), 1, 8, "reserved"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.named);
    if (c.size == 8) WriteValue<uint64_t>(path, c.off, c.value);
    else
      WriteValue<uint32_t>(path, c.off, static_cast<uint32_t>(c.value));
    const std::string damage = master->CheckHeader(2);
    EXPECT_NE(damage.find(c.named), std::string::npos) << damage;
    master->RepairHeader(2);
    EXPECT_EQ(master->CheckHeader(2), "");
    auto tool = Scoreboard::Open(path);
    ASSERT_TRUE(tool) << tool.error().message();
    const HeaderView h = tool->ReadHeader();
    EXPECT_EQ(h.generation, 3u);
    EXPECT_EQ(h.slot_count, 8u);
    EXPECT_EQ(h.master_pid, before.master_pid);
    EXPECT_STREQ(h.server_name, "name");
    EXPECT_STREQ(h.config_file, "/c.conf");
    EXPECT_TRUE(tool->MasterAlive());
    EXPECT_GE(tool->scan_limit(), 2u);
  }
}

TEST(Damage, RandomBytesOverTheWholeHeaderAreRepaired) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto master = Scoreboard::Create(path, 4, "name", 2);
  ASSERT_TRUE(master);
  master->SetShutdown(1700000000, 1699999400, 1699999700, "kept");
  master->CountSession();
  std::string junk(sizeof(Header), '\0');
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (char& ch : junk) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    ch = static_cast<char>(x);
  }
  WriteAt(path, 0, junk.data(), junk.size());
  // Garbage is never read as an order: no shutdown, whatever the bytes say.
  EXPECT_EQ(master->ReadHeader().shutdown_time, 0);
  EXPECT_NE(master->CheckHeader(0), "");
  master->RepairHeader(0);
  EXPECT_EQ(master->CheckHeader(0), "");
  auto tool = Scoreboard::Open(path);
  ASSERT_TRUE(tool) << tool.error().message();
  EXPECT_EQ(tool->ReadHeader().total_sessions, 0u);  // counters were garbage too
  EXPECT_EQ(tool->ReadHeader().shutdown_time, 0);
}

TEST(Damage, PlausibleShutdownSurvivesARepair) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto master = Scoreboard::Create(path, 4, "name", 2);
  ASSERT_TRUE(master);
  master->SetShutdown(1700000000, 1699999400, 1699999700, "kept");
  WriteValue<uint32_t>(path, offsetof(Header, generation), 99);
  master->RepairHeader(0);
  EXPECT_EQ(master->ReadHeader().shutdown_time, 1700000000);
  EXPECT_STREQ(master->ReadHeader().shutdown_msg, "kept");
}

// The guard is process-wide: every case runs in its own child.
TEST(TruncationGuard, MasterRestoresTheSizeAndKeepsRunning) {
  TempDir dir;
  const std::string path = dir.File("sb");
  EXPECT_EQ(
      InChild([&] {
        auto master = Scoreboard::Create(path, 4, "name", 2);
        if (!master) return 1;
        master->GuardTruncation(TruncationPolicy::kRestore);
        master->SetGeneration(5);
        if (::truncate(path.c_str(), 0) != 0) return 2;
        // Would be SIGBUS: the handler puts the size back.
        if (master->ReadHeader().generation != 0) return 3;
        if (TakeTruncationEvents().restored == 0) return 4;
        struct stat st;
        if (::stat(path.c_str(), &st) != 0 ||
            st.st_size != static_cast<off_t>(sizeof(Header) + 4 * sizeof(Slot)))
          return 5;
        if (master->CheckHeader(0).find("magic") == std::string::npos) return 6;
        master->RepairHeader(0);
        auto tool = Scoreboard::Open(path);
        if (!tool || tool->ReadHeader().generation != 5) return 7;
        // The periodic check finds a shrink nobody touched yet.
        if (::truncate(path.c_str(), 100) != 0) return 8;
        const Scoreboard::SizeCheck sc = master->RestoreSize();
        if (!sc.truncated || sc.seen_size != 100 || sc.restore_errno != 0) return 9;
        if (::stat(path.c_str(), &st) != 0 || st.st_size != static_cast<off_t>(sc.mapped_size))
          return 10;
        return MappingDetached() ? 11 : 0;
      }),
      0);
}

TEST(TruncationGuard, ChildOfTheMasterWaitsForTheRepair) {
  TempDir dir;
  const std::string path = dir.File("sb");
  EXPECT_EQ(InChild([&] {
              auto master = Scoreboard::Create(path, 4, "name", 2);
              if (!master) return 1;
              master->GuardTruncation(TruncationPolicy::kRestore);
              if (::truncate(path.c_str(), 0) != 0) return 2;
              // A worker: it must not ftruncate (the fd is not its own) but
              // wait until the master has put the size back.
              const pid_t worker = ::fork();
              if (worker == 0) {
                SlotRecord rec;
                rec.pid = ::getpid();
                rec.state = SlotState::kReady;
                master->Publish(2, rec);
                ::_exit(MappingDetached() ? 1 : 0);
              }
              ::usleep(200 * 1000);
              struct stat st;
              if (::stat(path.c_str(), &st) != 0 || st.st_size != 0)
                return 3;  // the worker did not restore it
              if (!master->RestoreSize().truncated) return 4;
              int status = 0;
              if (::waitpid(worker, &status, 0) != worker) return 5;
              if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 6;
              return master->Read(2).rec.state == SlotState::kReady ? 0 : 7;
            }),
            0);
}

TEST(TruncationGuard, WithoutARepairTheWaiterDetachesThePageAndGoesOn) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto master = Scoreboard::Create(path, 4, "name", 2);
  ASSERT_TRUE(master);
  EXPECT_EQ(InChild([&] {
              auto session = Scoreboard::Open(path, true);  // an inetd session: no master fd
              if (!session) return 2;
              session->GuardTruncation(TruncationPolicy::kWait);
              if (::truncate(path.c_str(), 0) != 0) return 3;
              SlotRecord rec;
              rec.state = SlotState::kReady;
              session->Publish(1, rec);  // waits (5 s), then private pages
              if (!MappingDetached()) return 5;
              return session->PeekState(1) == SlotState::kReady ? 0 : 6;
            }),
            0);
}

TEST(TruncationGuard, ToolExitsWithAMessageInsteadOfSigbus) {
  TempDir dir;
  const std::string path = dir.File("sb");
  auto master = Scoreboard::Create(path, 4, "name", 2);
  ASSERT_TRUE(master);
  EXPECT_EQ(InChild([&] {
              auto tool = Scoreboard::Open(path);
              if (!tool) return 2;
              tool->GuardTruncation(TruncationPolicy::kExit);
              if (::truncate(path.c_str(), 0) != 0) return 3;
              (void)tool->ReadHeader();  // _exit(1) in the handler
              return 4;
            }),
            1);
}

TEST(TruncationGuard, OtherFaultsKeepTheirDefaultAction) {
  TempDir dir;
  const std::string path = dir.File("sb");
  const std::string other = dir.File("other");
  WriteFile(other, std::string(8192, 'x'));
  EXPECT_EQ(InChild([&] {
              auto master = Scoreboard::Create(path, 4, "name", 2);
              if (!master) return 1;
              master->GuardTruncation(TruncationPolicy::kRestore);
              const int fd = ::open(other.c_str(), O_RDWR);
              void* p = ::mmap(nullptr, 8192, PROT_READ, MAP_SHARED, fd, 0);
              if (p == MAP_FAILED) return 2;
              if (::ftruncate(fd, 0) != 0) return 3;
              volatile const char* c = static_cast<const char*>(p);
              return static_cast<int>(c[100]);  // SIGBUS, not ours
            }),
            128 + SIGBUS);
  // And one sent with kill() is not a fault at all.
  EXPECT_EQ(InChild([&] {
              auto master = Scoreboard::Create(path, 4, "name", 2);
              if (!master) return 1;
              master->GuardTruncation(TruncationPolicy::kRestore);
              ::raise(SIGBUS);
              return 2;
            }),
            128 + SIGBUS);
}

}  // namespace
}  // namespace poolftpd::sb
