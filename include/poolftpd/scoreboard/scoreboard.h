// The shared scoreboard: layout, writer API (master and workers, inetd
// sessions) and reader API (tools, master's idle counting). Built into
// libscoreboard.a, which depends on nothing in src/. Layout documented in
// scoreboard/FORMAT.md; any change to it bumps kLayoutVersion.
//
// Concurrency: each slot has one writer at a time (the master before fork and
// after reap, the worker in between). Writers publish whole records under a
// per-slot seqlock; readers copy and retry. bytes_done and client_key are
// separate atomics outside the seqlock. Nothing here ever blocks or locks in
// shared memory, so a dead process can never wedge another. In inetd mode
// (no master) each session process claims its slot with a compare-and-swap
// on the slot's owner word (ClaimFreeSlot) and is then its single writer.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "poolftpd/util/result.h"

namespace poolftpd::sb {

inline constexpr uint64_t kMagic = 0x3142534450544650ULL;  // "PFTPDSB1" little-endian
inline constexpr uint32_t kLayoutVersion = 2;

enum class SlotState : uint8_t {
  kEmpty = 0,         // no process
  kStarting = 1,      // forked, not yet waiting
  kReady = 2,         // idle in pool, waiting for a connection
  kConnected = 3,     // session open, not logged in
  kLoggedIn = 4,      // logged in, running a command
  kIdle = 5,          // logged in, waiting for the next command
  kTransferring = 6,  // data transfer running
  kClosing = 7,       // session ending
};
inline constexpr uint8_t kMaxSlotState = 7;

enum class XferDir : uint8_t { kNone = 0, kRetr = 1, kStor = 2, kList = 3 };

// Added by the scoreboard library (not part of the first contract draft):

// Most slots a scoreboard may have; Create() refuses more and Open() calls a
// header that claims more corrupt. 65536 slots are ~71 MiB of mapping.
inline constexpr uint32_t kMaxSlots = 65536;

// Whether a slot in `state` holds a client session (connected, logged in,
// idle, transferring or closing). Starting/ready/empty workers are pool
// capacity, not sessions.
constexpr bool IsSessionState(SlotState state) {
  return state >= SlotState::kConnected && state <= SlotState::kClosing;
}

// Lower-case names for logs and JSON: "empty", "starting", "ready",
// "connected", "logged_in", "idle", "transferring", "closing".
const char* SlotStateName(SlotState state);
// "none", "download", "upload", "list".
const char* XferDirName(XferDir dir);

// Field sizes, bytes including the terminating NUL.
inline constexpr size_t kUserLen = 64;
inline constexpr size_t kAddrLen = 64;  // "[v6]:port" or "host[ip]"
inline constexpr size_t kProtoLen = 8;  // "ftp", "ftps"
inline constexpr size_t kCmdLen = 16;
inline constexpr size_t kArgLen = 256;
inline constexpr size_t kPathLen = 256;
inline constexpr size_t kServerNameLen = 64;
inline constexpr size_t kShutdownMsgLen = 256;
inline constexpr size_t kConfigFileLen = 256;

// A plain, validated copy of one slot: what writers publish and readers get.
struct SlotRecord {
  int32_t pid = 0;
  uint32_t generation = 0;
  SlotState state = SlotState::kEmpty;
  XferDir xfer_dir = XferDir::kNone;
  int64_t session_start_ns = 0;  // CLOCK_REALTIME, 0 if no session
  int64_t last_activity_ns = 0;  // last command or state change
  int64_t xfer_start_ns = 0;
  uint64_t xfer_size = 0;        // bytes expected, 0 if unknown: the file size
                                 // (RETR), so done = xfer_offset + bytes_done
  uint64_t xfer_offset = 0;      // REST offset the transfer started from
  uint64_t sessions_served = 0;  // by this worker so far
  char user[kUserLen] = {};
  char client_addr[kAddrLen] = {};  // "name[ip]" or "ip"
  char server_addr[kAddrLen] = {};  // "ip:port"
  char protocol[kProtoLen] = {};
  char cwd[kPathLen] = {};
  char cmd[kCmdLen] = {};
  char arg[kArgLen] = {};
  char xfer_path[kPathLen] = {};
};

// A slot as a reader sees it: the record plus the live byte counter.
struct SlotView {
  size_t index = 0;
  SlotRecord rec;
  uint64_t bytes_done = 0;
  bool updating = false;  // writer died mid-update (seq stayed odd)
  // Nobody is behind this slot any more: its inetd claimant (owner_pid) is
  // dead or its PID was reused, or, on a scoreboard without a master, the
  // unclaimed slot's pid is dead. Tools never list a stale slot as a session.
  bool stale = false;
  int32_t owner_pid = 0;  // inetd claimant (ClaimFreeSlot), 0 = master-managed
};

struct HeaderView {
  uint32_t layout_version = 0;
  uint32_t slot_count = 0;
  int32_t master_pid = 0;
  uint64_t master_start_ticks = 0;  // /proc/PID/stat field 22 of the master
  int64_t start_time_ns = 0;        // when the master created the scoreboard
  uint32_t generation = 0;
  uint32_t max_clients = 0;
  char server_name[kServerNameLen] = {};
  char server_type[16] = {};              // "standalone", or "inetd" (no master)
  char config_file[kConfigFileLen] = {};  // the master's configuration file, "" if unknown
  // Published shutdown (issue: ftpshut). 0 = none.
  int64_t shutdown_time = 0, deny_time = 0, disconnect_time = 0;
  char shutdown_msg[kShutdownMsgLen] = {};
  uint64_t total_sessions = 0;  // sessions accepted since start
  uint64_t total_bytes = 0;     // data bytes sent since start, up to the last step
  // No open-session count: a reader counts the slots (tools::IsListedSession).
};

// Which text fields of a slot a reader copies (the numbers, pid, states and
// times are always read). A field left out reads as "". ftpwho's default
// output needs kReadBrief, ftpcount kReadUser only.
inline constexpr unsigned kReadUser = 1u << 0;      // user
inline constexpr unsigned kReadCommand = 1u << 1;   // cmd, arg
inline constexpr unsigned kReadXferPath = 1u << 2;  // xfer_path, of a transferring slot*
inline constexpr unsigned kReadPeers = 1u << 3;     // client_addr, server_addr, protocol
inline constexpr unsigned kReadCwd = 1u << 4;       // cwd
inline constexpr unsigned kReadBrief = kReadUser | kReadCommand | kReadXferPath;
inline constexpr unsigned kReadAllText = kReadBrief | kReadPeers | kReadCwd;
// *Without all of kReadAllText, xfer_path is copied only while the slot is
// in state kTransferring (the only time ftpwho shows it).

// Fills a fixed text field of a SlotRecord: copies at most N-1 bytes of
// `value` (stopping at an embedded NUL) and zero-fills the rest.
template <size_t N>
void SetText(char (&field)[N], std::string_view value) {
  size_t n = 0;
  for (; n < value.size() && n + 1 < N && value[n] != '\0'; ++n) field[n] = value[n];
  for (size_t i = n; i < N; ++i) field[i] = '\0';
}

// Whether published shutdown values are ones ftpshut or the master could
// have written: all zero (none), or a shutdown time after the epoch and
// before the year 10000 with the deny and disconnect times in
// [0, shutdown_time] and a message without control characters. Anything
// else is damage (random bytes over the header), never an order.
bool PlausibleShutdown(int64_t shutdown_time, int64_t deny_time, int64_t disconnect_time,
                       std::string_view message);

// What a process does when the scoreboard file is shrunk under its mapping
// (`truncate -s 0`): an access past the new end of file raises SIGBUS.
// GuardTruncation() installs one process-wide SIGBUS handler for one
// mapping; a SIGBUS for any other address (or sent by kill) keeps its
// default action (the process dies as it would have).
enum class TruncationPolicy : int {
  kNone = 0,
  // Master: ftruncate() the file back to its size on the master's own fd and
  // retry the access (the pages read as zeros); the master's loop logs it
  // (TakeTruncationEvents) and rewrites the header.
  kRestore = 1,
  // Worker (it holds no fd on the file): wait in the handler, 10 ms at a
  // time, for the master to restore the size, then retry; after 5 s of
  // waiting, replace the faulting page by anonymous zero memory so the
  // session goes on (MappingDetached() then tells the worker to leave).
  kWait = 2,
  // Tools: print "<program>: scoreboard FILE was truncated while being read"
  // to stderr and _exit(1).
  kExit = 3,
};

// Truncation events seen by the handler since the last call, for the
// master's loop: faults answered by restoring the size, and the errno of a
// failed restore (0 if none).
struct TruncationEvents {
  uint32_t restored = 0;
  int restore_errno = 0;
};
TruncationEvents TakeTruncationEvents();
// Whether this process had to replace part of its scoreboard mapping by
// private memory (kWait ran out, or a kRestore ftruncate failed): its view
// no longer reaches the file.
bool MappingDetached();

// Whether `header` describes an inetd-mode scoreboard: no master (pid 0) and
// server type "inetd". Such a scoreboard is live as long as it has sessions;
// tools do not call it stale.
bool IsInetd(const HeaderView& header);

// The file behind a mapping, from fstat() on the fd the mapping came from
// (tools check owner and mode before trusting it).
struct FileInfo {
  uint32_t uid = 0;
  uint32_t mode = 0;  // st_mode: type and permission bits
  uint64_t dev = 0;
  uint64_t ino = 0;
};

struct Header;  // in-memory layout, see layout.h
struct Slot;

// One mapping of the scoreboard file. Never throws (Boost exceptions are
// turned into Result errors inside). A moved-from object may only be
// destroyed or assigned to. Every method is safe in a forked child that uses
// the inherited object: the child holds no lock, and destroying the object
// there only unmaps and closes the child's copies (workers _exit anyway).
// Writers on a read-only Open() and out-of-range indexes are no-ops.
class Scoreboard {
 public:
  // Unmaps and closes. For the object Create() returned, in the creating
  // process, this releases the master lock; it does NOT clear master_pid
  // (call ClearMaster() at a clean exit first).
  ~Scoreboard();
  Scoreboard(Scoreboard&&) noexcept;
  Scoreboard& operator=(Scoreboard&&) noexcept;
  Scoreboard(const Scoreboard&) = delete;
  Scoreboard& operator=(const Scoreboard&) = delete;

  // Master: create (or take over a stale) file at `path` with `slot_count`
  // slots, hold its file lock for the life of this object, fill the header.
  // kExists when a live master holds the lock (context names its PID).
  // Details: the directory must exist (kNotFound); a symlink or a file owned
  // by another uid is refused (kPermission); slot_count must be 1..kMaxSlots
  // (kLimit). The file is opened once (O_CLOEXEC) and fcntl-locked before it
  // is truncated, then zero-filled, mode 0644. A second Create() on the same
  // file from the same process also gets kExists (the lock is per process),
  // and an Open() of it in the master process is safe: its fd is kept open
  // until the master object goes, so closing it cannot drop the lock.
  static Result<Scoreboard> Create(const std::string& path, uint32_t slot_count,
                                   const std::string& server_name, uint32_t max_clients);

  // Tools: map an existing file read-only (or read-write for ftpshut/ftpdctl).
  // kNotFound when missing, kVersion/kInvalid for another layout or garbage.
  // kPermission when unreadable. Every context names the path. Does not check
  // that the master is alive: call MasterAlive().
  static Result<Scoreboard> Open(const std::string& path, bool writable = false);

  // inetd-mode session process (no master): map the scoreboard at `path`
  // read-write, creating it when needed. A valid file is used as it is,
  // whoever made it, including one a live standalone master holds (both
  // kinds of sessions then share it); one whose master died, or exited, is
  // turned into an inetd scoreboard in place (master_pid 0, type "inetd").
  // A missing file, or one that is garbage or of another layout version and
  // that no live master holds (fcntl F_GETLK), is replaced atomically by a
  // fresh one (built under a temporary name, then link()ed or rename()d into
  // place): master_pid 0, server_type "inetd", `slot_count` slots,
  // `server_name`. Never takes the master lock, never truncates a file in
  // place. A file a live master holds but that is not valid yet (the master
  // is starting) is retried for up to ~2 s. Errors: kNotFound (directory
  // missing), kPermission (symlink, file of another uid, unwritable), kLimit
  // (slot_count 0 or > kMaxSlots), kExists (a live master holds an invalid
  // file), kSystem. Call ClaimFreeSlot() next.
  static Result<Scoreboard> OpenOrCreateShared(const std::string& path, uint32_t slot_count,
                                               const std::string& server_name);

  // Whether the master recorded in the header is alive (PID exists, is not a
  // zombie, and its start time matches). Tools use it to call a scoreboard
  // stale. False after ClearMaster(). Reads /proc; never signals anything
  // (kill(pid, 0) only when /proc hides the PID).
  bool MasterAlive() const;

  // Master: rewrite the header after a HUP.
  void SetGeneration(uint32_t generation);
  void SetMaxClients(uint32_t max_clients);
  void SetServerName(const std::string& name);
  // Master at start (and reload): the configuration file it runs, for
  // ftpdctl status. Truncated to kConfigFileLen-1 bytes.
  void SetConfigFile(const std::string& path);
  // Master at TERM: zero master pid so tools say "not running".
  void ClearMaster();

  uint32_t slot_count() const;
  HeaderView ReadHeader() const;

  // --- writers (the slot's current single writer only) ---
  // Publishes a whole record under the seqlock. Strings are NUL-terminated
  // and truncated to their field size.
  void Publish(size_t index, const SlotRecord& rec);
  // Master at reap: the slot back to empty, bytes and client key zeroed.
  // Does not touch the slot's inetd owner word (ReleaseSlot does).
  void Clear(size_t index);

  // inetd session: claim a slot for process `pid` (normally getpid()) with a
  // compare-and-swap on the slot's owner word, so concurrent claimants never
  // get the same slot. Prefers an unclaimed empty slot (the lowest one on a
  // file without a master; beside a live master, the highest, away from the
  // low slots the master fills); else takes over a slot whose claimant is dead (PID gone, zombie,
  // or another start time: PID reuse), or, on a scoreboard without a master,
  // an unclaimed non-empty slot whose pid is dead. On success the caller is
  // the slot's single writer and the slot holds an empty record with `pid`
  // and state kStarting. nullopt when every slot is taken by a live process
  // or the mapping is read-only. A master sharing the file does not claim
  // its slots, so with both kinds of sessions on one file a race between the
  // master's slot choice and a claim remains possible when the file is
  // nearly full (see FORMAT.md).
  std::optional<size_t> ClaimFreeSlot(int32_t pid);
  // The claimant at the end of its session: Clear() the slot and give it up.
  // Only the process that claimed `index` may call it.
  void ReleaseSlot(size_t index);
  // Worker during a transfer: one relaxed store of the bytes moved by the
  // current transfer (from xfer_offset). Does NOT touch total_bytes: the
  // caller adds each step's bytes with AddTotalBytes(delta) as the step
  // completes (one relaxed fetch_add), not the whole transfer at its end.
  void SetBytesDone(size_t index, uint64_t bytes);
  void AddTotalBytes(uint64_t delta);
  // Worker: a hash of the client IP (0 = none), for MaxClientsPerHost.
  void SetClientKey(size_t index, uint64_t key);
  // Worker: the slot's seccomp_trap word, for its SIGSYS handler (a relaxed
  // store of a lock-free atomic is async-signal-safe); null when the mapping
  // is read-only or `index` out of range.
  std::atomic<uint64_t>* SeccompTrapWord(size_t index);
  // Master at reap, before Clear(): that word (0 = no trap recorded).
  uint64_t SeccompTrap(size_t index) const;
  // Counts slots whose client key equals `key` (any state but empty, and not
  // claimed by a dead inetd process); 0 for key 0. Reads without the seqlock
  // (two relaxed loads per slot; /proc only for matching claimed slots).
  uint32_t CountClientKey(uint64_t key) const;
  void CountSession();  // total_sessions += 1 (relaxed), once per accepted session

  // --- master: damage detection and repair ---
  // The Create()d object keeps, in the master's own memory, what the header
  // must say: everything Create() wrote and the Set* calls since (generation,
  // MaxClients, ServerName, config file). Nothing the file holds feeds it.
  //
  // CheckHeader compares the live header with that copy and returns "" when
  // it is intact, else a short description of every damaged field
  // ("magic 0x..., generation 77 (expected 3), ..."). `hwm_floor` is one past
  // the highest slot the master has handed out: a lower slot_hwm hides
  // sessions from readers. Also damage: slot_hwm above slot_count, reserved
  // words not zero, a header seqlock left odd, an implausible shutdown state
  // (PlausibleShutdown). Only meaningful on the Create()d object (else "").
  std::string CheckHeader(uint32_t hwm_floor) const;
  // Rewrites the header from the master's copy (magic last). Shutdown fields
  // that are not plausible are cleared (the master then republishes its
  // ShutdownFile); if the magic itself was damaged, the session counters
  // are reset too (they were overwritten with the rest).
  void RepairHeader(uint32_t hwm_floor);
  // Master, every tick: fstat()s its fd; when the file is shorter than the
  // mapping, ftruncate()s it back. `truncated` also reports a fault that
  // the SIGBUS handler already repaired (TakeTruncationEvents).
  struct SizeCheck {
    bool truncated = false;    // the file was shorter than the mapping
    uint64_t seen_size = 0;    // the size fstat saw (the mapping's if repaired already)
    uint64_t mapped_size = 0;  // what it was restored to
    int restore_errno = 0;     // ftruncate failed: repair impossible
  };
  SizeCheck RestoreSize();
  // Installs the process-wide SIGBUS guard for this object's mapping (see
  // TruncationPolicy). Call again after fork() to change the policy (a
  // worker: kWait); the handler and mapping are inherited.
  void GuardTruncation(TruncationPolicy policy) const;
  // Worker whose master is gone: cuts this process off the file for good.
  // The whole mapping is replaced by private zero memory and every writer
  // becomes a no-op, so nothing it does later reaches the file, which a new
  // master may already be taking over (Create() reuses the inode). Reads
  // then see an empty header and empty slots. Affects this process only.
  void DetachFromFile();

  // --- readers ---
  // Copies one slot under the seqlock (bounded retries), validates it
  // (NUL-terminates strings, rejects unknown enum values as kEmpty+updating)
  // and sets `stale` (reads /proc for a claimed slot, and for a non-empty
  // slot of a scoreboard without a master; never signals anything).
  SlotView Read(size_t index) const;
  // Only the state byte of a slot, without the seqlock (for idle counting).
  SlotState PeekState(size_t index) const;
  uint32_t PeekGeneration(size_t index) const;
  // Every non-empty slot, plus every slot reported `updating` (so a tool
  // can say that a slot is being written or holds garbage). Stale slots are
  // included with `stale` set: callers must not count them as sessions.
  std::vector<SlotView> ReadAll() const;
  // The slots ReadAll() returns, in index order, handed one at a time to
  // `visit` without building a vector (ftpwho over 10,000 sessions). The
  // view is reused between calls: copy what must outlive the call. Only the
  // text fields in `fields` (kRead*) are copied; the others read as "".
  // Scans [0, scan_limit()); empty slots are skipped by their state byte
  // and seq, without the seqlock. Never blocks; /proc reads as Read().
  void ForEachSlot(unsigned fields, const std::function<void(const SlotView&)>& visit) const;
  // How many slots a reader must scan: the header's high-water mark (every
  // slot ever written lies below it) when the file keeps one, else
  // slot_count(). Grows while the file is in use; never above slot_count().
  uint32_t scan_limit() const;

  // --- shutdown state and the mapped file ---
  // ftpshut (writable Open) or the master: publish the shutdown state
  // (times in seconds since the epoch, 0 = none; message truncated to
  // kShutdownMsgLen-1). All zero clears it. Written under a header seqlock;
  // a concurrent second writer is tolerated, never blocked on.
  void SetShutdown(int64_t shutdown_time, int64_t deny_time, int64_t disconnect_time,
                   const std::string& message);
  // The path given to Create()/Open().
  const std::string& path() const;
  // Whether writer calls have any effect: true after Create() and after
  // Open(path, true). On a read-only mapping every writer is a no-op.
  bool writable() const;
  // Owner, mode, device and inode of the mapped file (fstat at open time).
  FileInfo file_info() const;

 private:
  struct Impl;
  explicit Scoreboard(std::unique_ptr<Impl> impl);
  // Validates and maps the file behind `fd` (owned by `impl`).
  static Result<Scoreboard> MapExisting(std::unique_ptr<Impl> impl, int fd, const std::string& path,
                                        bool writable);
  // OpenOrCreateShared(): a valid file whose master is gone becomes inetd.
  void AdoptIfMasterless(int fd);
  // Read() into an existing view, copying only the text `fields` (kRead*).
  void ReadInto(size_t index, unsigned fields, SlotView* v) const;
  // Whether a writer call may write now: a writable mapping, and the
  // process's write gate (SetWriteGate) agrees.
  bool Writes() const;
  std::unique_ptr<Impl> impl_;
};

// Worker: a check every writer call of this process runs first (null, the
// default: none). When it returns false the call writes nothing. A worker's
// gate sees whether its master is gone (getppid()) and then cuts the
// mapping off the file (DetachFromFile) before anything else is written:
// a new master may have taken the file over. Process-wide; not for the
// master or the tools.
void SetWriteGate(bool (*gate)());

// Start time of a process in clock ticks since boot (/proc/PID/stat field
// 22), 0 if the process does not exist.
uint64_t ProcessStartTicks(int pid);

}  // namespace poolftpd::sb
