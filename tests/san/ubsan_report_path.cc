// Linked into every program of a sanitizer build that includes UBSan next
// to another sanitizer (make SAN=address,undefined; Makefile, "sanitizer
// builds"). g++ links each sanitizer's runtime as a library of its own, and
// libubsan, when ASan is there too, ignores UBSAN_OPTIONS' log_path: its
// reports go to stderr, which a daemon has sent to /dev/null. This sets
// libubsan's own report path from that option at start-up, and
// PoolftpdOpenSanitizerReports() lets a worker open the report files of
// both runtimes before it chroots (src/worker/privileges.cc). Not part of
// any normal build.
#include <dlfcn.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace {

void* Ubsan() { return ::dlopen("libubsan.so.1", RTLD_NOW | RTLD_NOLOAD); }

// The value of log_path in UBSAN_OPTIONS ("" if none). Options are separated
// by ':', spaces or newlines, as the sanitizers parse them.
std::string UbsanLogPath() {
  const char* opts = std::getenv("UBSAN_OPTIONS");
  if (opts == nullptr) return {};
  const std::string s = opts;
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t end = s.find_first_of(": \n", pos);
    const std::string item =
        s.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (item.rfind("log_path=", 0) == 0) return item.substr(9);
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return {};
}

__attribute__((constructor)) void SetUbsanReportPath() {
  const std::string path = UbsanLogPath();
  void* h = Ubsan();
  if (path.empty() || h == nullptr) return;
  // dlsym on libubsan's handle finds libubsan's own definition, not the
  // one of the runtime loaded first.
  using SetPath = void (*)(const char*);
  if (auto set = reinterpret_cast<SetPath>(::dlsym(h, "__sanitizer_set_report_path"))) {
    set(path.c_str());
  }
}

}  // namespace

// Opens this process's report file of every runtime (they open it at the
// first report otherwise, which after a chroot fails).
extern "C" void PoolftpdOpenSanitizerReports() {
  // A runtime that cannot open its report file dies at once ("Can't open
  // file", exit 1). Under an exhausted RLIMIT_NOFILE that would kill the
  // worker before it can say why it cannot start (test_faults.py,
  // descriptors), so the files are left to the first report when two
  // descriptors are not free.
  const int probe[2] = {::eventfd(0, EFD_CLOEXEC), ::eventfd(0, EFD_CLOEXEC)};
  const bool free_fds = probe[0] >= 0 && probe[1] >= 0;
  for (int fd : probe) {
    if (fd >= 0) ::close(fd);
  }
  if (!free_fds) return;
  using GetPath = const char* (*)();
  if (auto get = reinterpret_cast<GetPath>(::dlsym(RTLD_DEFAULT, "__sanitizer_get_report_path"))) {
    (void)get();
  }
  if (void* h = Ubsan()) {
    if (auto get = reinterpret_cast<GetPath>(::dlsym(h, "__sanitizer_get_report_path"))) {
      (void)get();
    }
  }
}
