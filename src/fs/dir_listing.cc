// DirListing: LIST / NLST / MLSD of one directory. Read() overlaps the
// getdents64 calls (one thread) with the per-entry fstatat calls (helper
// threads), then sorts compact keys; Emit() formats fixed runs of entries on
// several threads and hands them to the sink strictly in order, so sending
// overlaps formatting. See listing.h for the contract.
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "format_internal.h"
#include "poolftpd/fs/listing.h"
#include "poolftpd/util/limits.h"
#include "poolftpd/util/unique_fd.h"

namespace poolftpd::fs {
namespace {

using internal::Attr;
using internal::AttrOf;

// getdents64 buffer: ~2,000 short names per call. Bigger buffers save little
// (the kernel's cost is per entry) and delay the first batch the stat
// helpers can start on.
constexpr size_t kGetdentsBytes = 64 * 1024;
// Names are copied into blocks of this size (a name is at most 255 bytes).
constexpr size_t kArenaBlock = 64 * 1024;
// Records live in blocks of 4,096 so they never move while helpers read them.
constexpr unsigned kRecBlockShift = 12;
constexpr size_t kRecBlock = size_t{1} << kRecBlockShift;
constexpr size_t kRecBlocks = limits::kMaxListEntries / kRecBlock + 2;  // + "." and ".."
// Below this many names a listing uses only the calling thread: a thread
// costs ~50 us, 2,048 fstatat calls ~3 ms here.
constexpr size_t kParallelMin = 2048;
constexpr size_t kMaxThreads = 4;  // the calling thread included
// Names a stat helper claims at a time.
constexpr uint32_t kStatBatch = 64;
// Emit formats and sends in chunks of this many entries (~70 KiB of LIST,
// ~170 KiB of MLSD text) and lets helpers run at most kWindow chunks ahead of
// the sink, which bounds the text held in memory.
constexpr size_t kChunkEntries = 1024;
constexpr uint32_t kWindow = 16;

// `published` holds the count of names ready for stat, and this bit once
// reading is over (a change of value wakes waiting helpers).
constexpr uint32_t kReadDone = 1u << 31;
static_assert(limits::kMaxListEntries + 2 < kReadDone, "entry count must fit below kReadDone");

enum RecState : uint8_t { kPending, kStatOk, kGone };
enum Special : uint8_t { kNormal, kDot, kDotDot };

struct Rec {
  const char* name;  // NUL-terminated, in the arena
  uint32_t len;
  uint8_t state;    // RecState; written by the thread that stats it
  uint8_t special;  // Special
  Attr attr;        // lstat of the entry when state == kStatOk
};

// Helper threads block every signal: the session thread alone waits for
// them (in ppoll), as if there were no helpers.
class BlockSignals {
 public:
  BlockSignals() {
    sigset_t all;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &old_);
  }
  ~BlockSignals() { ::pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  BlockSignals(const BlockSignals&) = delete;
  BlockSignals& operator=(const BlockSignals&) = delete;

 private:
  sigset_t old_;
};

// Helpers besides the calling thread: one per further core, up to kMaxThreads.
// Asked once per process (in a chroot, glibc's probe of /sys fails first).
size_t HelperCount() {
  static const size_t n =
      std::clamp<size_t>(std::thread::hardware_concurrency(), 1, kMaxThreads) - 1;
  return n;
}

// Starts up to `n` threads running `fn` into `out`; fewer when the system
// refuses (the caller's loop then does the work itself).
template <class Fn>
void Spawn(size_t n, Fn fn, std::vector<std::thread>* out) {
  out->reserve(n);
  BlockSignals blocked;
  try {
    for (size_t i = 0; i < n; ++i) out->emplace_back(fn);
  } catch (const std::system_error&) {
    // EAGAIN (RLIMIT_NPROC, memory): carry on with what started.
  }
}

// readlinkat into `buf` (kMaxPath + 1 bytes); "" when it cannot be read.
std::string_view ReadLink(int dirfd, const char* name, char* buf) {
  const ssize_t n = ::readlinkat(dirfd, name, buf, limits::kMaxPath + 1);
  if (n < 0) return {};
  // A target longer than kMaxPath is cut; it is display-only.
  return std::string_view(buf, static_cast<size_t>(std::min<ssize_t>(n, limits::kMaxPath)));
}

std::string JoinVpath(std::string_view dir, std::string_view name) {
  std::string p;
  p.reserve(dir.size() + 1 + name.size());
  p.append(dir);
  if (p.empty() || p.back() != '/') p.push_back('/');
  p.append(name);
  return p;
}

// The first 8 bytes of a name as a big-endian number, zero-padded: ordering
// these numbers orders the names by their first 8 bytes (names hold no NUL).
uint64_t NameHead(const char* s, uint32_t len) {
  uint64_t v = 0;
  std::memcpy(&v, s, std::min<uint32_t>(len, 8));
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
  return v;
}

}  // namespace

struct DirListing::State {
  const Root* root = nullptr;
  std::string base;  // the directory's virtual path
  UniqueFd dir;
  bool cut = false;

  std::vector<std::unique_ptr<char[]>> arena;
  size_t arena_used = kArenaBlock;
  std::unique_ptr<std::unique_ptr<Rec[]>[]> blocks { new std::unique_ptr<Rec[]>[ kRecBlocks ] };
  uint32_t count = 0;  // records so far (reader thread)
  struct Key {
    uint64_t head;  // NameHead
    uint32_t idx;
  };
  std::vector<Key> keys;        // one per record, until Sort
  std::vector<uint32_t> order;  // record indexes in name order

  // Read's stat helpers: they take batches of [claim, published) in the
  // order getdents returned the names.
  std::atomic<uint32_t> published{0};
  std::atomic<uint32_t> claim{0};
  std::vector<std::thread> helpers;

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() { StopHelpers(); }

  Rec& rec(uint32_t i) { return blocks[i >> kRecBlockShift][i & (kRecBlock - 1)]; }

  void Add(const char* name, uint32_t len, uint8_t state, uint8_t special, const Attr& attr) {
    if (arena_used + len + 1 > kArenaBlock) {
      arena.emplace_back(new char[kArenaBlock]);
      arena_used = 0;
    }
    char* p = arena.back().get() + arena_used;
    std::memcpy(p, name, len);
    p[len] = '\0';
    arena_used += len + 1;
    const uint32_t i = count;
    if ((i & (kRecBlock - 1)) == 0) blocks[i >> kRecBlockShift].reset(new Rec[kRecBlock]);
    rec(i) = Rec{p, len, state, special, attr};
    keys.push_back({NameHead(p, len), i});
    ++count;
  }

  void StatRec(Rec& r) const {
    if (r.state != kPending) return;
    struct stat st;
    // SECURITY (S4): `r.name` is one component from getdents (no '/'); with
    // AT_SYMLINK_NOFOLLOW the stat cannot leave the directory.
    if (::fstatat(dir.get(), r.name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
      r.attr = AttrOf(st);
      r.state = kStatOk;
    } else {
      r.state = kGone;  // vanished since getdents
    }
  }

  // Stats published batches; a helper waits for more until reading is over,
  // the calling thread (wait = false) returns when none is left.
  void StatPublished(bool wait) {
    for (;;) {
      const uint32_t pub = published.load(std::memory_order_acquire);
      const uint32_t avail = pub & ~kReadDone;
      uint32_t i = claim.load(std::memory_order_relaxed);
      if (i >= avail) {
        if ((pub & kReadDone) || !wait) return;
        published.wait(pub, std::memory_order_acquire);
        continue;
      }
      const uint32_t end = std::min(avail, i + kStatBatch);
      if (!claim.compare_exchange_weak(i, end, std::memory_order_relaxed)) continue;
      for (uint32_t k = i; k < end; ++k) StatRec(rec(k));
    }
  }

  void Publish(bool done) {
    published.store(count | (done ? kReadDone : 0), std::memory_order_release);
    published.notify_all();
  }

  void StopHelpers() {
    if (helpers.empty()) return;
    claim.store(kReadDone, std::memory_order_relaxed);  // nothing left to take
    published.store(kReadDone, std::memory_order_release);
    published.notify_all();
    for (auto& t : helpers) t.join();
    helpers.clear();
  }

  // Byte order (as string_view compares, unsigned), locale-free. An LSD
  // radix sort on the 8-byte heads (skipping bytes that no key varies in)
  // decides nearly always; runs of equal heads then compare the rest.
  void Sort() {
    const uint32_t n = count;
    std::vector<Key> tmp(n);
    uint32_t hist[8][256] = {};
    for (const Key& k : keys) {
      for (unsigned d = 0; d < 8; ++d) ++hist[d][(k.head >> (8 * d)) & 0xff];
    }
    for (unsigned d = 0; d < 8; ++d) {
      if (n == 0 || hist[d][(keys[0].head >> (8 * d)) & 0xff] == n) continue;  // all alike
      uint32_t pos[256];
      uint32_t sum = 0;
      for (unsigned v = 0; v < 256; ++v) {
        pos[v] = sum;
        sum += hist[d][v];
      }
      for (const Key& k : keys) tmp[pos[(k.head >> (8 * d)) & 0xff]++] = k;
      keys.swap(tmp);
    }
    auto tail = [this](uint32_t idx) {
      const Rec& r = rec(idx);
      return r.len > 8 ? std::string_view(r.name + 8, r.len - 8) : std::string_view();
    };
    for (uint32_t i = 0; i < n;) {
      uint32_t j = i + 1;
      while (j < n && keys[j].head == keys[i].head) ++j;
      if (j - i > 1) {
        std::sort(keys.begin() + i, keys.begin() + j,
                  [&](const Key& a, const Key& b) { return tail(a.idx) < tail(b.idx); });
      }
      i = j;
    }
    order.resize(n);
    for (uint32_t i = 0; i < n; ++i) order[i] = keys[i].idx;
    std::vector<Key>().swap(keys);
  }
};

DirListing::DirListing(std::unique_ptr<State> s) : s_(std::move(s)) {}
DirListing::DirListing(DirListing&&) noexcept = default;
DirListing& DirListing::operator=(DirListing&&) noexcept = default;
DirListing::~DirListing() = default;

bool DirListing::cut() const { return s_->cut; }

Result<DirListing> DirListing::Read(const Root& root, std::string_view vpath, bool all,
                                    std::string_view pattern) {
  auto s = std::make_unique<State>();
  auto dirfd = root.Open(vpath, O_RDONLY | O_DIRECTORY);
  if (!dirfd) return dirfd.error();
  struct stat dir_st {};
  if (::fstat(dirfd->get(), &dir_st) != 0) return Error::FromErrno(errno, "fstat", vpath);
  s->root = &root;
  s->base.assign(vpath);
  s->dir = std::move(*dirfd);
  const int dfd = s->dir.get();
  auto wanted = [&](std::string_view name) { return pattern.empty() || GlobMatch(pattern, name); };

  if (all) {
    if (wanted(".")) s->Add(".", 1, kStatOk, kDot, AttrOf(dir_st));
    if (wanted("..")) {
      // The parent through the root: at "/" that is the root itself.
      auto parent_path = Normalize(s->base, "..");
      auto parent =
          parent_path ? root.Stat(*parent_path) : Result<struct stat>(parent_path.error());
      if (parent) s->Add("..", 2, kStatOk, kDotDot, AttrOf(*parent));
    }
  }

  std::unique_ptr<char[]> buf(new char[kGetdentsBytes]);
  const size_t helpers = HelperCount();
  bool stop = false;
  while (!stop) {
    const ssize_t n = ::getdents64(dfd, buf.get(), kGetdentsBytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      return Error::FromErrno(err, "getdents64", vpath);  // ~State stops the helpers
    }
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      const auto* d = reinterpret_cast<const struct dirent64*>(buf.get() + off);
      off += d->d_reclen;
      const char* name = d->d_name;
      if (name[0] == '.') {
        if (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')) continue;
        if (!all) continue;
      }
      const size_t len = std::strlen(name);
      if (!wanted(std::string_view(name, len))) continue;
      if (s->count >= limits::kMaxListEntries) {
        s->cut = true;
        stop = true;
        break;
      }
      s->Add(name, static_cast<uint32_t>(len), kPending, kNormal, Attr{});
    }
    s->Publish(false);
    if (s->helpers.empty() && helpers > 0 && s->count >= kParallelMin) {
      State* st = s.get();
      Spawn(
          helpers, [st] { st->StatPublished(/*wait=*/true); }, &s->helpers);
    }
  }
  s->Publish(true);
  s->Sort();  // the helpers keep stat-ing meanwhile
  s->StatPublished(/*wait=*/false);
  s->StopHelpers();  // every record is stat'ed once they are joined
  return DirListing(std::move(s));
}

namespace {

// One thread's view while formatting: owner names and the UTC day cached.
class LineCtx {
 public:
  LineCtx(const NameLookup* names, std::mutex* mu) : names_(names), mu_(mu) {}

  // LIST's owner columns: the name, else the number.
  std::string_view User(uint32_t id) { return Cached(false, id, &user_).name; }
  std::string_view Group(uint32_t id) { return Cached(true, id, &group_).name; }
  // UNIX.ownername/groupname: the same, or the number if the name cannot be
  // a fact value.
  std::string_view FactUser(uint32_t id) { return Cached(false, id, &user_).fact; }
  std::string_view FactGroup(uint32_t id) { return Cached(true, id, &group_).fact; }
  internal::UtcCache* utc() { return &utc_; }

 private:
  struct Slot {
    bool set = false;
    uint32_t id = 0;
    std::string name;
    std::string fact;
  };
  // The hit is a compare (owners repeat in a directory); the look-up is out
  // of line.
  const Slot& Cached(bool is_group, uint32_t id, Slot* slot) {
    if (!slot->set || slot->id != id) [[unlikely]]
      Fill(is_group, id, slot);
    return *slot;
  }
  [[gnu::noinline]] void Fill(bool is_group, uint32_t id, Slot* slot) {
    std::string s;
    if (names_ != nullptr && *names_) {
      std::lock_guard<std::mutex> lock(*mu_);  // the lookup's cache is not thread-safe
      s = (*names_)(is_group, id);
    }
    slot->name = s.empty() ? std::to_string(id) : std::move(s);
    slot->fact = internal::FactSafe(slot->name) ? slot->name : std::to_string(id);
    slot->id = id;
    slot->set = true;
  }

  const NameLookup* names_;
  std::mutex* mu_;
  Slot user_, group_;
  internal::UtcCache utc_;
};

// A chunk's text. Its bytes are not zeroed before they are written (a
// std::string's resize would store every byte of a big listing twice).
class ChunkText {
 public:
  std::string_view view() const { return {data_.get(), size_}; }
  void Release() {
    data_.reset();
    size_ = cap_ = 0;
  }

 private:
  friend class TextBuffer;
  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t cap_ = 0;
};

// Fills a ChunkText through a raw pointer: Reserve(n) returns room for n
// bytes at the end, Commit(p) keeps what was written up to p; the text's
// size is the committed size when the buffer goes away.
class TextBuffer {
 public:
  TextBuffer(ChunkText* t, size_t expect) : t_(t) { Grow(std::max<size_t>(expect, 4096)); }
  ~TextBuffer() { t_->size_ = used_; }
  TextBuffer(const TextBuffer&) = delete;
  TextBuffer& operator=(const TextBuffer&) = delete;

  char* Reserve(size_t n) {
    if (t_->cap_ - used_ < n) Grow(std::max(t_->cap_ * 2, used_ + n));
    return t_->data_.get() + used_;
  }
  void Commit(const char* end) { used_ = static_cast<size_t>(end - t_->data_.get()); }

 private:
  void Grow(size_t cap) {
    std::unique_ptr<char[]> bigger(new char[cap]);  // default-initialised: not zeroed
    if (used_ > 0) std::memcpy(bigger.get(), t_->data_.get(), used_);
    t_->data_ = std::move(bigger);
    t_->cap_ = cap;
  }

  ChunkText* t_;
  size_t used_ = 0;
};

// Entries Emit looks ahead when prefetching.
constexpr size_t kPrefetch = 4;

enum ChunkState : uint8_t { kChunkPending, kChunkReady, kChunkFailed };

}  // namespace

bool DirListing::Emit(const EmitOptions& opts, const Sink& sink) {
  State& s = *s_;
  const uint32_t nchunks =
      static_cast<uint32_t>((s.order.size() + kChunkEntries - 1) / kChunkEntries);
  std::mutex names_mu;
  std::vector<ChunkText> texts(nchunks);
  std::unique_ptr<std::atomic<uint8_t>[]> ready(new std::atomic<uint8_t>[nchunks]);
  for (uint32_t c = 0; c < nchunks; ++c) ready[c].store(kChunkPending, std::memory_order_relaxed);
  std::atomic<uint32_t> claim{0};
  std::atomic<uint32_t> sent{0};  // chunks handed to the sink
  std::atomic<bool> abort{false};
  const int dfd = s.dir.get();
  // Credentials for perm, read once per listing (not per entry).
  Access own;
  if (opts.style == ListStyle::kFacts && opts.access == nullptr) own = Access::OfProcess();
  const Access& who = opts.access != nullptr ? *opts.access : own;
  const NameCoding coding = opts.coding;

  auto format = [&](uint32_t c, LineCtx* ctx) {
    const size_t from = size_t{c} * kChunkEntries;
    const size_t to = std::min(s.order.size(), from + kChunkEntries);
    TextBuffer out(&texts[c], (to - from) * (opts.style == ListStyle::kFacts ? 176
                                             : opts.style == ListStyle::kLs  ? 72
                                                                             : 16));
    char target[limits::kMaxPath + 1];
    for (size_t pos = from; pos < to; ++pos) {
      // The records are in getdents order and read here in name order:
      // fetch a few ahead (record, then its name) to hide the cache misses.
      if (pos + 2 * kPrefetch < to) __builtin_prefetch(&s.rec(s.order[pos + 2 * kPrefetch]));
      if (pos + kPrefetch < to) __builtin_prefetch(s.rec(s.order[pos + kPrefetch]).name);
      const Rec& r = s.rec(s.order[pos]);
      if (r.state != kStatOk) continue;  // vanished since getdents
      const std::string_view name(r.name, r.len);
      char* p = nullptr;
      switch (opts.style) {
        case ListStyle::kNames:
          if (opts.skip_dot_dirs && r.special != kNormal) continue;
          p = internal::PutName(out.Reserve(2 * name.size() + 2), name, coding);
          break;
        case ListStyle::kLs: {
          const std::string_view link =
              S_ISLNK(r.attr.mode) ? ReadLink(dfd, r.name, target) : std::string_view();
          const std::string_view user = ctx->User(r.attr.uid);
          const std::string_view group = ctx->Group(r.attr.gid);
          p = out.Reserve(
              internal::LsLineBound(user.size(), group.size(), name.size(), link.size()) + 2);
          p = internal::PutLsLine(p, r.attr, name, link, opts.now, user, group, ctx->utc(), coding);
          break;
        }
        case ListStyle::kFacts: {
          if (opts.skip_dot_dirs && r.special != kNormal) continue;
          const std::string_view kind = r.special == kDot      ? "cdir"
                                        : r.special == kDotDot ? "pdir"
                                                               : "";
          Attr a = r.attr;
          bool dangling = false;
          if (S_ISLNK(a.mode)) {
            // SECURITY (S4): the link's target is attacker-influenced; it is
            // resolved only through openat2 under the root, so a link out
            // of the tree shows as a dangling symlink, never as its target.
            auto t = s.root->Stat(JoinVpath(s.base, name));
            if (t) a = AttrOf(*t);
            dangling = !t;
          }
          const std::string_view user =
              (opts.facts & kFactUnixOwnerName) ? ctx->FactUser(a.uid) : std::string_view();
          const std::string_view group =
              (opts.facts & kFactUnixGroupName) ? ctx->FactGroup(a.gid) : std::string_view();
          p = out.Reserve(internal::FactsBound(name.size(), user.size(), group.size()) + 2);
          p = internal::PutFacts(p, a, dangling, kind, name, opts.facts, ctx->utc(), who, user,
                                 group, coding);
          break;
        }
      }
      *p++ = '\r';
      *p++ = '\n';
      out.Commit(p);
    }
  };
  auto run_chunk = [&](uint32_t c, LineCtx* ctx) {
    uint8_t result = kChunkReady;
    try {
      format(c, ctx);
    } catch (...) {  // bad_alloc: this listing fails, the session goes on
      result = kChunkFailed;
    }
    ready[c].store(result, std::memory_order_release);
    ready[c].notify_all();
  };
  auto helper = [&] {
    LineCtx ctx(opts.names, &names_mu);
    for (;;) {
      if (abort.load(std::memory_order_acquire)) return;
      uint32_t c = claim.load(std::memory_order_relaxed);
      if (c >= nchunks) return;
      const uint32_t done = sent.load(std::memory_order_acquire);
      if (uint64_t{c} >= uint64_t{done} + kWindow) {
        sent.wait(done, std::memory_order_acquire);
        continue;
      }
      if (!claim.compare_exchange_weak(c, c + 1, std::memory_order_relaxed)) continue;
      run_chunk(c, &ctx);
    }
  };

  std::vector<std::thread> helpers;
  struct Joiner {
    std::vector<std::thread>* threads;
    std::atomic<bool>* abort;
    std::atomic<uint32_t>* claim;
    std::atomic<uint32_t>* sent;
    uint32_t nchunks;
    ~Joiner() {
      abort->store(true, std::memory_order_release);
      claim->store(nchunks, std::memory_order_relaxed);
      sent->store(UINT32_MAX, std::memory_order_release);
      sent->notify_all();
      for (auto& t : *threads) t.join();
    }
  } joiner{&helpers, &abort, &claim, &sent, nchunks};
  if (nchunks >= 2) Spawn(std::min<size_t>(HelperCount(), nchunks - 1), helper, &helpers);

  LineCtx ctx(opts.names, &names_mu);
  for (uint32_t next = 0; next < nchunks;) {
    const uint8_t st = ready[next].load(std::memory_order_acquire);
    if (st == kChunkFailed) return false;
    if (st == kChunkReady) {
      const bool ok = sink(texts[next].view());
      texts[next].Release();
      ++next;
      sent.store(next, std::memory_order_release);
      sent.notify_all();
      if (!ok) return false;
      continue;
    }
    // Not formatted yet: format the next unclaimed chunk here (it is `next`
    // itself when no helper has taken it), else wait for the helper.
    uint32_t c = claim.load(std::memory_order_relaxed);
    if (c < nchunks && c < next + kWindow) {
      if (claim.compare_exchange_weak(c, c + 1, std::memory_order_relaxed)) run_chunk(c, &ctx);
      continue;
    }
    ready[next].wait(kChunkPending, std::memory_order_acquire);
  }
  return true;
}

}  // namespace poolftpd::fs
