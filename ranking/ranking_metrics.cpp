#include "ranking/ranking_metrics.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace cf::ranking {

int score_batch_rows(int max_rows, int32_t num_items) {
  constexpr int64_t kMaxScoreFloats = int64_t{64} << 20;  // 256 MiB of float scores
  return static_cast<int>(std::max<int64_t>(
      1, std::min<int64_t>(max_rows, kMaxScoreFloats / std::max<int32_t>(num_items, 1))));
}

namespace {

struct RankCounts {
  int64_t candidates = 0, above = 0;          // among the items not excluded
  int64_t all_candidates = 0, all_above = 0;  // among every item
};

struct RawCounts {
  int64_t kept = 0, above_kept = 0, above = 0;
};

// Over items [1, n), the target included: how many are not excluded, how many of those score
// >= t, and how many of all score >= t (comparisons false for NaN on either side). Branch-free,
// in int32 counters (n < 2^31), so the compiler vectorises it.
RawCounts raw_counts_plain(const float* scores, int32_t n, float t, const uint8_t* excluded) {
  int32_t kept = 0, above_kept = 0, above = 0;
  if (excluded) {
#pragma omp simd reduction(+ : kept, above_kept, above)
    for (int32_t j = 1; j < n; ++j) {
      const int32_t k = excluded[j] == 0, a = scores[j] >= t;
      kept += k;
      above_kept += k & a;
      above += a;
    }
  } else {
#pragma omp simd reduction(+ : above)
    for (int32_t j = 1; j < n; ++j) above += int32_t(scores[j] >= t);
    kept = n - 1;
    above_kept = above;
  }
  return {kept, above_kept, above};
}

// The same with AVX-512: 16 items per step, compare masks and popcounts.
__attribute__((target("avx512f,avx512bw,avx512vl,popcnt"))) RawCounts raw_counts_avx512(
    const float* scores, int32_t n, float t, const uint8_t* excluded) {
  const __m512 threshold = _mm512_set1_ps(t);
  int64_t kept = 0, above_kept = 0, above = 0;
  int32_t j = 1;
  for (; j + 16 <= n; j += 16) {
    const __mmask16 at_least =
        _mm512_cmp_ps_mask(_mm512_loadu_ps(scores + j), threshold, _CMP_GE_OQ);
    above += _mm_popcnt_u32(at_least);
    if (excluded) {
      const __m128i marks = _mm_loadu_si128(reinterpret_cast<const __m128i*>(excluded + j));
      const __mmask16 keep = _mm_cmpeq_epi8_mask(marks, _mm_setzero_si128());
      kept += _mm_popcnt_u32(keep);
      above_kept += _mm_popcnt_u32(keep & at_least);
    }
  }
  const RawCounts tail = raw_counts_plain(scores + (j - 1), n - (j - 1), t,
                                          excluded ? excluded + (j - 1) : nullptr);
  if (!excluded) return {n - 1, above + tail.above, above + tail.above};
  return {kept + tail.kept, above_kept + tail.above_kept, above + tail.above};
}

// The counts over items [1, num_items) with the target counted like any item, turned into the
// target's: it is always ranked and never above itself.
RankCounts target_counts(const RawCounts& raw, int32_t num_items, float target_score,
                         bool target_excluded) {
  const int64_t target_kept = target_excluded ? 0 : 1;
  const int64_t target_at_least = target_score >= target_score;  // false for NaN
  RankCounts counts;
  counts.candidates = raw.kept - target_kept;
  counts.above = raw.above_kept - (target_kept & target_at_least);
  counts.all_candidates = num_items - 2;
  counts.all_above = raw.above - target_at_least;
  return counts;
}

RankCounts count_ranks(const float* scores, int32_t num_items, int32_t target,
                       const uint8_t* excluded) {
  static const bool avx512 = __builtin_cpu_supports("avx512bw") &&
                             __builtin_cpu_supports("avx512vl");
  const float target_score = scores[target];
  const RawCounts raw = avx512 ? raw_counts_avx512(scores, num_items, target_score, excluded)
                               : raw_counts_plain(scores, num_items, target_score, excluded);
  return target_counts(raw, num_items, target_score, excluded && excluded[target] != 0);
}

void store_ranks(const RankCounts& c, float target_score, int64_t* filtered, int64_t* unfiltered) {
  const bool nan = std::isnan(target_score);
  *filtered = 1 + (nan ? c.candidates : c.above);
  *unfiltered = 1 + (nan ? c.all_candidates : c.all_above);
}

}  // namespace

SortedScores::SortedScores(const float* base, int32_t num_items) {
  for (int32_t j = 1; j < num_items; ++j) {
    if (!std::isnan(base[j])) sorted_.push_back(base[j]);
  }
  std::sort(sorted_.begin(), sorted_.end());
}

int64_t SortedScores::count_at_least(float t) const {
  if (std::isnan(t)) return 0;
  return static_cast<int64_t>(sorted_.end() - std::lower_bound(sorted_.begin(), sorted_.end(), t));
}

void full_ranks_over_base(const float* scores, const float* base, const SortedScores& sorted_base,
                          int32_t num_items, int32_t target, const std::vector<int32_t>& changed,
                          const std::vector<int32_t>& excluded, int64_t* filtered,
                          int64_t* unfiltered) {
  CF_CHECK(target > 0 && target < num_items, "target token out of range");
  const float t = scores[target];
  // The pass over the catalogue, rebuilt: every item counted at its base score, the changed
  // ones moved to their own, and the excluded ones taken out.
  RawCounts raw;
  raw.above = sorted_base.count_at_least(t);
  for (int32_t j : changed) raw.above += int64_t(scores[j] >= t) - int64_t(base[j] >= t);
  raw.above_kept = raw.above;
  bool target_excluded = false;
  for (int32_t j : excluded) {
    raw.above_kept -= int64_t(scores[j] >= t);
    target_excluded = target_excluded || j == target;
  }
  raw.kept = num_items - 1 - static_cast<int64_t>(excluded.size());
  store_ranks(target_counts(raw, num_items, t, target_excluded), t, filtered, unfiltered);
}

int64_t full_rank(const float* scores, int32_t num_items, int32_t target,
                  const uint8_t* excluded) {
  CF_CHECK(target > 0 && target < num_items, "target token out of range");
  const RankCounts c = count_ranks(scores, num_items, target, excluded);
  return 1 + (std::isnan(scores[target]) ? c.candidates : c.above);
}

void full_ranks_filtered_and_not(const float* scores, int32_t num_items, int32_t target,
                                 const uint8_t* excluded, int64_t* filtered,
                                 int64_t* unfiltered) {
  CF_CHECK(target > 0 && target < num_items, "target token out of range");
  store_ranks(count_ranks(scores, num_items, target, excluded), scores[target], filtered,
              unfiltered);
}

void full_ranks_with_bonus(const float* scores, int32_t num_items, int32_t target,
                           const uint8_t* excluded,
                           const std::vector<std::pair<int32_t, float>>& bonus,
                           const float* weights, int num_weights, int64_t* ranks) {
  CF_CHECK(target > 0 && target < num_items, "target token out of range");
  CF_CHECK(num_weights >= 1 && num_weights <= 16, "between 1 and 16 weights");
  float target_bonus = 0.0f;
  for (const auto& [item, b] : bonus) {
    if (item == target) target_bonus = b;
  }
  const bool target_has_bonus = target_bonus != 0.0f;
  float threshold[16];
  for (int w = 0; w < num_weights; ++w) {
    threshold[w] = target_has_bonus ? scores[target] + weights[w] * target_bonus : scores[target];
  }
  // Every candidate as if it had no bonus...
  int64_t candidates = 0, above[16] = {0};
  for (int32_t j = 1; j < num_items; ++j) {
    if (j == target || (excluded && excluded[j])) continue;
    ++candidates;
    const float s = scores[j];
    for (int w = 0; w < num_weights; ++w) above[w] += s >= threshold[w] ? 1 : 0;
  }
  // ...then the candidates with one, recounted with it.
  for (const auto& [j, b] : bonus) {
    if (j <= 0 || j >= num_items || j == target || (excluded && excluded[j])) continue;
    const float s = scores[j];
    for (int w = 0; w < num_weights; ++w) {
      const float fused = s + weights[w] * b;
      above[w] += (fused >= threshold[w] ? 1 : 0) - (s >= threshold[w] ? 1 : 0);
    }
  }
  for (int w = 0; w < num_weights; ++w) {
    ranks[w] = std::isnan(threshold[w]) ? 1 + candidates : 1 + above[w];
  }
}

int64_t sampled_rank(const float* scores, int32_t target, const std::vector<int32_t>& negatives) {
  const float target_score = scores[target];
  if (std::isnan(target_score)) return 1 + static_cast<int64_t>(negatives.size());
  int64_t above = 0;
  for (int32_t j : negatives) above += scores[j] >= target_score ? 1 : 0;
  return 1 + above;
}

RankingAccumulator::RankingAccumulator(std::vector<int> cutoffs)
    : cutoffs_(std::move(cutoffs)), hits_(cutoffs_.size(), 0.0), gains_(cutoffs_.size(), 0.0) {}

void RankingAccumulator::add(int64_t rank) {
  CF_CHECK(rank >= 1, "ranks start at 1");
  for (size_t i = 0; i < cutoffs_.size(); ++i) {
    if (rank <= cutoffs_[i]) {
      hits_[i] += 1.0;
      gains_[i] += 1.0 / std::log2(static_cast<double>(rank) + 1.0);
    }
  }
  reciprocal_rank_sum_ += 1.0 / static_cast<double>(rank);
  ++count_;
}

void RankingAccumulator::merge(const RankingAccumulator& other) {
  CF_CHECK(other.cutoffs_ == cutoffs_, "merging accumulators with different cut-offs");
  for (size_t i = 0; i < cutoffs_.size(); ++i) {
    hits_[i] += other.hits_[i];
    gains_[i] += other.gains_[i];
  }
  reciprocal_rank_sum_ += other.reciprocal_rank_sum_;
  count_ += other.count_;
}

size_t RankingAccumulator::cutoff_index(int k) const {
  auto it = std::find(cutoffs_.begin(), cutoffs_.end(), k);
  CF_CHECK(it != cutoffs_.end(), "cut-off not tracked: " + std::to_string(k));
  return static_cast<size_t>(it - cutoffs_.begin());
}

double RankingAccumulator::hit_rate(int k) const {
  return count_ ? hits_[cutoff_index(k)] / static_cast<double>(count_) : 0.0;
}

double RankingAccumulator::ndcg(int k) const {
  return count_ ? gains_[cutoff_index(k)] / static_cast<double>(count_) : 0.0;
}

double RankingAccumulator::mrr() const {
  return count_ ? reciprocal_rank_sum_ / static_cast<double>(count_) : 0.0;
}

Json RankingAccumulator::to_json() const {
  Json out = Json::object();
  for (int k : cutoffs_) out["hr@" + std::to_string(k)] = hit_rate(k);
  for (int k : cutoffs_) out["ndcg@" + std::to_string(k)] = ndcg(k);
  out["mrr"] = mrr();
  out["n"] = count_;
  return out;
}

}  // namespace cf::ranking
