// Figures ftpbench computes from what it measured: latency percentiles, the
// median of repeated timings, and the tally of failure texts. Pure; used by
// the ftpbench process and its unit test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace poolftpd::ftpbench {

// Nearest-rank percentile: the smallest sample such that at least p percent
// of the samples are <= it. `sorted` ascending; p in (0, 100]; 0 when empty.
uint64_t PercentileNearestRank(const std::vector<uint32_t>& sorted, double p);

struct LatencySummary {
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
};
// Sorts `micros` (session latencies in microseconds) and summarises them.
LatencySummary SummarizeLatencies(std::vector<uint32_t>& micros);

// The median (mean of the middle two for an even count); 0 when empty.
double Median(std::vector<double> values);

struct FailureSample {
  std::string text;
  uint64_t count = 0;
};

// Counts failures by text. Distinct texts are bounded: past kMaxDistinct,
// new texts are counted under kOtherText, so a run with ever-changing texts
// cannot grow memory without bound. Every failure is counted.
class FailureTally {
 public:
  static constexpr std::size_t kMaxDistinct = 256;
  static constexpr std::string_view kOtherText = "(other failure texts)";

  void Add(std::string_view text);
  uint64_t total() const { return total_; }
  // The `n` most frequent texts, most frequent first (ties by text).
  std::vector<FailureSample> Top(std::size_t n) const;

 private:
  std::map<std::string, uint64_t, std::less<>> counts_;
  uint64_t total_ = 0;
};

}  // namespace poolftpd::ftpbench
