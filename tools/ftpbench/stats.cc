#include "stats.h"

#include <algorithm>
#include <cmath>

namespace poolftpd::ftpbench {

uint64_t PercentileNearestRank(const std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  if (!(p > 0)) return sorted.front();
  if (p >= 100) return sorted.back();
  // Rank ceil(p/100 * n), 1-based. The small epsilon keeps 99% of 100
  // samples at rank 99 despite binary floating point.
  const double exact = p / 100.0 * static_cast<double>(sorted.size());
  std::size_t rank = static_cast<std::size_t>(std::ceil(exact - 1e-9));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

LatencySummary SummarizeLatencies(std::vector<uint32_t>& micros) {
  LatencySummary s;
  if (micros.empty()) return s;
  std::sort(micros.begin(), micros.end());
  s.p50_ms = static_cast<double>(PercentileNearestRank(micros, 50)) / 1000.0;
  s.p99_ms = static_cast<double>(PercentileNearestRank(micros, 99)) / 1000.0;
  s.max_ms = static_cast<double>(micros.back()) / 1000.0;
  return s;
}

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  if (n % 2 == 1) return values[n / 2];
  return (values[n / 2 - 1] + values[n / 2]) / 2.0;
}

void FailureTally::Add(std::string_view text) {
  ++total_;
  auto it = counts_.find(text);
  if (it != counts_.end()) {
    ++it->second;
    return;
  }
  if (counts_.size() >= kMaxDistinct) {
    ++counts_[std::string(kOtherText)];
    return;
  }
  counts_.emplace(std::string(text), 1);
}

std::vector<FailureSample> FailureTally::Top(std::size_t n) const {
  std::vector<FailureSample> all;
  all.reserve(counts_.size());
  for (const auto& [text, count] : counts_) all.push_back({text, count});
  std::stable_sort(all.begin(), all.end(), [](const FailureSample& a, const FailureSample& b) {
    return a.count > b.count;
  });
  if (all.size() > n) all.resize(n);
  return all;
}

}  // namespace poolftpd::ftpbench
