// sendpath: what the sending side of one loopback TCP stream costs, in CPU
// per GB, for each way a file server can send a file from the page cache,
// and how often the receiving process had to be woken. No FTP: a parent
// sends FILE to a forked child that discards it in the kernel (recv with
// MSG_TRUNC), as ftpbench does. This is the instrument behind the README's
// "What the big CPU figure measures" (make bench's big rows).
//
//   sendpath [-r RUNS] [--rcvlowat BYTES] [--same-cpu] FILE
//
// Methods, interleaved round by round so drift hits all alike:
//   sendfile-whole  one blocking sendfile() for the whole file (vsftpd)
//   sendfile-1m     blocking sendfile() in 1 MiB steps (poolftpd)
//   splice-1m       file -> 1 MiB pipe -> socket with splice()
// Sender CPU is the parent's user+system time while sending; on loopback it
// includes the receive processing and wake-ups of the child, which the
// kernel runs in the sender's context.
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr size_t kStep = 1 << 20;

struct Args {
  int runs = 5;
  int rcvlowat = 0;
  bool same_cpu = false;
  std::string file;
};

struct Sample {
  double mb_per_s;
  double cpu_ms_per_gb;       // sender
  double recv_cpu_ms_per_gb;  // receiver
  double wakeups_per_gib;     // receiver's voluntary context switches
};

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "sendpath: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr, "sendpath: %s\nusage: sendpath [-r RUNS] [--rcvlowat BYTES] [--same-cpu] FILE\n",
               why.c_str());
  std::exit(2);
}

int ParsePositive(std::string_view s, int max, const char* opt) {
  // strtol needs a NUL-terminated string that outlives `end`: a named copy,
  // not a temporary (whose buffer is gone when *end is read).
  const std::string text(s);
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || v < 1 || v > max) {
    Usage(std::string("invalid value '") + std::string(s) + "' for " + opt);
  }
  return static_cast<int>(v);
}

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) Usage(std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "-r") {
      a.runs = ParsePositive(value(), 1000, "-r");
    } else if (arg == "--rcvlowat") {
      a.rcvlowat = ParsePositive(value(), 64 << 20, "--rcvlowat");
    } else if (arg == "--same-cpu") {
      a.same_cpu = true;
    } else if (!arg.empty() && arg[0] == '-') {
      Usage("unknown option '" + std::string(arg) + "'");
    } else if (a.file.empty()) {
      a.file = arg;
    } else {
      Usage("unexpected argument '" + std::string(arg) + "'");
    }
  }
  if (a.file.empty()) Usage("no FILE given");
  return a;
}

double CpuSeconds(const rusage& r) {
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
         static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

void PinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (::sched_setaffinity(0, sizeof set, &set) != 0) Die("sched_setaffinity");
}

// Reads until the end of the stream; exits 0 if anything arrived.
[[noreturn]] void Receive(const sockaddr_in& addr, const Args& a, int cpu) {
  if (cpu >= 0) PinTo(cpu);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Die("receiver socket");
  if (a.rcvlowat > 0 &&
      ::setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &a.rcvlowat, sizeof a.rcvlowat) != 0) {
    Die("SO_RCVLOWAT");
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) Die("connect");
  static char scratch[1 << 20];
  uint64_t total = 0;
  for (;;) {
    const ssize_t n = ::recv(fd, scratch, sizeof scratch, MSG_TRUNC);
    if (n > 0) {
      total += static_cast<uint64_t>(n);
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      Die("recv");
    }
  }
  ::_exit(total > 0 ? 0 : 1);
}

// Sends [0, size) of file over sock with `method`; false (errno set) on error.
bool Send(std::string_view method, int sock, int file, off_t size) {
  off_t off = 0;
  if (method == "splice-1m") {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return false;
    const int cap = ::fcntl(p[1], F_SETPIPE_SZ, static_cast<int>(kStep));
    bool ok = cap > 0;
    while (ok && off < size) {
      ssize_t in = ::splice(file, &off, p[1], nullptr, static_cast<size_t>(cap), SPLICE_F_MORE);
      if (in <= 0) {
        ok = in == 0;
        break;
      }
      while (in > 0) {
        const unsigned more = off < size ? SPLICE_F_MORE : 0;
        const ssize_t out = ::splice(p[0], nullptr, sock, nullptr, static_cast<size_t>(in), more);
        if (out <= 0) {
          ok = false;
          break;
        }
        in -= out;
      }
    }
    const int saved = errno;
    ::close(p[0]);
    ::close(p[1]);
    errno = saved;
    return ok;
  }
  const size_t step = method == "sendfile-1m" ? kStep : static_cast<size_t>(size);
  while (off < size) {
    const size_t want = std::min(step, static_cast<size_t>(size - off));
    const ssize_t n = ::sendfile(sock, file, &off, want);
    if (n <= 0) return false;
  }
  return true;
}

Sample RunOnce(std::string_view method, const Args& a, int file, off_t size) {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) Die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    Die("listen on 127.0.0.1");
  }
  const int cpu = a.same_cpu ? ::sched_getcpu() : -1;
  if (cpu >= 0) PinTo(cpu);
  const pid_t child = ::fork();
  if (child < 0) Die("fork");
  if (child == 0) Receive(addr, a, cpu);
  const int sock = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (sock < 0) Die("accept");
  ::close(listener);

  rusage r0{}, r1{}, rc{};
  ::getrusage(RUSAGE_SELF, &r0);
  const auto t0 = std::chrono::steady_clock::now();
  if (!Send(method, sock, file, size)) Die(std::string(method).c_str());
  const auto t1 = std::chrono::steady_clock::now();
  ::getrusage(RUSAGE_SELF, &r1);
  ::close(sock);
  int status = 0;
  if (::wait4(child, &status, 0, &rc) != child) Die("wait4");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "sendpath: the receiver failed (status %d)\n", status);
    std::exit(1);
  }
  const double secs = std::chrono::duration<double>(t1 - t0).count();
  const double gb = static_cast<double>(size) / 1e9;
  const double gib = static_cast<double>(size) / (1 << 30);
  return Sample{gb * 1e3 / secs, (CpuSeconds(r1) - CpuSeconds(r0)) * 1e3 / gb,
                CpuSeconds(rc) * 1e3 / gb, static_cast<double>(rc.ru_nvcsw) / gib};
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = Parse(argc, argv);
  const int file = ::open(a.file.c_str(), O_RDONLY | O_CLOEXEC);
  if (file < 0) Die(a.file.c_str());
  struct stat st{};
  if (::fstat(file, &st) != 0) Die("fstat");
  if (st.st_size < static_cast<off_t>(kStep)) {
    std::fprintf(stderr, "sendpath: %s: need a file of at least 1 MiB\n", a.file.c_str());
    return 1;
  }
  // Warm the page cache, so no method pays for the disk.
  {
    std::vector<char> buf(8 << 20);
    while (::read(file, buf.data(), buf.size()) > 0) {
    }
  }
  const char* const methods[] = {"sendfile-whole", "sendfile-1m", "splice-1m"};
  std::vector<Sample> samples[3];
  std::printf("%-15s %8s %14s %14s %14s\n", "method", "MB/s", "send ms CPU/GB",
              "recv ms CPU/GB", "recv wakeups/GiB");
  std::fflush(stdout);  // before the first fork
  for (int run = 0; run < a.runs; ++run) {
    for (int m = 0; m < 3; ++m) {
      const int k = (m + run) % 3;  // rotate which method goes first
      const Sample s = RunOnce(methods[k], a, file, st.st_size);
      samples[k].push_back(s);
      std::printf("%-15s %8.0f %14.0f %14.0f %14.0f\n", methods[k], s.mb_per_s, s.cpu_ms_per_gb,
                  s.recv_cpu_ms_per_gb, s.wakeups_per_gib);
      std::fflush(stdout);
    }
  }
  std::printf("\nmedians of %d runs%s%s:\n", a.runs, a.rcvlowat ? ", receiver SO_RCVLOWAT " : "",
              a.rcvlowat ? std::to_string(a.rcvlowat).c_str() : "");
  for (int k = 0; k < 3; ++k) {
    std::vector<double> mb, cpu, rcpu, wake;
    for (const Sample& s : samples[k]) {
      mb.push_back(s.mb_per_s);
      cpu.push_back(s.cpu_ms_per_gb);
      rcpu.push_back(s.recv_cpu_ms_per_gb);
      wake.push_back(s.wakeups_per_gib);
    }
    std::printf("%-15s %8.0f %14.0f %14.0f %14.0f   (send CPU %.0f-%.0f)\n", methods[k], Median(mb),
                Median(cpu), Median(rcpu), Median(wake), *std::min_element(cpu.begin(), cpu.end()),
                *std::max_element(cpu.begin(), cpu.end()));
  }
  return 0;
}
