// What ftpbench reads about the server under test (--server-pid) from
// /proc: CPU time of a process tree from /proc/PID/stat, and its memory from
// /proc/PID/smaps_rollup. The parsers are pure (unit-tested); the readers
// do blocking file I/O and are called only outside the measured phase or
// while idle sessions are held. Used by the ftpbench process only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "poolftpd/util/result.h"

namespace poolftpd::ftpbench {

// The fields of /proc/PID/stat ftpbench uses; times in clock ticks.
struct ProcStat {
  int pid = 0;
  int ppid = 0;
  uint64_t utime = 0;
  uint64_t stime = 0;
  uint64_t cutime = 0;  // of children this process has reaped
  uint64_t cstime = 0;
};

// Parses one /proc/PID/stat line. The command name (field 2) may hold
// spaces and parentheses, so the fields are counted from the last ')'.
Result<ProcStat> ParseProcStat(std::string_view text);

struct MemoryUsage {
  uint64_t rss_kb = 0;
  uint64_t pss_kb = 0;
  uint64_t uss_kb = 0;  // Private_Clean + Private_Dirty
};

// Parses /proc/PID/smaps_rollup ("Rss:  1234 kB" lines). Rss and Pss must
// be present; missing Private_* count as 0.
Result<MemoryUsage> ParseSmapsRollup(std::string_view text);

// `root` and every descendant of it among `all` (found through ppid), root
// first. Empty if `root` is not in `all`.
std::vector<ProcStat> SelectTree(const std::vector<ProcStat>& all, int root);

// Total CPU of a tree in clock ticks: utime + stime of every member plus
// cutime + cstime, which hold the CPU of descendants already reaped.
uint64_t TreeCpuTicks(const std::vector<ProcStat>& tree);

// Reads /proc/*/stat and returns the tree of `root` (processes that vanish
// while reading are skipped). Error if `root` does not exist.
Result<std::vector<ProcStat>> ReadProcessTree(int root);

// Sums smaps_rollup over `tree`; processes gone meanwhile are skipped and
// counted in `*vanished`. Error if none could be read.
Result<MemoryUsage> ReadTreeMemory(const std::vector<ProcStat>& tree, int* vanished);

// Milliseconds per clock tick (sysconf(_SC_CLK_TCK)).
double MillisPerTick();

}  // namespace poolftpd::ftpbench
