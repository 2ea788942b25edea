// The in-memory layout of the scoreboard file: the Header and Slot structs
// that live in the MAP_SHARED mapping, and StoreText()/LoadText() for their
// text fields. Used by libscoreboard and its unit test; the master, workers
// and tools go through scoreboard.h and never touch these structs directly.
// Every field is a fixed-width, always-lock-free std::atomic, so any process
// may read any byte at any time without a data race. Offsets are pinned by
// static_asserts here and documented in scoreboard/FORMAT.md; any change
// bumps kLayoutVersion.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "poolftpd/scoreboard/scoreboard.h"

namespace poolftpd::sb {

// Memory orders of the words a seqlock guards. The seqlock orders them with
// fences (scoreboard.cc, SlotWriteBegin and SeqRead): relaxed stores after a
// release fence, relaxed loads before an acquire fence. ThreadSanitizer does
// not model fences (g++ rejects them with -Werror=tsan), so a TSan build uses
// the fence-free form of the same seqlock instead: every guarded store is a
// release, every guarded load an acquire. A load that sees a store of a
// writer that is still running then synchronises with it, so the reader's
// second look at the counter sees that writer's odd value and retries, which
// is exactly what the fences guarantee; TSan checks that form in full. It
// costs a little on the reader (no cost on x86, where both are plain moves).
#if defined(__SANITIZE_THREAD__)
#define POOLFTPD_SEQLOCK_FENCES 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define POOLFTPD_SEQLOCK_FENCES 0
#endif
#endif
#ifndef POOLFTPD_SEQLOCK_FENCES
#define POOLFTPD_SEQLOCK_FENCES 1
#endif
#if POOLFTPD_SEQLOCK_FENCES
inline constexpr std::memory_order kGuardedStore = std::memory_order_relaxed;
inline constexpr std::memory_order kGuardedLoad = std::memory_order_relaxed;
#else
inline constexpr std::memory_order kGuardedStore = std::memory_order_release;
inline constexpr std::memory_order kGuardedLoad = std::memory_order_acquire;
#endif

// Text fields are arrays of 8-byte words; the bytes of the string are the
// bytes of the words in memory order, NUL-padded.
inline constexpr size_t Words(size_t bytes) { return bytes / 8; }

// The file starts with one Header. "master" below means the process that
// called Create() (in inetd mode: the OpenOrCreateShared() call that made the
// file); "ftpshut" any process with a writable Open().
struct alignas(64) Header {
  std::atomic<uint64_t> magic;                   // master, written last at Create (release)
  std::atomic<uint32_t> layout_version;          // master at Create: kLayoutVersion
  std::atomic<uint32_t> header_size;             // master at Create: sizeof(Header)
  std::atomic<uint32_t> slot_size;               // master at Create: sizeof(Slot)
  std::atomic<uint32_t> slot_count;              // master at Create
  std::atomic<int32_t> master_pid;               // master; 0 after ClearMaster()
  std::atomic<uint32_t> generation;              // master at start and HUP
  std::atomic<uint64_t> master_start_ticks;      // master at Create: /proc/PID/stat field 22
  std::atomic<int64_t> start_time_ns;            // master at Create: CLOCK_REALTIME ns
  std::atomic<uint32_t> max_clients;             // master at start and HUP
  std::atomic<uint32_t> name_seq;                // seqlock over server_type/server_name
  std::atomic<uint64_t> total_sessions;          // workers: += 1 per accepted session
  std::atomic<uint64_t> total_bytes;             // workers: += each transfer step's data bytes
  std::atomic<uint64_t> reserved1;               // zero (open sessions are counted from the slots)
  std::atomic<uint32_t> shutdown_seq;            // seqlock over the shutdown fields
  std::atomic<uint32_t> reserved0;               // zero
  std::atomic<int64_t> shutdown_time;            // ftpshut: seconds since epoch, 0 = none
  std::atomic<int64_t> deny_time;                // ftpshut: new logins refused from then
  std::atomic<int64_t> disconnect_time;          // ftpshut: sessions cut from then
  std::atomic<uint64_t> server_type[Words(16)];  // master: "standalone"
  std::atomic<uint64_t> server_name[Words(kServerNameLen)];    // master: ServerName
  std::atomic<uint64_t> shutdown_msg[Words(kShutdownMsgLen)];  // ftpshut
  std::atomic<uint64_t> config_file[Words(kConfigFileLen)];    // master: -c path (name_seq)
  // One past the highest slot any writer has ever written (seqlock write),
  // never lowered: every non-empty slot lies below it. Raised by a CAS to
  // the maximum (acq_rel) before the slot's write begins; readers load it
  // (acquire) and scan only [0, slot_hwm). Valid only with kFeatureSlotHwm.
  std::atomic<uint32_t> slot_hwm;
  std::atomic<uint32_t> features;     // creator, before magic: kFeature* bits
  std::atomic<uint64_t> reserved[7];  // zero, room to grow
};

// Header::features bits. A file written by an older release of layout
// version 2 has zero here (its reserved words), so readers know to ignore
// slot_hwm and scan every slot.
inline constexpr uint32_t kFeatureSlotHwm = 1u << 0;
// Slot::seccomp_trap is maintained (a reserved word before; FORMAT.md).
inline constexpr uint32_t kFeatureSeccompTrap = 1u << 1;
// What every writer of this release stores into Header::features.
inline constexpr uint32_t kFeaturesWritten = kFeatureSlotHwm | kFeatureSeccompTrap;

// Then slot_count Slots. Fields from pid to xfer_path form the record that
// Publish() writes under `seq`; bytes_done and client_key live outside it.
struct alignas(64) Slot {
  std::atomic<uint32_t> seq;              // odd while the slot's writer writes
  std::atomic<int32_t> pid;               // master at fork/reap, worker after
  std::atomic<uint32_t> generation;       // config generation of that worker
  std::atomic<uint8_t> state;             // SlotState; also read without seq (PeekState)
  std::atomic<uint8_t> xfer_dir;          // XferDir
  std::atomic<uint16_t> reserved0;        // zero
  std::atomic<int64_t> session_start_ns;  // CLOCK_REALTIME ns, 0 = no session
  std::atomic<int64_t> last_activity_ns;  // CLOCK_REALTIME ns
  std::atomic<int64_t> xfer_start_ns;     // CLOCK_REALTIME ns
  std::atomic<uint64_t> xfer_size;        // bytes, 0 = unknown
  std::atomic<uint64_t> xfer_offset;      // REST offset, bytes
  std::atomic<uint64_t> sessions_served;  // by this worker so far
  std::atomic<uint64_t> bytes_done;       // worker, relaxed, outside the seqlock
  std::atomic<uint64_t> client_key;       // worker, relaxed, outside the seqlock
  std::atomic<uint64_t> user[Words(kUserLen)];
  std::atomic<uint64_t> client_addr[Words(kAddrLen)];
  std::atomic<uint64_t> server_addr[Words(kAddrLen)];
  std::atomic<uint64_t> protocol[Words(kProtoLen)];
  std::atomic<uint64_t> cmd[Words(kCmdLen)];
  std::atomic<uint64_t> cwd[Words(kPathLen)];
  std::atomic<uint64_t> arg[Words(kArgLen)];
  std::atomic<uint64_t> xfer_path[Words(kPathLen)];
  // inetd mode: who claimed the slot (ClaimFreeSlot), outside the seqlock;
  // 0 = unclaimed. One word so that one compare-and-swap sets both halves:
  // MakeOwner(pid, start ticks). A process is identified by PID and start
  // time together, so a CAS on an old reading can never succeed once that
  // process is gone and its PID reused (no ABA).
  std::atomic<uint64_t> owner;
  // The worker's SIGSYS handler, when the seccomp filter trapped a system
  // call: (audit arch << 32) | syscall number; 0 = none. One relaxed store,
  // outside the seqlock; the master reads it at reap, before Clear().
  std::atomic<uint64_t> seccomp_trap;
  std::atomic<uint64_t> reserved1[1];  // zero; explicit tail to 1088 bytes
};

// The owner word: bits 0-21 the PID (Linux's PID_MAX_LIMIT is 2^22), bits
// 22-63 the process's start time in clock ticks (/proc/PID/stat field 22;
// 2^42 ticks at 100 Hz are 1,390 years of uptime).
inline constexpr int kOwnerPidBits = 22;
inline constexpr uint64_t kOwnerPidMask = (uint64_t{1} << kOwnerPidBits) - 1;
inline constexpr uint64_t kOwnerTicksMask = (uint64_t{1} << (64 - kOwnerPidBits)) - 1;
constexpr uint64_t MakeOwner(int32_t pid, uint64_t start_ticks) {
  return ((start_ticks & kOwnerTicksMask) << kOwnerPidBits) |
         (static_cast<uint64_t>(static_cast<uint32_t>(pid)) & kOwnerPidMask);
}
constexpr int32_t OwnerPid(uint64_t owner) { return static_cast<int32_t>(owner & kOwnerPidMask); }
constexpr uint64_t OwnerTicks(uint64_t owner) { return owner >> kOwnerPidBits; }

// Shared memory holds only lock-free atomics (no lock can be left held by a
// dead process, and every access is data-race-free across processes).
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<int64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(std::atomic<int32_t>::is_always_lock_free);
static_assert(std::atomic<uint16_t>::is_always_lock_free);
static_assert(std::atomic<uint8_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<uint64_t>) == 8 && alignof(std::atomic<uint64_t>) == 8);
static_assert(std::is_standard_layout_v<Header> && std::is_standard_layout_v<Slot>);
static_assert(kUserLen % 8 == 0 && kAddrLen % 8 == 0 && kProtoLen % 8 == 0 && kCmdLen % 8 == 0 &&
              kArgLen % 8 == 0 && kPathLen % 8 == 0 && kServerNameLen % 8 == 0 &&
              kShutdownMsgLen % 8 == 0 && kConfigFileLen % 8 == 0);

// Pinned by FORMAT.md (and by scoreboard_test against FORMAT.md itself).
static_assert(sizeof(Header) == 768);
static_assert(offsetof(Header, magic) == 0);
static_assert(offsetof(Header, layout_version) == 8);
static_assert(offsetof(Header, header_size) == 12);
static_assert(offsetof(Header, slot_size) == 16);
static_assert(offsetof(Header, slot_count) == 20);
static_assert(offsetof(Header, master_pid) == 24);
static_assert(offsetof(Header, generation) == 28);
static_assert(offsetof(Header, master_start_ticks) == 32);
static_assert(offsetof(Header, start_time_ns) == 40);
static_assert(offsetof(Header, max_clients) == 48);
static_assert(offsetof(Header, name_seq) == 52);
static_assert(offsetof(Header, total_sessions) == 56);
static_assert(offsetof(Header, total_bytes) == 64);
static_assert(offsetof(Header, reserved1) == 72);
static_assert(offsetof(Header, shutdown_seq) == 80);
static_assert(offsetof(Header, shutdown_time) == 88);
static_assert(offsetof(Header, deny_time) == 96);
static_assert(offsetof(Header, disconnect_time) == 104);
static_assert(offsetof(Header, server_type) == 112);
static_assert(offsetof(Header, server_name) == 128);
static_assert(offsetof(Header, shutdown_msg) == 192);
static_assert(offsetof(Header, config_file) == 448);
static_assert(offsetof(Header, slot_hwm) == 704);
static_assert(offsetof(Header, features) == 708);
static_assert(offsetof(Header, reserved) == 712);

static_assert(sizeof(Slot) == 1088 && alignof(Slot) == 64);
static_assert(offsetof(Slot, seq) == 0);
static_assert(offsetof(Slot, pid) == 4);
static_assert(offsetof(Slot, generation) == 8);
static_assert(offsetof(Slot, state) == 12);
static_assert(offsetof(Slot, xfer_dir) == 13);
static_assert(offsetof(Slot, session_start_ns) == 16);
static_assert(offsetof(Slot, last_activity_ns) == 24);
static_assert(offsetof(Slot, xfer_start_ns) == 32);
static_assert(offsetof(Slot, xfer_size) == 40);
static_assert(offsetof(Slot, xfer_offset) == 48);
static_assert(offsetof(Slot, sessions_served) == 56);
static_assert(offsetof(Slot, bytes_done) == 64);
static_assert(offsetof(Slot, client_key) == 72);
static_assert(offsetof(Slot, user) == 80);
static_assert(offsetof(Slot, client_addr) == 144);
static_assert(offsetof(Slot, server_addr) == 208);
static_assert(offsetof(Slot, protocol) == 272);
static_assert(offsetof(Slot, cmd) == 280);
static_assert(offsetof(Slot, cwd) == 296);
static_assert(offsetof(Slot, arg) == 552);
static_assert(offsetof(Slot, xfer_path) == 808);
static_assert(offsetof(Slot, owner) == 1064);
static_assert(offsetof(Slot, seccomp_trap) == 1072);
static_assert(offsetof(Slot, reserved1) == 1080);

// Writes `text` into `words` with relaxed stores (kGuardedStore): at most
// N*8-1 bytes (up to an embedded NUL), NUL-padded. Only the field's current writer calls it,
// inside its seqlock (or the header's).
// Slot writers store a word only when its value changes. Publish rewrites
// the whole record, but between two commands only a few of a slot's 17
// cache lines change: skipping the rest keeps them shared with readers
// (ftpwho, a poller) instead of invalidating them on every state change, and
// leaves clean pages of a disk-backed scoreboard clean. Readers are
// unaffected: the seqlock still brackets the write.
template <typename T>
inline void StoreIfChanged(std::atomic<T>& a, T v) {
  if (a.load(std::memory_order_relaxed) != v) a.store(v, kGuardedStore);
}

template <size_t N>
void StoreText(std::atomic<uint64_t> (&words)[N], std::string_view text) {
  char buf[N * 8] = {};
  size_t n = 0;
  for (; n < text.size() && n + 1 < sizeof buf && text[n] != '\0'; ++n) buf[n] = text[n];
  for (size_t i = 0; i < N; ++i) {
    uint64_t w;
    std::memcpy(&w, buf + i * 8, 8);
    StoreIfChanged(words[i], w);
  }
}

// Copies `words` into `out` with relaxed loads (kGuardedLoad) and makes the
// result a clean C string whatever the memory held: always NUL-terminated,
// zero after the first NUL. Callers order these loads with the seqlock's fences.
// Stops loading after the word that holds the first NUL (most text is far
// shorter than its field: ftpwho reads 10,000 slots).
template <size_t N, size_t M>
void LoadText(const std::atomic<uint64_t> (&words)[N], char (&out)[M]) {
  static_assert(M == N * 8, "text field and buffer sizes differ");
  size_t len = M - 1;
  for (size_t i = 0; i < N; ++i) {
    const uint64_t w = words[i].load(kGuardedLoad);
    std::memcpy(out + i * 8, &w, 8);
    // The has-zero-byte test. Its lowest set bit marks the first zero byte
    // exactly (higher bits may be false hits), which on a little-endian
    // host is the first in memory order.
    const uint64_t zero = (w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL;
    if (zero != 0) {
      if constexpr (std::endian::native == std::endian::little) {
        len = i * 8 + static_cast<size_t>(std::countr_zero(zero)) / 8;
      } else {
        len = i * 8 + ::strnlen(out + i * 8, 8);
      }
      break;
    }
  }
  std::memset(out + len, 0, M - len);
}

}  // namespace poolftpd::sb
