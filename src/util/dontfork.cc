#include "poolftpd/util/dontfork.h"

#include <sys/mman.h>

#include <cstdint>

namespace poolftpd::util {
namespace {

constexpr std::size_t kPage = 4096;
constexpr std::size_t kMinBlock = 16;         // alignment of every block
constexpr std::size_t kMaxSmall = 32 * 1024;  // larger: a mapping of its own
constexpr std::size_t kChunk = 256 * 1024;    // small blocks are carved from these
constexpr int kClasses = 12;                  // 16 B .. 32 KiB, powers of two

struct FreeBlock {
  FreeBlock* next;
};

// One thread (the master's); never touched in a child, where it is not mapped.
struct Arena {
  FreeBlock* free[kClasses] = {};
  char* bump = nullptr;
  std::size_t left = 0;
};

Arena& A() {
  static Arena a;
  return a;
}

void* MapDontFork(std::size_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  if (::madvise(p, bytes, MADV_DONTFORK) != 0) {
    ::munmap(p, bytes);
    throw std::bad_alloc();
  }
  return p;
}

int ClassOf(std::size_t bytes, std::size_t* size) {
  std::size_t s = kMinBlock;
  int c = 0;
  while (s < bytes) {
    s <<= 1;
    ++c;
  }
  *size = s;
  return c;
}

}  // namespace

void* DontForkAllocate(std::size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes > kMaxSmall) return MapDontFork((bytes + kPage - 1) / kPage * kPage);
  std::size_t size = 0;
  const int c = ClassOf(bytes, &size);
  Arena& a = A();
  if (FreeBlock* b = a.free[c]) {
    a.free[c] = b->next;
    return b;
  }
  if (a.left < size) {  // the rest of the old chunk is never touched: not resident
    a.bump = static_cast<char*>(MapDontFork(kChunk));
    a.left = kChunk;
  }
  void* p = a.bump;
  a.bump += size;
  a.left -= size;
  return p;
}

void DontForkFree(void* p, std::size_t bytes) noexcept {
  if (p == nullptr) return;
  if (bytes == 0) bytes = 1;
  if (bytes > kMaxSmall) {
    ::munmap(p, (bytes + kPage - 1) / kPage * kPage);
    return;
  }
  std::size_t size = 0;
  const int c = ClassOf(bytes, &size);
  Arena& a = A();
  a.free[c] = new (p) FreeBlock{a.free[c]};
}

}  // namespace poolftpd::util
