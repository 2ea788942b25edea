// The scoreboard library: file creation and locking (master), the shared
// inetd-mode file and slot claims (inetd sessions), mapping and validation
// (tools), the per-slot seqlock (writers and readers). See
// scoreboard/FORMAT.md for the layout and the locking rules.
#include "poolftpd/scoreboard/scoreboard.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/file_mapping.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <new>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "poolftpd/scoreboard/layout.h"
#include "poolftpd/util/unique_fd.h"

namespace poolftpd::sb {

namespace bip = boost::interprocess;

namespace {

// A reader gives up on a slot and reports it as "updating" when the writer
// holds its seqlock longer than kStuckWriterWait: a live writer holds it for
// well under a microsecond, so the wait only runs out when the writer died
// mid-update (or was preempted inside it for a whole time slice). The bound
// is time, not a count of sched_yield calls: on a loaded machine every yield
// hands the CPU away for a slice, and 1000 of them made one read of a stuck
// slot take seconds (found by the scoreboard fuzz target, which timed out
// on a slot whose counter stayed odd while eight fuzzers shared two cores).
constexpr int kSpinsBeforeYield = 64;
constexpr auto kStuckWriterWait = std::chrono::milliseconds(2);

// Spins, then yields, until the deadline: `while (wait.Again()) ...`.
class StuckWriterWait {
 public:
  bool Again() {
    if (spins_ < kSpinsBeforeYield) {
      ++spins_;
      return true;
    }
    const auto now = std::chrono::steady_clock::now();
    if (spins_ == kSpinsBeforeYield) {
      ++spins_;
      deadline_ = now + kStuckWriterWait;
    } else if (now >= deadline_) {
      return false;
    }
    ::sched_yield();
    return true;
  }

 private:
  int spins_ = 0;
  std::chrono::steady_clock::time_point deadline_{};
};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

size_t FileSizeFor(uint32_t slot_count) {
  return sizeof(Header) + static_cast<size_t>(slot_count) * sizeof(Slot);
}

std::string ToString(int64_t v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  return std::string(buf, end);
}

// mapped_region over an fd we opened ourselves: file_mapping can neither
// create a file nor open it with O_CLOEXEC, and a second fd on the file
// would cost the master its lock when closed (see FORMAT.md, "Locking").
class FdMappable {
 public:
  FdMappable(int fd, bip::mode_t mode) : fd_(fd), mode_(mode) {}
  bip::mapping_handle_t get_mapping_handle() const {
    bip::mapping_handle_t h;
    h.handle = fd_;
    h.is_xsi = false;
    return h;
  }
  bip::mode_t get_mode() const { return mode_; }

 private:
  int fd_;
  bip::mode_t mode_;
};

// --- process-wide record of the scoreboard files this process has locked --
// fcntl locks belong to the process and are dropped when it closes ANY fd on
// the file. So while this process holds the master lock on a file, every
// other fd it opens on that file (an Open() in the same process, a racing
// Create) is parked here instead of closed, and closed with the lock.
struct HeldLock {
  dev_t dev = 0;
  ino_t ino = 0;
  pid_t owner = 0;
  std::vector<UniqueFd> parked_fds;
  std::vector<bip::file_mapping> parked_files;
};

std::mutex& RegistryMutex() {
  static std::mutex mu;
  return mu;
}
std::vector<HeldLock>& Registry() {
  static std::vector<HeldLock> held;
  return held;
}
// Requires RegistryMutex(). Entries inherited from a parent across fork()
// have another owner and do not count: the child holds no lock.
HeldLock* FindHeld(dev_t dev, ino_t ino) {
  const pid_t self = ::getpid();
  for (HeldLock& h : Registry()) {
    if (h.dev == dev && h.ino == ino && h.owner == self) return &h;
  }
  return nullptr;
}
bool HeldByThisProcess(dev_t dev, ino_t ino) {
  std::lock_guard<std::mutex> g(RegistryMutex());
  return FindHeld(dev, ino) != nullptr;
}

// /proc/PID/stat: whether the process exists, is a zombie, and its start
// time (field 22, clock ticks since boot).
struct ProcStat {
  bool exists = false;
  bool readable = false;
  bool zombie = false;
  uint64_t start_ticks = 0;
};

ProcStat ReadProcStat(int pid) {
  ProcStat st;
  if (pid <= 0) return st;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) {
    // hidepid=1/2 hides other users' processes: fall back to kill(0).
    st.exists = ::kill(pid, 0) == 0 || errno == EPERM;
    return st;
  }
  char buf[1024];
  size_t len = 0;
  while (len < sizeof buf) {
    const ssize_t n = ::read(fd.get(), buf + len, sizeof buf - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += static_cast<size_t>(n);
  }
  std::string_view text(buf, len);
  // The command name (field 2) may hold spaces and ')': skip to the last ')'.
  const size_t close = text.rfind(')');
  if (close == std::string_view::npos) return st;
  st.exists = true;
  text.remove_prefix(close + 1);
  // Fields after ")": 3 (state) is token 0, so 22 (starttime) is token 19.
  int token = 0;
  while (!text.empty()) {
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    size_t end = text.find(' ');
    if (end == std::string_view::npos) end = text.size();
    const std::string_view field = text.substr(0, end);
    if (token == 0) st.zombie = field == "Z" || field == "X" || field == "x";
    if (token == 19) {
      uint64_t v = 0;
      auto [p, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
      if (ec == std::errc{} && p == field.data() + field.size()) {
        st.start_ticks = v;
        st.readable = true;
      }
      break;
    }
    text.remove_prefix(end);
    ++token;
  }
  return st;
}

// Whether the process a slot's owner word names is gone: no such PID, a
// zombie, or a PID now used by a process that started at another time.
// With an unknown start time (0, or /proc hidden) only the PID counts.
bool OwnerDead(uint64_t owner) {
  const int32_t pid = OwnerPid(owner);
  if (pid <= 0) return true;
  const ProcStat st = ReadProcStat(pid);
  if (!st.exists || st.zombie) return true;
  const uint64_t ticks = OwnerTicks(owner);
  return ticks != 0 && st.readable && (st.start_ticks & kOwnerTicksMask) != ticks;
}

// Whether `pid` names a live (non-zombie) process.
bool PidAlive(int32_t pid) {
  if (pid <= 0) return false;
  const ProcStat st = ReadProcStat(pid);
  return st.exists && !st.zombie;
}

// --- seqlock, writer side (one writer per slot) ---------------------------
// Raises the header's slot high-water mark to `want` (CAS to the maximum;
// concurrent writers of other slots may raise it too). One relaxed load
// when the slot is already below the mark, as it is after its first write.
void RaiseSlotHwm(Header& h, uint32_t want) {
  uint32_t cur = h.slot_hwm.load(std::memory_order_relaxed);
  while (cur < want && !h.slot_hwm.compare_exchange_weak(cur, want, std::memory_order_acq_rel,
                                                         std::memory_order_relaxed)) {
  }
}

// The seqlock's fences. A ThreadSanitizer build has none: its guarded words
// are release stores and acquire loads instead (layout.h, kGuardedStore).
inline void GuardedWriteFence() {
#if POOLFTPD_SEQLOCK_FENCES
  std::atomic_thread_fence(std::memory_order_release);
#endif
}
inline void GuardedReadFence() {
#if POOLFTPD_SEQLOCK_FENCES
  std::atomic_thread_fence(std::memory_order_acquire);
#endif
}

// A dead writer may have left `seq` odd; the next writer (the master at reap)
// keeps it odd and ends on the following even value. The mark covers the
// slot before its first store: a reader that scans below the mark it loaded
// misses only slots written after it started.
uint32_t SlotWriteBegin(Header& h, Slot& s, size_t index) {
  RaiseSlotHwm(h, static_cast<uint32_t>(index + 1));
  const uint32_t odd = s.seq.load(std::memory_order_relaxed) | 1u;
  s.seq.store(odd, std::memory_order_relaxed);
  GuardedWriteFence();
  return odd;
}
void SlotWriteEnd(Slot& s, uint32_t odd) { s.seq.store(odd + 1, std::memory_order_release); }

// Header text fields may have two writers (the master at HUP, ftpshut), so
// the header seqlocks are taken with a CAS; a writer that died holding one is
// overtaken after a bounded wait rather than waited for.
uint32_t HeaderWriteBegin(std::atomic<uint32_t>& seq) {
  for (StuckWriterWait wait; wait.Again();) {
    uint32_t s = seq.load(std::memory_order_relaxed);
    if ((s & 1u) == 0 && seq.compare_exchange_weak(s, s + 1, std::memory_order_relaxed)) {
      GuardedWriteFence();
      return s + 1;
    }
  }
  const uint32_t odd = seq.load(std::memory_order_relaxed) | 1u;
  seq.store(odd, std::memory_order_relaxed);
  GuardedWriteFence();
  return odd;
}
void HeaderWriteEnd(std::atomic<uint32_t>& seq, uint32_t odd) {
  seq.store(odd + 1, std::memory_order_release);
}

// --- seqlock, reader side -------------------------------------------------
// Runs `copy` until it ran between two equal even values of `seq`. Returns
// false (after running `copy` once more, unsynchronised) when the retries run
// out; the caller validates the copy either way.
template <class Copy>
bool SeqRead(const std::atomic<uint32_t>& seq, Copy&& copy) {
  for (StuckWriterWait wait; wait.Again();) {
    const uint32_t s0 = seq.load(std::memory_order_acquire);
    if (s0 & 1u) continue;
    copy();
    GuardedReadFence();
    if (seq.load(std::memory_order_relaxed) == s0) return true;
  }
  copy();
  return false;
}

// The shutdown state ftpshut publishes, copied under its seqlock; false when
// the copy is not consistent (the counter stayed odd or kept changing).
bool ReadShutdownState(const Header& h, int64_t* shutdown, int64_t* deny, int64_t* disconnect,
                       char (&msg)[kShutdownMsgLen]) {
  return SeqRead(h.shutdown_seq, [&] {
    *shutdown = h.shutdown_time.load(kGuardedLoad);
    *deny = h.deny_time.load(kGuardedLoad);
    *disconnect = h.disconnect_time.load(kGuardedLoad);
    LoadText(h.shutdown_msg, msg);
  });
}

Error SystemError(int err, std::string_view call, const std::string& path) {
  return Error::FromErrno(err, call, path);
}

Error FromBoost(const bip::interprocess_exception& e, const std::string& path) {
  const int err = e.get_native_error();
  if (err == ENOENT) return Error(ErrorCode::kNotFound, "no scoreboard at " + path, err);
  if (err == EACCES || err == EPERM) {
    return Error(ErrorCode::kPermission, "cannot open scoreboard " + path, err);
  }
  return Error(ErrorCode::kSystem, "scoreboard " + path + ": " + e.what(), err);
}

}  // namespace

// --------------------------------------------------------------------------

const char* SlotStateName(SlotState state) {
  switch (state) {
    case SlotState::kEmpty:
      return "empty";
    case SlotState::kStarting:
      return "starting";
    case SlotState::kReady:
      return "ready";
    case SlotState::kConnected:
      return "connected";
    case SlotState::kLoggedIn:
      return "logged_in";
    case SlotState::kIdle:
      return "idle";
    case SlotState::kTransferring:
      return "transferring";
    case SlotState::kClosing:
      return "closing";
  }
  return "invalid";
}

const char* XferDirName(XferDir dir) {
  switch (dir) {
    case XferDir::kNone:
      return "none";
    case XferDir::kRetr:
      return "download";
    case XferDir::kStor:
      return "upload";
    case XferDir::kList:
      return "list";
  }
  return "invalid";
}

uint64_t ProcessStartTicks(int pid) {
  const ProcStat st = ReadProcStat(pid);
  return st.readable ? st.start_ticks : 0;
}

// --------------------------------------------------------------------------

struct Scoreboard::Impl {
  std::string path;
  UniqueFd fd;             // Create(): the only fd this object has on the file
  bip::file_mapping file;  // Open(): the tool's handle on the file
  bip::mapped_region region;
  Header* header = nullptr;
  Slot* slots = nullptr;
  uint32_t slot_count = 0;
  bool writable = false;
  bool master = false;  // Create()d: holds the lock (in owner_pid only)
  pid_t owner_pid = 0;
  dev_t dev = 0;
  ino_t ino = 0;
  FileInfo file_info;
  size_t mapped_size = 0;
  // Create()d object: what the header must say, in the master's own memory
  // (CheckHeader/RepairHeader). Nothing read from the file ever feeds it.
  struct Expected {
    int32_t master_pid = 0;
    uint64_t master_start_ticks = 0;
    int64_t start_time_ns = 0;
    uint32_t generation = 0;
    uint32_t max_clients = 0;
    char server_name[kServerNameLen] = {};
    char config_file[kConfigFileLen] = {};
  } expected;

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl();

  Slot* SlotAt(size_t index) const { return index < slot_count ? &slots[index] : nullptr; }
};

Scoreboard::Impl::~Impl() {
  region = bip::mapped_region();  // munmap first; closing fds does not affect it
  try {
    // Fork-safe: only the creating process owns the lock and the registry entry.
    std::lock_guard<std::mutex> g(RegistryMutex());
    auto& held = Registry();
    if (master && owner_pid == ::getpid()) {
      // Closing our fd (after this body) releases the lock; parked fds go too.
      held.erase(std::remove_if(held.begin(), held.end(),
                                [&](const HeldLock& h) {
                                  return h.dev == dev && h.ino == ino && h.owner == owner_pid;
                                }),
                 held.end());
      return;
    }
    if (HeldLock* h = FindHeld(dev, ino)) {
      if (fd) h->parked_fds.push_back(std::move(fd));
      if (file.get_mapping_handle().handle >= 0) h->parked_files.push_back(std::move(file));
    }
  } catch (...) {
    // Out of memory while parking: the fd closes with this object. Nothing
    // may escape a destructor.
  }
}

Scoreboard::Scoreboard(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Scoreboard::~Scoreboard() = default;
Scoreboard::Scoreboard(Scoreboard&&) noexcept = default;
Scoreboard& Scoreboard::operator=(Scoreboard&&) noexcept = default;

// --------------------------------------------------------------------------
// Create (master)

namespace {

// PID of the master that holds the lock on `fd`'s file: the one its header
// names when the header is valid, else the lock owner fcntl reports.
int32_t LockHolderPid(int fd) {
  alignas(64) unsigned char buf[sizeof(Header)] = {};
  if (::pread(fd, buf, sizeof buf, 0) == static_cast<ssize_t>(sizeof buf)) {
    uint64_t magic = 0;
    int32_t pid = 0;
    std::memcpy(&magic, buf + offsetof(Header, magic), sizeof magic);
    std::memcpy(&pid, buf + offsetof(Header, master_pid), sizeof pid);
    if (magic == kMagic && pid > 0) return pid;
  }
  struct flock fl = {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (::fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) return fl.l_pid;
  return 0;
}

// Live inetd claimants in the scoreboard file behind `fd` (read with pread,
// nothing mapped): how many, and the PID of one. 0 when the file is not a
// valid scoreboard of this layout.
size_t LiveClaims(int fd, int32_t* some_pid) {
  alignas(64) unsigned char buf[sizeof(Header)] = {};
  if (::pread(fd, buf, sizeof buf, 0) != static_cast<ssize_t>(sizeof buf)) return 0;
  auto field = [&](size_t off, auto v) {
    std::memcpy(&v, buf + off, sizeof v);
    return v;
  };
  struct stat st = {};
  const uint32_t count = field(offsetof(Header, slot_count), uint32_t{0});
  if (field(offsetof(Header, magic), uint64_t{0}) != kMagic ||
      field(offsetof(Header, layout_version), uint32_t{0}) != kLayoutVersion ||
      field(offsetof(Header, header_size), uint32_t{0}) != sizeof(Header) ||
      field(offsetof(Header, slot_size), uint32_t{0}) != sizeof(Slot) || count == 0 ||
      count > kMaxSlots || ::fstat(fd, &st) != 0 ||
      static_cast<uint64_t>(st.st_size) != FileSizeFor(count)) {
    return 0;
  }
  size_t live = 0;
  for (uint32_t i = 0; i < count; ++i) {
    uint64_t owner = 0;
    const off_t off =
        static_cast<off_t>(sizeof(Header) + size_t{i} * sizeof(Slot) + offsetof(Slot, owner));
    if (::pread(fd, &owner, sizeof owner, off) != static_cast<ssize_t>(sizeof owner)) break;
    if (owner != 0 && !OwnerDead(owner)) {
      ++live;
      *some_pid = OwnerPid(owner);
    }
  }
  return live;
}

Error InUse(const std::string& path, int32_t pid) {
  std::string msg = "scoreboard " + path + " is in use by a running poolftpd master";
  if (pid > 0) msg += " (pid " + ToString(pid) + ")";
  return Error(ErrorCode::kExists, msg);
}

}  // namespace

Result<Scoreboard> Scoreboard::Create(const std::string& path, uint32_t slot_count,
                                      const std::string& server_name, uint32_t max_clients) {
  try {
    if (path.empty()) return Error(ErrorCode::kInvalid, "ScoreboardFile is empty");
    if (slot_count == 0 || slot_count > kMaxSlots) {
      return Error(ErrorCode::kLimit, "scoreboard " + path + ": " + ToString(slot_count) +
                                          " slots (must be 1.." + ToString(kMaxSlots) + ")");
    }
    struct stat st = {};
    // Refuse before opening: closing even a failed second fd would drop the
    // lock this process already holds on the file.
    if (::stat(path.c_str(), &st) == 0 && HeldByThisProcess(st.st_dev, st.st_ino)) {
      return InUse(path, ::getpid());
    }

    // SECURITY (S7): the directory may be writable by others (a misconfigured
    // ScoreboardFile in /tmp): never follow a planted symlink, and only take
    // over a regular file that we own. Readers validate everything anyway.
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644));
    if (!fd) {
      const int err = errno;
      if (err == ENOENT) {
        return Error(ErrorCode::kNotFound,
                     "cannot create scoreboard " + path + ": its directory does not exist", err);
      }
      if (err == ELOOP) {
        return Error(ErrorCode::kPermission,
                     "refusing scoreboard " + path + ": it is a symbolic link", err);
      }
      if (err == EACCES || err == EPERM || err == EROFS) {
        return Error(ErrorCode::kPermission, "cannot create scoreboard " + path, err);
      }
      return SystemError(err, "open", path);
    }
    if (::fstat(fd.get(), &st) != 0) return SystemError(errno, "fstat", path);
    if (HeldByThisProcess(st.st_dev, st.st_ino)) {
      // Lost a race with another Create in this process: keep the fd open.
      (void)fd.release();
      return InUse(path, ::getpid());
    }
    if (!S_ISREG(st.st_mode)) {
      return Error(ErrorCode::kInvalid, "scoreboard " + path + " is not a regular file");
    }
    if (st.st_uid != ::geteuid()) {
      return Error(ErrorCode::kPermission, "refusing scoreboard " + path + ": owned by uid " +
                                               ToString(st.st_uid) + ", not by this process (uid " +
                                               ToString(::geteuid()) +
                                               "); remove it if it is stale");
    }

    // The lock first: only then may the file be truncated. This is the
    // fcntl(F_SETLK) write lock boost::interprocess::file_lock takes, on our
    // single fd; it is not inherited by fork() and ends with the process.
    struct flock fl = {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (::fcntl(fd.get(), F_SETLK, &fl) != 0) {
      const int err = errno;
      if (err == EAGAIN || err == EACCES) return InUse(path, LockHolderPid(fd.get()));
      return SystemError(err, "fcntl(F_SETLK)", path);
    }

    // inetd sessions hold no lock: a file they still use must not be wiped.
    int32_t claimant = 0;
    if (const size_t live = LiveClaims(fd.get(), &claimant); live > 0) {
      return Error(ErrorCode::kExists, "scoreboard " + path + " is in use by " + ToString(live) +
                                           " inetd session" + (live == 1 ? "" : "s") + " (pid " +
                                           ToString(claimant) + ")");
    }

    // A stale file (dead master) is simply taken over: zero it and size it.
    // ftruncate to 0 first so every byte reads as zero, whatever was there.
    const size_t size = FileSizeFor(slot_count);
    if (::ftruncate(fd.get(), 0) != 0) return SystemError(errno, "ftruncate", path);
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
      return SystemError(errno, "ftruncate", path);
    }
    if (::fchmod(fd.get(), 0644) != 0) return SystemError(errno, "fchmod", path);

    auto impl = std::make_unique<Impl>();
    impl->region =
        bip::mapped_region(FdMappable(fd.get(), bip::read_write), bip::read_write, 0, size);
    void* base = impl->region.get_address();
    impl->header = new (base) Header();
    impl->slots = reinterpret_cast<Slot*>(static_cast<char*>(base) + sizeof(Header));
    // The slots are left as ftruncate made them: all zeros is the empty slot
    // (every field's "none" value), as for readers mapping an existing file.
    // Constructing them would write every page of the file in the master,
    // and each worker forked later would count ~13 MB of shared pages.
    impl->path = path;
    impl->slot_count = slot_count;
    impl->writable = true;
    impl->master = true;
    impl->owner_pid = ::getpid();
    impl->dev = st.st_dev;
    impl->ino = st.st_ino;
    impl->file_info = {static_cast<uint32_t>(st.st_uid), 0100644, static_cast<uint64_t>(st.st_dev),
                       static_cast<uint64_t>(st.st_ino)};

    Header& h = *impl->header;
    const auto relaxed = std::memory_order_relaxed;
    h.layout_version.store(kLayoutVersion, relaxed);
    h.header_size.store(sizeof(Header), relaxed);
    h.slot_size.store(sizeof(Slot), relaxed);
    h.slot_count.store(slot_count, relaxed);
    h.master_pid.store(impl->owner_pid, relaxed);
    h.master_start_ticks.store(ProcessStartTicks(impl->owner_pid), relaxed);
    h.start_time_ns.store(NowNs(), relaxed);
    h.max_clients.store(max_clients, relaxed);
    h.features.store(kFeaturesWritten, relaxed);
    StoreText(h.server_type, "standalone");
    StoreText(h.server_name, server_name);
    impl->mapped_size = size;
    Impl::Expected& e = impl->expected;
    e.master_pid = h.master_pid.load(relaxed);
    e.master_start_ticks = h.master_start_ticks.load(relaxed);
    e.start_time_ns = h.start_time_ns.load(relaxed);
    e.max_clients = max_clients;
    SetText(e.server_name, server_name);
    // Magic last: a reader that sees it sees a complete header.
    h.magic.store(kMagic, std::memory_order_release);

    impl->fd = std::move(fd);
    {
      std::lock_guard<std::mutex> g(RegistryMutex());
      HeldLock held;
      held.dev = impl->dev;
      held.ino = impl->ino;
      held.owner = impl->owner_pid;
      Registry().push_back(std::move(held));
    }
    return Scoreboard(std::move(impl));
  } catch (const bip::interprocess_exception& e) {
    return FromBoost(e, path);
  } catch (const std::bad_alloc&) {
    return Error(ErrorCode::kSystem, "scoreboard " + path + ": out of memory", ENOMEM);
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInternal, "scoreboard " + path + ": " + e.what());
  }
}

// --------------------------------------------------------------------------
// Open (tools) and the shared inetd-mode file

// Validates the file behind `fd` (already in impl->file or impl->fd) and maps
// it. Shared by Open() and OpenOrCreateShared().
Result<Scoreboard> Scoreboard::MapExisting(std::unique_ptr<Impl> impl, int fd,
                                           const std::string& path, bool writable) {
  const bip::mode_t mode = writable ? bip::read_write : bip::read_only;
  struct stat st = {};
  if (::fstat(fd, &st) != 0) return SystemError(errno, "fstat", path);
  impl->dev = st.st_dev;
  impl->ino = st.st_ino;
  impl->path = path;
  impl->file_info = {static_cast<uint32_t>(st.st_uid), static_cast<uint32_t>(st.st_mode),
                     static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
  if (!S_ISREG(st.st_mode)) {
    return Error(ErrorCode::kInvalid, path + " is not a regular file, not a scoreboard");
  }
  const auto file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < sizeof(Header)) {
    return Error(ErrorCode::kInvalid, path + " is truncated or not a poolftpd scoreboard: " +
                                          ToString(static_cast<int64_t>(file_size)) +
                                          " bytes, shorter than the " + ToString(sizeof(Header)) +
                                          "-byte header");
  }

  impl->region = bip::mapped_region(FdMappable(fd, mode), mode, 0, static_cast<size_t>(file_size));
  impl->mapped_size = static_cast<size_t>(file_size);
  // Shrunk between the fstat above and the mapping: touching the header
  // would raise SIGBUS. (A shrink after this check is the SIGBUS guard's.)
  if (::fstat(fd, &st) != 0) return SystemError(errno, "fstat", path);
  if (static_cast<uint64_t>(st.st_size) < file_size) {
    return Error(ErrorCode::kInvalid, path + " was truncated while being opened (" +
                                          ToString(static_cast<int64_t>(st.st_size)) +
                                          " bytes now); try again");
  }
  void* base = impl->region.get_address();
  impl->header = std::launder(reinterpret_cast<Header*>(base));
  const Header& h = *impl->header;

  // SECURITY (S7): the file may be stale, truncated or written by anyone who
  // can write its directory; check every number before using it.
  const uint64_t magic = h.magic.load(std::memory_order_acquire);
  if (magic != kMagic) {
    if (magic == 0) {
      return Error(ErrorCode::kInvalid,
                   path +
                       " has no scoreboard header (a master may be starting up, "
                       "or the file is not a poolftpd scoreboard)");
    }
    char hex[24];
    std::snprintf(hex, sizeof hex, "0x%016" PRIx64, magic);
    return Error(ErrorCode::kInvalid,
                 path + " is not a poolftpd scoreboard (bad magic " + hex + ")");
  }
  const uint32_t version = h.layout_version.load(std::memory_order_relaxed);
  if (version != kLayoutVersion) {
    return Error(ErrorCode::kVersion,
                 path + " has scoreboard layout version " + ToString(version) +
                     ", but this program reads version " + ToString(kLayoutVersion) +
                     " (use the tools of the same poolftpd release as the server)");
  }
  const uint32_t header_size = h.header_size.load(std::memory_order_relaxed);
  const uint32_t slot_size = h.slot_size.load(std::memory_order_relaxed);
  if (header_size != sizeof(Header) || slot_size != sizeof(Slot)) {
    return Error(ErrorCode::kInvalid, path + " is corrupt: header/slot size " +
                                          ToString(header_size) + "/" + ToString(slot_size) +
                                          ", layout version " + ToString(kLayoutVersion) + " has " +
                                          ToString(sizeof(Header)) + "/" + ToString(sizeof(Slot)));
  }
  const uint32_t count = h.slot_count.load(std::memory_order_relaxed);
  if (count == 0 || count > kMaxSlots) {
    return Error(ErrorCode::kInvalid, path + " is corrupt: slot count " + ToString(count) +
                                          " (must be 1.." + ToString(kMaxSlots) + ")");
  }
  if (FileSizeFor(count) != file_size) {
    return Error(ErrorCode::kInvalid,
                 path + " is corrupt or truncated: " + ToString(static_cast<int64_t>(file_size)) +
                     " bytes, but its header says " + ToString(count) + " slots (" +
                     ToString(FileSizeFor(count)) + " bytes)");
  }
  impl->slots = std::launder(reinterpret_cast<Slot*>(static_cast<char*>(base) + sizeof(Header)));
  impl->slot_count = count;
  impl->writable = writable;
  impl->owner_pid = ::getpid();
  Scoreboard board(std::move(impl));
  // A tool reads every slot below the mark: fault their page tables in with
  // one call rather than one fault per 64 KiB, and nothing above the mark
  // (a 12,000-slot file is 13 MB). Best effort: older kernels lack
  // MADV_POPULATE_READ. Writers (inetd sessions, ftpshut) touch little.
#ifdef MADV_POPULATE_READ
  if (!writable) {
    (void)::madvise(base, FileSizeFor(board.scan_limit()), MADV_POPULATE_READ);
  }
#endif
  return board;
}

Result<Scoreboard> Scoreboard::Open(const std::string& path, bool writable) {
  try {
    if (path.empty()) return Error(ErrorCode::kInvalid, "scoreboard path is empty");
    auto impl = std::make_unique<Impl>();
    impl->file = bip::file_mapping(path.c_str(), writable ? bip::read_write : bip::read_only);
    const int fd = impl->file.get_mapping_handle().handle;
    (void)::fcntl(fd, F_SETFD, FD_CLOEXEC);  // file_mapping opens without O_CLOEXEC
    return MapExisting(std::move(impl), fd, path, writable);
  } catch (const bip::interprocess_exception& e) {
    return FromBoost(e, path);
  } catch (const std::bad_alloc&) {
    return Error(ErrorCode::kSystem, "scoreboard " + path + ": out of memory", ENOMEM);
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInternal, "scoreboard " + path + ": " + e.what());
  }
}

namespace {

// Attempts and pause while a live master holds a file that is not valid yet
// (it truncates, then writes the header within microseconds): ~2 s in all.
constexpr int kSharedAttempts = 100;
constexpr auto kSharedPause = std::chrono::milliseconds(20);

Error OpenError(int err, const std::string& path) {
  if (err == ENOENT) return Error(ErrorCode::kNotFound, "no scoreboard at " + path, err);
  if (err == ELOOP) {
    return Error(ErrorCode::kPermission, "refusing scoreboard " + path + ": it is a symbolic link",
                 err);
  }
  if (err == EACCES || err == EPERM || err == EROFS) {
    return Error(ErrorCode::kPermission, "cannot open scoreboard " + path, err);
  }
  return SystemError(err, "open", path);
}

// The PID of the process holding a conflicting fcntl lock on `fd`'s file
// (a live master), 0 when none.
int32_t FcntlLockHolder(int fd) {
  struct flock fl = {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (::fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) return fl.l_pid > 0 ? fl.l_pid : 1;
  return 0;
}

// Removes a temporary file unless told it was moved into place.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  ~TempFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }
  void Keep() { path_.clear(); }

 private:
  std::string path_;
};

enum class Install { kDone, kRaced };

// Builds a complete inetd-mode scoreboard under a temporary name next to
// `path`, then puts it in place: link() when `path` is missing (fails if
// someone else got there first), else rename() over the invalid file with
// inode (dev, ino) if that is still the one at `path`. kRaced: another
// process changed `path` meanwhile; the caller looks again.
Result<Install> InstallFresh(const std::string& path, uint32_t slot_count,
                             const std::string& server_name, bool replace, dev_t dev, ino_t ino) {
  std::string tmpl = path + ".XXXXXX";
  const int raw = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (raw < 0) {
    const int err = errno;
    if (err == ENOENT) {
      return Error(ErrorCode::kNotFound,
                   "cannot create scoreboard " + path + ": its directory does not exist", err);
    }
    if (err == EACCES || err == EPERM || err == EROFS) {
      return Error(ErrorCode::kPermission, "cannot create scoreboard " + path, err);
    }
    return SystemError(err, "mkostemp", tmpl);
  }
  UniqueFd fd(raw);
  TempFile tmp(tmpl);
  const size_t size = FileSizeFor(slot_count);
  if (::fchmod(fd.get(), 0644) != 0) return SystemError(errno, "fchmod", tmpl);
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
    return SystemError(errno, "ftruncate", tmpl);
  }
  {
    bip::mapped_region region(FdMappable(fd.get(), bip::read_write), bip::read_write, 0, size);
    void* base = region.get_address();
    Header* h = new (base) Header();
    auto* slots = reinterpret_cast<Slot*>(static_cast<char*>(base) + sizeof(Header));
    for (uint32_t i = 0; i < slot_count; ++i) new (&slots[i]) Slot();
    const auto relaxed = std::memory_order_relaxed;
    h->layout_version.store(kLayoutVersion, relaxed);
    h->header_size.store(sizeof(Header), relaxed);
    h->slot_size.store(sizeof(Slot), relaxed);
    h->slot_count.store(slot_count, relaxed);
    h->start_time_ns.store(NowNs(), relaxed);
    h->features.store(kFeaturesWritten, relaxed);
    StoreText(h->server_type, "inetd");
    StoreText(h->server_name, server_name);
    h->magic.store(kMagic, std::memory_order_release);
  }  // unmapped: the page cache holds the bytes every later mapping sees
  if (!replace) {
    if (::link(tmpl.c_str(), path.c_str()) != 0) {
      if (errno == EEXIST) return Install::kRaced;
      return SystemError(errno, "link", path);
    }
    return Install::kDone;  // ~TempFile unlinks the temporary name
  }
  struct stat now = {};
  if (::lstat(path.c_str(), &now) != 0 || now.st_dev != dev || now.st_ino != ino) {
    return Install::kRaced;
  }
  if (::rename(tmpl.c_str(), path.c_str()) != 0) return SystemError(errno, "rename", path);
  tmp.Keep();
  return Install::kDone;
}

}  // namespace

// A master that is gone leaves its (valid) file to the inetd sessions: the
// header then says so, and tools list the sessions instead of calling the
// file stale. Never done while a process holds the master lock.
void Scoreboard::AdoptIfMasterless(int fd) {
  Header& h = *impl_->header;
  int32_t pid = h.master_pid.load(std::memory_order_acquire);
  if (pid != 0) {
    if (MasterAlive() || FcntlLockHolder(fd) != 0) return;  // shared with a live master
    if (!h.master_pid.compare_exchange_strong(pid, 0, std::memory_order_acq_rel)) return;
  } else if (FcntlLockHolder(fd) != 0) {
    return;  // a master is starting on this file
  }
  HeaderView v = ReadHeader();
  if (std::string_view(v.server_type) == "inetd") return;
  const uint32_t odd = HeaderWriteBegin(h.name_seq);
  StoreText(h.server_type, "inetd");
  HeaderWriteEnd(h.name_seq, odd);
}

Result<Scoreboard> Scoreboard::OpenOrCreateShared(const std::string& path, uint32_t slot_count,
                                                  const std::string& server_name) {
  try {
    if (path.empty()) return Error(ErrorCode::kInvalid, "ScoreboardFile is empty");
    if (slot_count == 0 || slot_count > kMaxSlots) {
      return Error(ErrorCode::kLimit, "scoreboard " + path + ": " + ToString(slot_count) +
                                          " slots (must be 1.." + ToString(kMaxSlots) + ")");
    }
    Error last(ErrorCode::kInternal, "scoreboard " + path + ": no attempt made");
    for (int attempt = 0; attempt < kSharedAttempts; ++attempt) {
      // SECURITY (S7): as for Create(): never follow a symlink, and write only
      // into a regular file of our own uid; the contents are validated.
      UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY));
      if (!fd) {
        const int err = errno;
        if (err != ENOENT) return OpenError(err, path);
        auto done = InstallFresh(path, slot_count, server_name, false, 0, 0);
        if (!done) return done.error();
        continue;  // made (or lost the race to) a fresh file: open it
      }
      struct stat st = {};
      if (::fstat(fd.get(), &st) != 0) return SystemError(errno, "fstat", path);
      if (!S_ISREG(st.st_mode)) {
        return Error(ErrorCode::kInvalid, path + " is not a regular file, not a scoreboard");
      }
      if (st.st_uid != ::geteuid()) {
        return Error(ErrorCode::kPermission,
                     "refusing scoreboard " + path + ": owned by uid " + ToString(st.st_uid) +
                         ", not by this process (uid " + ToString(::geteuid()) + ")");
      }
      const int raw_fd = fd.get();
      auto impl = std::make_unique<Impl>();
      impl->fd = std::move(fd);
      auto board = MapExisting(std::move(impl), raw_fd, path, true);
      if (board) {
        board->AdoptIfMasterless(raw_fd);
        return board;
      }
      last = board.error();
      if (last.code() != ErrorCode::kInvalid && last.code() != ErrorCode::kVersion) return last;
      // Garbage or another layout: replace it, unless a live master holds it
      // (then it is being created right now: look again shortly). The fd
      // went with `board`, parked if this process holds the lock (it cannot:
      // the file is invalid).
      UniqueFd probe(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY));
      if (!probe) {
        if (errno == ENOENT) continue;
        return OpenError(errno, path);
      }
      struct stat pst = {};
      if (::fstat(probe.get(), &pst) != 0) return SystemError(errno, "fstat", path);
      if (HeldByThisProcess(pst.st_dev, pst.st_ino)) {
        (void)probe.release();  // closing it would drop our own master lock
        return InUse(path, ::getpid());
      }
      if (const int32_t holder = FcntlLockHolder(probe.get()); holder != 0) {
        std::this_thread::sleep_for(kSharedPause);
        last = Error(ErrorCode::kExists,
                     last.context() + "; held by a running master (pid " + ToString(holder) + ")");
        continue;
      }
      auto done = InstallFresh(path, slot_count, server_name, true, pst.st_dev, pst.st_ino);
      if (!done) return done.error();
    }
    return last;
  } catch (const bip::interprocess_exception& e) {
    return FromBoost(e, path);
  } catch (const std::bad_alloc&) {
    return Error(ErrorCode::kSystem, "scoreboard " + path + ": out of memory", ENOMEM);
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInternal, "scoreboard " + path + ": " + e.what());
  }
}

// --------------------------------------------------------------------------
// Header

bool Scoreboard::MasterAlive() const {
  if (!impl_) return false;
  const Header& h = *impl_->header;
  const int32_t pid = h.master_pid.load(std::memory_order_acquire);
  if (pid <= 0) return false;
  const ProcStat st = ReadProcStat(pid);
  if (!st.exists || st.zombie) return false;
  const uint64_t ticks = h.master_start_ticks.load(std::memory_order_relaxed);
  // Unreadable /proc entry (hidepid) or unknown start time: the PID is all
  // we can check.
  if (!st.readable || ticks == 0) return true;
  return st.start_ticks == ticks;
}

void Scoreboard::SetGeneration(uint32_t generation) {
  if (!Writes()) return;
  if (impl_->master) impl_->expected.generation = generation;
  impl_->header->generation.store(generation, std::memory_order_release);
}

void Scoreboard::SetMaxClients(uint32_t max_clients) {
  if (!Writes()) return;
  if (impl_->master) impl_->expected.max_clients = max_clients;
  impl_->header->max_clients.store(max_clients, std::memory_order_relaxed);
}

void Scoreboard::SetServerName(const std::string& name) {
  if (!Writes()) return;
  if (impl_->master) SetText(impl_->expected.server_name, name);
  Header& h = *impl_->header;
  const uint32_t odd = HeaderWriteBegin(h.name_seq);
  StoreText(h.server_name, name);
  HeaderWriteEnd(h.name_seq, odd);
}

void Scoreboard::SetConfigFile(const std::string& path) {
  if (!Writes()) return;
  if (impl_->master) SetText(impl_->expected.config_file, path);
  Header& h = *impl_->header;
  const uint32_t odd = HeaderWriteBegin(h.name_seq);
  StoreText(h.config_file, path);
  HeaderWriteEnd(h.name_seq, odd);
}

void Scoreboard::SetShutdown(int64_t shutdown_time, int64_t deny_time, int64_t disconnect_time,
                             const std::string& message) {
  if (!Writes()) return;
  Header& h = *impl_->header;
  const uint32_t odd = HeaderWriteBegin(h.shutdown_seq);
  h.shutdown_time.store(shutdown_time, kGuardedStore);
  h.deny_time.store(deny_time, kGuardedStore);
  h.disconnect_time.store(disconnect_time, kGuardedStore);
  StoreText(h.shutdown_msg, message);
  HeaderWriteEnd(h.shutdown_seq, odd);
}

void Scoreboard::ClearMaster() {
  if (!Writes()) return;
  impl_->header->master_pid.store(0, std::memory_order_release);
}

uint32_t Scoreboard::slot_count() const { return impl_ ? impl_->slot_count : 0; }
const std::string& Scoreboard::path() const {
  static const std::string kNone;
  return impl_ ? impl_->path : kNone;
}
bool Scoreboard::writable() const { return impl_ && impl_->writable; }

namespace {
std::atomic<bool (*)()> g_write_gate{nullptr};
}  // namespace

void SetWriteGate(bool (*gate)()) { g_write_gate.store(gate, std::memory_order_relaxed); }

bool Scoreboard::Writes() const {
  if (!impl_ || !impl_->writable) return false;
  bool (*gate)() = g_write_gate.load(std::memory_order_relaxed);
  // The gate may detach this very object (DetachFromFile): ask again after.
  return gate == nullptr || (gate() && impl_->writable);
}
FileInfo Scoreboard::file_info() const { return impl_ ? impl_->file_info : FileInfo{}; }

bool IsInetd(const HeaderView& header) {
  return header.master_pid == 0 && std::string_view(header.server_type) == "inetd";
}

HeaderView Scoreboard::ReadHeader() const {
  HeaderView v;
  if (!impl_) return v;
  const Header& h = *impl_->header;
  const auto relaxed = std::memory_order_relaxed;
  v.layout_version = h.layout_version.load(relaxed);
  v.slot_count = impl_->slot_count;  // the validated value, not a re-read
  v.master_pid = std::max<int32_t>(0, h.master_pid.load(std::memory_order_acquire));
  v.master_start_ticks = h.master_start_ticks.load(relaxed);
  v.start_time_ns = std::max<int64_t>(0, h.start_time_ns.load(relaxed));
  v.generation = h.generation.load(std::memory_order_acquire);
  v.max_clients = h.max_clients.load(relaxed);
  SeqRead(h.name_seq, [&] {
    LoadText(h.server_type, v.server_type);
    LoadText(h.server_name, v.server_name);
    LoadText(h.config_file, v.config_file);
  });
  const bool shutdown_consistent =
      ReadShutdownState(h, &v.shutdown_time, &v.deny_time, &v.disconnect_time, v.shutdown_msg);
  // SECURITY (S7): anyone who can write the file can write these bytes; workers
  // refuse logins and the master cuts sessions on them. Values ftpshut could
  // not have written are damage, not an order: read as "no shutdown".
  if (!shutdown_consistent ||
      !PlausibleShutdown(v.shutdown_time, v.deny_time, v.disconnect_time, v.shutdown_msg)) {
    v.shutdown_time = v.deny_time = v.disconnect_time = 0;
    std::memset(v.shutdown_msg, 0, sizeof v.shutdown_msg);
  }
  v.total_sessions = h.total_sessions.load(relaxed);
  v.total_bytes = h.total_bytes.load(relaxed);
  return v;
}

// --------------------------------------------------------------------------
// Slots: writers

void Scoreboard::Publish(size_t index, const SlotRecord& rec) {
  if (!Writes()) return;
  Slot* s = impl_->SlotAt(index);
  if (!s) return;
  const uint32_t odd = SlotWriteBegin(*impl_->header, *s, index);
  StoreIfChanged(s->pid, rec.pid);
  StoreIfChanged(s->generation, rec.generation);
  StoreIfChanged(s->state, static_cast<uint8_t>(rec.state));
  StoreIfChanged(s->xfer_dir, static_cast<uint8_t>(rec.xfer_dir));
  StoreIfChanged(s->session_start_ns, rec.session_start_ns);
  StoreIfChanged(s->last_activity_ns, rec.last_activity_ns);
  StoreIfChanged(s->xfer_start_ns, rec.xfer_start_ns);
  StoreIfChanged(s->xfer_size, rec.xfer_size);
  StoreIfChanged(s->xfer_offset, rec.xfer_offset);
  StoreIfChanged(s->sessions_served, rec.sessions_served);
  StoreText(s->user, std::string_view(rec.user, strnlen(rec.user, sizeof rec.user)));
  StoreText(s->client_addr,
            std::string_view(rec.client_addr, strnlen(rec.client_addr, sizeof rec.client_addr)));
  StoreText(s->server_addr,
            std::string_view(rec.server_addr, strnlen(rec.server_addr, sizeof rec.server_addr)));
  StoreText(s->protocol,
            std::string_view(rec.protocol, strnlen(rec.protocol, sizeof rec.protocol)));
  StoreText(s->cmd, std::string_view(rec.cmd, strnlen(rec.cmd, sizeof rec.cmd)));
  StoreText(s->cwd, std::string_view(rec.cwd, strnlen(rec.cwd, sizeof rec.cwd)));
  StoreText(s->arg, std::string_view(rec.arg, strnlen(rec.arg, sizeof rec.arg)));
  StoreText(s->xfer_path,
            std::string_view(rec.xfer_path, strnlen(rec.xfer_path, sizeof rec.xfer_path)));
  SlotWriteEnd(*s, odd);
}

void Scoreboard::Clear(size_t index) {
  if (!Writes()) return;
  Slot* s = impl_->SlotAt(index);
  if (!s) return;
  const uint32_t odd = SlotWriteBegin(*impl_->header, *s, index);
  s->pid.store(0, kGuardedStore);
  s->generation.store(0, kGuardedStore);
  s->state.store(static_cast<uint8_t>(SlotState::kEmpty), kGuardedStore);
  s->xfer_dir.store(static_cast<uint8_t>(XferDir::kNone), kGuardedStore);
  s->reserved0.store(0, kGuardedStore);
  s->session_start_ns.store(0, kGuardedStore);
  s->last_activity_ns.store(0, kGuardedStore);
  s->xfer_start_ns.store(0, kGuardedStore);
  s->xfer_size.store(0, kGuardedStore);
  s->xfer_offset.store(0, kGuardedStore);
  s->sessions_served.store(0, kGuardedStore);
  s->bytes_done.store(0, kGuardedStore);
  s->client_key.store(0, kGuardedStore);
  StoreText(s->user, {});
  StoreText(s->client_addr, {});
  StoreText(s->server_addr, {});
  StoreText(s->protocol, {});
  StoreText(s->cmd, {});
  StoreText(s->cwd, {});
  StoreText(s->arg, {});
  StoreText(s->xfer_path, {});
  s->seccomp_trap.store(0, kGuardedStore);
  for (auto& w : s->reserved1) w.store(0, kGuardedStore);
  SlotWriteEnd(*s, odd);
}

void Scoreboard::SetBytesDone(size_t index, uint64_t bytes) {
  if (!Writes()) return;
  if (Slot* s = impl_->SlotAt(index)) s->bytes_done.store(bytes, std::memory_order_relaxed);
}

void Scoreboard::AddTotalBytes(uint64_t delta) {
  if (!Writes()) return;
  impl_->header->total_bytes.fetch_add(delta, std::memory_order_relaxed);
}

void Scoreboard::SetClientKey(size_t index, uint64_t key) {
  if (!Writes()) return;
  if (Slot* s = impl_->SlotAt(index)) s->client_key.store(key, std::memory_order_relaxed);
}

std::atomic<uint64_t>* Scoreboard::SeccompTrapWord(size_t index) {
  if (!impl_ || !impl_->writable) return nullptr;
  Slot* s = impl_->SlotAt(index);
  return s ? &s->seccomp_trap : nullptr;
}

uint64_t Scoreboard::SeccompTrap(size_t index) const {
  const Slot* s = impl_ ? impl_->SlotAt(index) : nullptr;
  return s ? s->seccomp_trap.load(std::memory_order_relaxed) : 0;
}

uint32_t Scoreboard::CountClientKey(uint64_t key) const {
  if (!impl_ || key == 0) return 0;
  uint32_t n = 0;
  const uint32_t limit = scan_limit();
  for (uint32_t i = 0; i < limit; ++i) {
    const Slot& s = impl_->slots[i];
    if (s.client_key.load(std::memory_order_relaxed) == key &&
        s.state.load(std::memory_order_relaxed) != static_cast<uint8_t>(SlotState::kEmpty)) {
      const uint64_t owner = s.owner.load(std::memory_order_acquire);
      if (owner == 0 || !OwnerDead(owner)) ++n;
    }
  }
  return n;
}

void Scoreboard::CountSession() {
  if (!Writes()) return;
  impl_->header->total_sessions.fetch_add(1, std::memory_order_relaxed);
}

// --------------------------------------------------------------------------
// Slots: readers

SlotView Scoreboard::Read(size_t index) const {
  SlotView v;
  ReadInto(index, kReadAllText, &v);
  return v;
}

// Fills every field of `*v` but the text fields outside `fields`, which it
// leaves as they are (ForEachSlot's reused view keeps them "").
void Scoreboard::ReadInto(size_t index, unsigned fields, SlotView* v) const {
  v->index = index;
  v->updating = false;
  v->stale = false;
  v->owner_pid = 0;
  v->bytes_done = 0;
  SlotRecord& r = v->rec;
  const Slot* s = impl_ ? impl_->SlotAt(index) : nullptr;
  if (!s) {
    SlotRecord empty;
    r = empty;
    return;
  }
  const auto relaxed = std::memory_order_relaxed;
  uint8_t raw_state = 0;
  uint8_t raw_dir = 0;
  const bool consistent = SeqRead(s->seq, [&] {
    r.pid = s->pid.load(kGuardedLoad);
    r.generation = s->generation.load(kGuardedLoad);
    raw_state = s->state.load(kGuardedLoad);
    raw_dir = s->xfer_dir.load(kGuardedLoad);
    r.session_start_ns = s->session_start_ns.load(kGuardedLoad);
    r.last_activity_ns = s->last_activity_ns.load(kGuardedLoad);
    r.xfer_start_ns = s->xfer_start_ns.load(kGuardedLoad);
    r.xfer_size = s->xfer_size.load(kGuardedLoad);
    r.xfer_offset = s->xfer_offset.load(kGuardedLoad);
    r.sessions_served = s->sessions_served.load(kGuardedLoad);
    if (fields & kReadUser) LoadText(s->user, r.user);
    if (fields & kReadPeers) {
      LoadText(s->client_addr, r.client_addr);
      LoadText(s->server_addr, r.server_addr);
      LoadText(s->protocol, r.protocol);
    }
    if (fields & kReadCommand) {
      LoadText(s->cmd, r.cmd);
      LoadText(s->arg, r.arg);
    }
    if (fields & kReadCwd) LoadText(s->cwd, r.cwd);
    // Only a transfer shows its path: skip the cache line otherwise. (The
    // state was read in this same copy, so a consistent copy is consistent
    // about this choice too.)
    if (fields & kReadXferPath) {
      if ((fields & kReadAllText) == kReadAllText ||
          raw_state == static_cast<uint8_t>(SlotState::kTransferring)) {
        LoadText(s->xfer_path, r.xfer_path);
      } else if (r.xfer_path[0] != '\0') {
        std::memset(r.xfer_path, 0, sizeof r.xfer_path);
      }
    }
  });
  v->bytes_done = s->bytes_done.load(relaxed);
  v->updating = !consistent;

  // SECURITY (S7): whatever the memory held, hand out only known enum values and
  // sane numbers (strings were NUL-terminated by LoadText).
  if (raw_state > kMaxSlotState || raw_dir > static_cast<uint8_t>(XferDir::kList)) {
    r.state = SlotState::kEmpty;
    r.xfer_dir = XferDir::kNone;
    v->updating = true;
  } else {
    r.state = static_cast<SlotState>(raw_state);
    r.xfer_dir = static_cast<XferDir>(raw_dir);
  }
  r.pid = std::max<int32_t>(0, r.pid);
  r.session_start_ns = std::max<int64_t>(0, r.session_start_ns);
  r.last_activity_ns = std::max<int64_t>(0, r.last_activity_ns);
  r.xfer_start_ns = std::max<int64_t>(0, r.xfer_start_ns);

  // Whether anyone is behind the slot: its inetd claimant, or, with no
  // master to reap it, the process it names.
  const uint64_t owner = s->owner.load(std::memory_order_acquire);
  v->owner_pid = OwnerPid(owner);
  if (owner != 0) {
    v->stale = OwnerDead(owner);
  } else if (r.state != SlotState::kEmpty &&
             impl_->header->master_pid.load(std::memory_order_acquire) == 0) {
    v->stale = !PidAlive(r.pid);
  }
}

std::optional<size_t> Scoreboard::ClaimFreeSlot(int32_t pid) {
  if (!Writes() || pid <= 0 || static_cast<uint64_t>(pid) > kOwnerPidMask) {
    return std::nullopt;
  }
  const uint64_t mine = MakeOwner(pid, ProcessStartTicks(pid));
  const bool masterless = impl_->header->master_pid.load(std::memory_order_acquire) == 0;
  // Pass 0: an unclaimed, empty slot nobody is writing. Pass 1: a slot whose
  // claimant is gone, or (no master) an unclaimed leftover of a dead process.
  // Without a master, from the bottom up (dense slots keep the high-water
  // mark, and every reader's scan, short); beside a live master, which fills
  // from the bottom, from the top down (see FORMAT.md, "inetd mode").
  const size_t n = impl_->slot_count;
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t k = 0; k < n; ++k) {
      const size_t i = masterless ? k : n - 1 - k;
      Slot& s = impl_->slots[i];
      uint64_t seen = s.owner.load(std::memory_order_acquire);
      bool take = false;
      if (seen == 0) {
        const bool empty =
            s.state.load(std::memory_order_acquire) == static_cast<uint8_t>(SlotState::kEmpty) &&
            (s.seq.load(std::memory_order_acquire) & 1u) == 0;
        if (pass == 0) {
          take = empty;
        } else if (masterless && !empty) {
          const SlotView v = Read(i);
          take = v.stale || (v.updating && !PidAlive(v.rec.pid));
        }
      } else if (pass == 1) {
        take = OwnerDead(seen);
      }
      // The CAS decides between concurrent claimants: `seen` names one
      // owner (or none) for good, so at most one of them can replace it.
      if (!take || !s.owner.compare_exchange_strong(seen, mine, std::memory_order_acq_rel,
                                                    std::memory_order_acquire)) {
        continue;
      }
      Clear(i);  // whatever a dead claimant left
      SlotRecord rec;
      rec.pid = pid;
      rec.state = SlotState::kStarting;
      Publish(i, rec);
      return i;
    }
  }
  return std::nullopt;
}

void Scoreboard::ReleaseSlot(size_t index) {
  if (!Writes()) return;
  Slot* s = impl_->SlotAt(index);
  if (!s) return;
  Clear(index);
  s->owner.store(0, std::memory_order_release);
}

SlotState Scoreboard::PeekState(size_t index) const {
  const Slot* s = impl_ ? impl_->SlotAt(index) : nullptr;
  if (!s) return SlotState::kEmpty;
  const uint8_t raw = s->state.load(std::memory_order_acquire);
  return raw <= kMaxSlotState ? static_cast<SlotState>(raw) : SlotState::kEmpty;
}

uint32_t Scoreboard::PeekGeneration(size_t index) const {
  const Slot* s = impl_ ? impl_->SlotAt(index) : nullptr;
  return s ? s->generation.load(std::memory_order_acquire) : 0;
}

uint32_t Scoreboard::scan_limit() const {
  if (!impl_) return 0;
  const Header& h = *impl_->header;
  if ((h.features.load(std::memory_order_relaxed) & kFeatureSlotHwm) == 0) {
    return impl_->slot_count;  // an older writer keeps no mark
  }
  // SECURITY (S7): the mark is file contents; never scan past the validated count.
  return std::min(h.slot_hwm.load(std::memory_order_acquire), impl_->slot_count);
}

void Scoreboard::ForEachSlot(unsigned fields,
                             const std::function<void(const SlotView&)>& visit) const {
  if (!impl_) return;
  const uint32_t limit = scan_limit();
  auto view = std::make_unique<SlotView>();  // ~1.7 kB, reused for every slot
  for (uint32_t i = 0; i < limit; ++i) {
    const Slot& s = impl_->slots[i];
    if (i + 1 < limit) {
      // The next slot's first line (seq, state, numbers): the loop is bound
      // by memory latency at 10,000 slots, not by work.
      __builtin_prefetch(&impl_->slots[i + 1]);
    }
    // Fast path: an empty slot nobody is writing (two loads, no seqlock).
    if (s.state.load(std::memory_order_relaxed) == 0 &&
        (s.seq.load(std::memory_order_relaxed) & 1u) == 0) {
      continue;
    }
    ReadInto(i, fields, view.get());
    if (view->rec.state == SlotState::kEmpty && !view->updating) continue;
    visit(*view);
  }
}

std::vector<SlotView> Scoreboard::ReadAll() const {
  std::vector<SlotView> out;
  ForEachSlot(kReadAllText, [&](const SlotView& v) { out.push_back(v); });
  return out;
}

// --------------------------------------------------------------------------
// Damage: implausible values, the master's header check and repair

bool PlausibleShutdown(int64_t shutdown_time, int64_t deny_time, int64_t disconnect_time,
                       std::string_view message) {
  if (shutdown_time == 0) return deny_time == 0 && disconnect_time == 0 && message.empty();
  constexpr int64_t kYear10000 = 253402300800;  // 10000-01-01T00:00:00Z
  if (shutdown_time < 0 || shutdown_time >= kYear10000) return false;
  if (deny_time < 0 || deny_time > shutdown_time) return false;
  if (disconnect_time < 0 || disconnect_time > shutdown_time) return false;
  for (const char c : message) {
    const auto uc = static_cast<unsigned char>(c);
    if ((uc < 0x20 && c != '\t') || uc == 0x7f) return false;
  }
  return true;
}

namespace {

std::string Hex(uint64_t v) {
  char hex[24];
  std::snprintf(hex, sizeof hex, "0x%016" PRIx64, v);
  return hex;
}

}  // namespace

std::string Scoreboard::CheckHeader(uint32_t hwm_floor) const {
  if (!impl_ || !impl_->master) return "";
  const Header& h = *impl_->header;
  const Impl::Expected& e = impl_->expected;
  const auto relaxed = std::memory_order_relaxed;
  std::string out;
  auto add = [&](const std::string& what) {
    if (!out.empty()) out += ", ";
    out += what;
  };
  auto num = [&](const char* name, int64_t got, int64_t want) {
    if (got != want)
      add(std::string(name) + " " + ToString(got) + " (expected " + ToString(want) + ")");
  };
  const uint64_t magic = h.magic.load(std::memory_order_acquire);
  if (magic != kMagic) add("magic " + Hex(magic) + " (expected " + Hex(kMagic) + ")");
  num("layout version", h.layout_version.load(relaxed), kLayoutVersion);
  num("header size", h.header_size.load(relaxed), sizeof(Header));
  num("slot size", h.slot_size.load(relaxed), sizeof(Slot));
  num("slot count", h.slot_count.load(relaxed), impl_->slot_count);
  num("master pid", h.master_pid.load(relaxed), e.master_pid);
  if (h.master_start_ticks.load(relaxed) != e.master_start_ticks) add("master start time");
  if (h.start_time_ns.load(relaxed) != e.start_time_ns) add("start time");
  num("generation", h.generation.load(relaxed), e.generation);
  num("max clients", h.max_clients.load(relaxed), e.max_clients);
  num("features", h.features.load(relaxed), kFeaturesWritten);
  const uint32_t hwm = h.slot_hwm.load(relaxed);
  if (hwm > impl_->slot_count || hwm < hwm_floor) {
    add("slot_hwm " + ToString(hwm) + " (expected " + ToString(hwm_floor) + ".." +
        ToString(impl_->slot_count) + ")");
  }
  bool reserved_clean = h.reserved0.load(relaxed) == 0 && h.reserved1.load(relaxed) == 0;
  for (const auto& w : h.reserved) reserved_clean = reserved_clean && w.load(relaxed) == 0;
  if (!reserved_clean) add("reserved words not zero");
  char type[16], name[kServerNameLen], config[kConfigFileLen];
  const bool names_ok = SeqRead(h.name_seq, [&] {
    LoadText(h.server_type, type);
    LoadText(h.server_name, name);
    LoadText(h.config_file, config);
  });
  if (!names_ok) add("name seqlock left odd");
  if (std::string_view(type) != "standalone") add("server type");
  if (std::string_view(name) != e.server_name) add("server name");
  if (std::string_view(config) != e.config_file) add("config file");
  int64_t st = 0, dt = 0, xt = 0;
  char msg[kShutdownMsgLen];
  const bool shut_ok = ReadShutdownState(h, &st, &dt, &xt, msg);
  if (!shut_ok) add("shutdown seqlock left odd");
  else if (!PlausibleShutdown(st, dt, xt, msg))
    add("implausible shutdown state");
  return out;
}

void Scoreboard::RepairHeader(uint32_t hwm_floor) {
  if (!impl_ || !impl_->master) return;
  Header& h = *impl_->header;
  const Impl::Expected& e = impl_->expected;
  const auto relaxed = std::memory_order_relaxed;
  const bool whole = h.magic.load(std::memory_order_acquire) != kMagic;
  h.layout_version.store(kLayoutVersion, relaxed);
  h.header_size.store(sizeof(Header), relaxed);
  h.slot_size.store(sizeof(Slot), relaxed);
  h.slot_count.store(impl_->slot_count, relaxed);
  h.master_pid.store(e.master_pid, relaxed);
  h.master_start_ticks.store(e.master_start_ticks, relaxed);
  h.start_time_ns.store(e.start_time_ns, relaxed);
  h.generation.store(e.generation, std::memory_order_release);
  h.max_clients.store(e.max_clients, relaxed);
  h.features.store(kFeaturesWritten, relaxed);
  h.reserved0.store(0, relaxed);
  h.reserved1.store(0, relaxed);
  for (auto& w : h.reserved) w.store(0, relaxed);
  // Every slot writer raises the mark again at its next write, so the floor
  // (the master's own slots) is enough; inetd claimants restore theirs.
  const uint32_t hwm = h.slot_hwm.load(relaxed);
  if (hwm > impl_->slot_count || hwm < hwm_floor)
    h.slot_hwm.store(hwm_floor, std::memory_order_release);
  const uint32_t odd = HeaderWriteBegin(h.name_seq);  // takes over a counter left odd
  StoreText(h.server_type, "standalone");
  StoreText(h.server_name, e.server_name);
  StoreText(h.config_file, e.config_file);
  HeaderWriteEnd(h.name_seq, odd);
  int64_t st = 0, dt = 0, xt = 0;
  char msg[kShutdownMsgLen];
  const bool shut_ok = ReadShutdownState(h, &st, &dt, &xt, msg);
  if (!shut_ok || !PlausibleShutdown(st, dt, xt, msg)) {
    const uint32_t sodd = HeaderWriteBegin(h.shutdown_seq);
    h.shutdown_time.store(0, kGuardedStore);
    h.deny_time.store(0, kGuardedStore);
    h.disconnect_time.store(0, kGuardedStore);
    StoreText(h.shutdown_msg, {});
    HeaderWriteEnd(h.shutdown_seq, sodd);
  }
  if (whole) {
    h.total_sessions.store(0, relaxed);
    h.total_bytes.store(0, relaxed);
  }
  h.magic.store(kMagic, std::memory_order_release);  // last, as at Create
}

Scoreboard::SizeCheck Scoreboard::RestoreSize() {
  SizeCheck r;
  if (!impl_ || !impl_->master || !impl_->fd) return r;
  r.mapped_size = impl_->mapped_size;
  struct stat st = {};
  if (::fstat(impl_->fd.get(), &st) != 0) return r;
  r.seen_size = static_cast<uint64_t>(st.st_size);
  if (r.seen_size >= r.mapped_size) return r;
  r.truncated = true;
  if (::ftruncate(impl_->fd.get(), static_cast<off_t>(r.mapped_size)) != 0) r.restore_errno = errno;
  return r;
}

// --------------------------------------------------------------------------
// The SIGBUS guard (TruncationPolicy). Process-wide: one guarded mapping.

namespace {

std::atomic<uintptr_t> g_guard_base{0};
std::atomic<size_t> g_guard_len{0};
std::atomic<int> g_guard_policy{0};
std::atomic<int> g_guard_fd{-1};
std::atomic<pid_t> g_guard_owner{0};  // the process whose fd g_guard_fd is
std::atomic<size_t> g_guard_page{4096};
std::atomic<uint32_t> g_guard_restored{0};
std::atomic<int> g_guard_restore_errno{0};
std::atomic<bool> g_guard_detached{false};
std::atomic<int64_t> g_guard_wait_start{0}, g_guard_last_fault{0};
char g_guard_exit_msg[512];
std::atomic<size_t> g_guard_exit_len{0};
static_assert(std::atomic<uintptr_t>::is_always_lock_free &&
              std::atomic<size_t>::is_always_lock_free &&
              std::atomic<int64_t>::is_always_lock_free && std::atomic<pid_t>::is_always_lock_free);

constexpr int64_t kGuardWaitStepNs = 10 * 1000 * 1000;        // 10 ms
constexpr int64_t kGuardEpisodeGapNs = 1000LL * 1000 * 1000;  // a new fault after 1 s: new episode
constexpr int64_t kGuardMaxWaitNs = 5000LL * 1000 * 1000;     // then give up waiting

int64_t MonoNs() {  // clock_gettime is async-signal-safe
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Replaces the page holding `addr` by private zero memory: the access then
// succeeds, and this process's view of that page no longer reaches the file.
void DetachPage(uintptr_t addr) {
  const size_t page = g_guard_page.load(std::memory_order_relaxed);
  void* at = reinterpret_cast<void*>(addr & ~(page - 1));
  (void)::mmap(at, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  g_guard_detached.store(true, std::memory_order_relaxed);
}

extern "C" void OnScoreboardBus(int signo, siginfo_t* si, void*) {  // Async-signal-safe.
  const int saved = errno;
  const uintptr_t base = g_guard_base.load(std::memory_order_relaxed);
  const size_t len = g_guard_len.load(std::memory_order_relaxed);
  const auto addr = reinterpret_cast<uintptr_t>(si->si_addr);
  // Sent by kill() (si_code <= 0), or a fault elsewhere: not ours. Back to
  // the default action; a fault re-runs the access and kills as before.
  if (si->si_code <= 0 || base == 0 || addr < base || addr - base >= len) {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(signo, &dfl, nullptr);
    if (si->si_code <= 0) ::raise(signo);  // delivered when the handler returns
    errno = saved;
    return;
  }
  int policy = g_guard_policy.load(std::memory_order_relaxed);
  // SECURITY (S7): only the process that installed kRestore ftruncate()s, on the
  // fd it opened; in a forked child that fd number may name anything (the
  // worker closed it), so children fall back to waiting for the master.
  if (policy == static_cast<int>(TruncationPolicy::kRestore) &&
      ::getpid() != g_guard_owner.load(std::memory_order_relaxed)) {
    policy = static_cast<int>(TruncationPolicy::kWait);
  }
  if (policy == static_cast<int>(TruncationPolicy::kRestore)) {
    if (::ftruncate(g_guard_fd.load(std::memory_order_relaxed), static_cast<off_t>(len)) == 0) {
      g_guard_restored.fetch_add(1, std::memory_order_relaxed);
    } else {
      g_guard_restore_errno.store(errno, std::memory_order_relaxed);
      DetachPage(addr);
    }
  } else if (policy == static_cast<int>(TruncationPolicy::kWait)) {
    const int64_t now = MonoNs();
    if (now - g_guard_last_fault.load(std::memory_order_relaxed) > kGuardEpisodeGapNs) {
      g_guard_wait_start.store(now, std::memory_order_relaxed);
    }
    g_guard_last_fault.store(now, std::memory_order_relaxed);
    if (now - g_guard_wait_start.load(std::memory_order_relaxed) < kGuardMaxWaitNs) {
      timespec ts{0, kGuardWaitStepNs};
      ::nanosleep(&ts, nullptr);  // then the access is retried
    } else {
      DetachPage(addr);
    }
  } else {  // kExit (and kNone: a guard without a policy still must not crash)
    const size_t n = g_guard_exit_len.load(std::memory_order_relaxed);
    if (n > 0) (void)!::write(STDERR_FILENO, g_guard_exit_msg, n);
    ::_exit(1);
  }
  errno = saved;
}

}  // namespace

void Scoreboard::GuardTruncation(TruncationPolicy policy) const {
  if (!impl_ || impl_->mapped_size == 0) return;
  static std::once_flag installed;
  const long page = ::sysconf(_SC_PAGESIZE);
  if (page > 0) g_guard_page.store(static_cast<size_t>(page), std::memory_order_relaxed);
  std::string msg =
      std::string(program_invocation_short_name) + ": scoreboard " + impl_->path +
      " was truncated while being read (damaged, or the server is restarting); try again\n";
  if (msg.size() > sizeof g_guard_exit_msg) msg.resize(sizeof g_guard_exit_msg);
  g_guard_exit_len.store(0, std::memory_order_relaxed);
  std::memcpy(g_guard_exit_msg, msg.data(), msg.size());
  g_guard_exit_len.store(msg.size(), std::memory_order_relaxed);
  g_guard_fd.store(impl_->fd ? impl_->fd.get() : -1, std::memory_order_relaxed);
  g_guard_owner.store(::getpid(), std::memory_order_relaxed);
  // A restore needs our own read-write fd (Create()); else wait or exit.
  if (policy == TruncationPolicy::kRestore && !(impl_->master && impl_->fd))
    policy = TruncationPolicy::kWait;
  g_guard_policy.store(static_cast<int>(policy), std::memory_order_relaxed);
  g_guard_len.store(impl_->mapped_size, std::memory_order_relaxed);
  g_guard_base.store(reinterpret_cast<uintptr_t>(impl_->region.get_address()),
                     std::memory_order_release);
  std::call_once(installed, [] {
    struct sigaction sa {};
    sa.sa_sigaction = OnScoreboardBus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, nullptr);
  });
}

void Scoreboard::DetachFromFile() {
  if (!impl_ || impl_->mapped_size == 0) return;
  impl_->writable = false;
  // MAP_FIXED over the whole region: the pages no longer reach the file (and
  // anonymous memory cannot raise SIGBUS). The region object keeps its
  // address and size; _exit never unmaps it.
  (void)::mmap(impl_->region.get_address(), impl_->mapped_size, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
}

TruncationEvents TakeTruncationEvents() {
  TruncationEvents ev;
  ev.restored = g_guard_restored.exchange(0, std::memory_order_relaxed);
  ev.restore_errno = g_guard_restore_errno.exchange(0, std::memory_order_relaxed);
  return ev;
}

bool MappingDetached() { return g_guard_detached.load(std::memory_order_relaxed); }

}  // namespace poolftpd::sb
