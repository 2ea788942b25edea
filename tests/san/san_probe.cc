// A test-only program with one deliberate defect per argument, for checking
// that sanitizer reports of a process the tests start are collected and fail
// the test (tests/integration/test_sanitizers.py). Built with the flavour's
// flags as BUILD/tests/san_probe; never installed.
//   san_probe overflow   signed integer overflow (UBSan)
//   san_probe heap       a read after free (ASan)
//   san_probe leak       a leaked allocation (LeakSanitizer, at exit)
//   san_probe race       two threads write one int (TSan)
//   san_probe none       no defect
#include <climits>
#include <cstdio>
#include <string_view>
#include <thread>

namespace {

int g_shared = 0;
void* volatile g_kept = nullptr;

int Overflow(int by) {
  volatile int big = INT_MAX;
  const int v = big + by;  // UB for by > 0
  return v < 0 ? 1 : 0;
}

int HeapRead() {
  int* p = new int(7);
  int* volatile q = p;
  delete p;
  return *q == 42 ? 1 : 0;  // read after free (UBSan cannot see it)
}

int Leak() {
  g_kept = new int[16];
  g_kept = nullptr;  // the only pointer is gone
  return 0;
}

int Race() {
  std::thread a([] { ++g_shared; });
  std::thread b([] { ++g_shared; });
  a.join();
  b.join();
  return g_shared == 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view what = argc == 2 ? argv[1] : "";
  if (what == "overflow") return Overflow(argc - 1);
  if (what == "heap") return HeapRead();
  if (what == "leak") return Leak();
  if (what == "race") return Race();
  if (what == "none") return 0;
  std::fprintf(stderr, "usage: san_probe overflow|heap|leak|race|none\n");
  return 2;
}
