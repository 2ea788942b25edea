// Memory that fork() does not copy into children: MADV_DONTFORK mappings for
// the master's own bookkeeping (child table, pid index). The master writes
// those after every fork; kept in ordinary copy-on-write pages, each write
// would leave the page's previous version private to the workers forked
// before it — a few private pages per worker for data a worker never reads.
// Master process only, one thread; a child must never touch this memory
// (it is not mapped there).
#pragma once

#include <cstddef>
#include <new>

namespace poolftpd::util {

// Blocks from MADV_DONTFORK mappings; throws std::bad_alloc. Free with the
// same `bytes`.
void* DontForkAllocate(std::size_t bytes);
void DontForkFree(void* p, std::size_t bytes) noexcept;

// A standard allocator over DontForkAllocate, for containers the master owns.
template <class T>
struct DontForkAllocator {
  using value_type = T;
  DontForkAllocator() noexcept = default;
  template <class U>
  DontForkAllocator(const DontForkAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_alloc();
    static_assert(alignof(T) <= 16, "DontForkAllocate aligns to 16 bytes");
    return static_cast<T*>(DontForkAllocate(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept { DontForkFree(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const DontForkAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace poolftpd::util
