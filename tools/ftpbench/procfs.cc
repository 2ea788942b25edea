#include "procfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <unordered_map>

#include "poolftpd/util/unique_fd.h"

namespace poolftpd::ftpbench {

namespace {

template <class T>
bool ParseUnsigned(std::string_view s, T* out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && ec == std::errc{} && end == s.data() + s.size();
}

// Reads a small /proc file whole. ENOENT/ESRCH mean the process is gone.
Result<std::string> ReadProcFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::FromErrno(errno, "open", path);
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::FromErrno(errno, "read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > (1u << 20)) return Error(ErrorCode::kLimit, path + ": too large");
  }
  return out;
}

}  // namespace

Result<ProcStat> ParseProcStat(std::string_view text) {
  const std::size_t close = text.rfind(')');
  const std::size_t open = text.find('(');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return Error(ErrorCode::kInvalid, "stat: no (comm)");
  }
  ProcStat st;
  std::string_view pid_text = text.substr(0, open);
  while (!pid_text.empty() && pid_text.back() == ' ') pid_text.remove_suffix(1);
  if (!ParseUnsigned(pid_text, &st.pid)) return Error(ErrorCode::kInvalid, "stat: bad pid");
  // Fields after ")": 3 state, 4 ppid, ... 14 utime, 15 stime, 16 cutime,
  // 17 cstime (proc(5), 1-based).
  std::string_view rest = text.substr(close + 1);
  int field = 2;
  while (!rest.empty() && field < 17) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (rest.empty()) break;
    const std::size_t sp = rest.find_first_of(" \n");
    const std::string_view word = rest.substr(0, sp);
    rest.remove_prefix(sp == std::string_view::npos ? rest.size() : sp);
    ++field;
    bool ok = true;
    switch (field) {
      case 4:
        ok = ParseUnsigned(word, &st.ppid);
        break;
      case 14:
        ok = ParseUnsigned(word, &st.utime);
        break;
      case 15:
        ok = ParseUnsigned(word, &st.stime);
        break;
      case 16: {
        // cutime and cstime are signed in the kernel's format; never negative.
        ok = ParseUnsigned(word, &st.cutime);
        break;
      }
      case 17:
        ok = ParseUnsigned(word, &st.cstime);
        break;
      default:
        break;
    }
    if (!ok) return Error(ErrorCode::kInvalid, "stat: bad field " + std::to_string(field));
  }
  if (field < 17) return Error(ErrorCode::kInvalid, "stat: too few fields");
  return st;
}

Result<MemoryUsage> ParseSmapsRollup(std::string_view text) {
  MemoryUsage m;
  bool have_rss = false, have_pss = false;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // the "addr-addr ---p ... [rollup]" header
    const std::string_view key = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    const std::size_t sp = value.find(' ');
    const std::string_view unit = sp == std::string_view::npos ? "" : value.substr(sp + 1);
    value = value.substr(0, sp);
    uint64_t kb = 0;
    if (key != "Rss" && key != "Pss" && key != "Private_Clean" && key != "Private_Dirty") continue;
    if (!ParseUnsigned(value, &kb) || unit != "kB") {
      return Error(ErrorCode::kInvalid, "smaps_rollup: bad " + std::string(key) + " line");
    }
    if (key == "Rss") {
      m.rss_kb = kb;
      have_rss = true;
    } else if (key == "Pss") {
      m.pss_kb = kb;
      have_pss = true;
    } else {
      m.uss_kb += kb;
    }
  }
  if (!have_rss || !have_pss) return Error(ErrorCode::kInvalid, "smaps_rollup: no Rss/Pss");
  return m;
}

std::vector<ProcStat> SelectTree(const std::vector<ProcStat>& all, int root) {
  std::unordered_map<int, std::vector<std::size_t>> children;
  const ProcStat* root_stat = nullptr;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i].pid == root) root_stat = &all[i];
    if (all[i].pid != all[i].ppid) children[all[i].ppid].push_back(i);
  }
  std::vector<ProcStat> tree;
  if (root_stat == nullptr) return tree;
  tree.push_back(*root_stat);
  for (std::size_t next = 0; next < tree.size(); ++next) {
    auto it = children.find(tree[next].pid);
    if (it == children.end()) continue;
    for (std::size_t i : it->second) {
      if (all[i].pid != root) tree.push_back(all[i]);
    }
    children.erase(it);  // a pid is expanded once, whatever the input says
  }
  return tree;
}

uint64_t TreeCpuTicks(const std::vector<ProcStat>& tree) {
  uint64_t sum = 0;
  for (const ProcStat& p : tree) sum += p.utime + p.stime + p.cutime + p.cstime;
  return sum;
}

Result<std::vector<ProcStat>> ReadProcessTree(int root) {
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return Error::FromErrno(errno, "opendir", "/proc");
  std::vector<ProcStat> all;
  while (const dirent* e = ::readdir(dir)) {
    int pid = 0;
    if (!ParseUnsigned(std::string_view(e->d_name), &pid) || pid <= 0) continue;
    auto text = ReadProcFile("/proc/" + std::string(e->d_name) + "/stat");
    if (!text) continue;  // exited meanwhile
    auto st = ParseProcStat(*text);
    if (st) all.push_back(*st);
  }
  ::closedir(dir);
  auto tree = SelectTree(all, root);
  if (tree.empty()) {
    return Error(ErrorCode::kNotFound, "process " + std::to_string(root) + " does not exist");
  }
  return tree;
}

Result<MemoryUsage> ReadTreeMemory(const std::vector<ProcStat>& tree, int* vanished) {
  MemoryUsage sum;
  int read = 0;
  *vanished = 0;
  Error last(ErrorCode::kNotFound, "no process to measure");
  for (const ProcStat& p : tree) {
    auto text = ReadProcFile("/proc/" + std::to_string(p.pid) + "/smaps_rollup");
    if (!text) {
      last = text.error();
      if (text.error().sys_errno() == ENOENT || text.error().sys_errno() == ESRCH) {
        ++*vanished;
        continue;
      }
      return text.error();  // EACCES: say so rather than report too little
    }
    auto m = ParseSmapsRollup(*text);
    if (!m) {
      if (text->empty()) {  // a zombie has no mappings
        ++*vanished;
        continue;
      }
      return m.error();
    }
    sum.rss_kb += m->rss_kb;
    sum.pss_kb += m->pss_kb;
    sum.uss_kb += m->uss_kb;
    ++read;
  }
  if (read == 0) return last;
  return sum;
}

double MillisPerTick() {
  const long hz = ::sysconf(_SC_CLK_TCK);
  return hz > 0 ? 1000.0 / static_cast<double>(hz) : 10.0;
}

}  // namespace poolftpd::ftpbench
