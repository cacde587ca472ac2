#include "eval/negative_sampler.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/random.h"

namespace cf::eval {

namespace {
double uniform01(uint64_t& state) {  // [0, 1) with 53 random bits
  return static_cast<double>(splitmix64_next(state) >> 11) * 0x1.0p-53;
}
}  // namespace

const char* negative_distribution_name(NegativeDistribution d) {
  return d == NegativeDistribution::kUniform ? "uniform" : "popularity";
}

NegativeSampler::NegativeSampler(NegativeDistribution distribution,
                                 const std::vector<int64_t>& item_counts)
    : distribution_(distribution), num_items_(static_cast<int32_t>(item_counts.size())) {
  CF_CHECK(num_items_ >= 1, "item_counts must include the padding entry");
  if (distribution_ == NegativeDistribution::kPopularity) {
    cumulative_.resize(static_cast<size_t>(num_items_), 0.0);
    for (int32_t j = 1; j < num_items_; ++j) {
      cumulative_[j] = cumulative_[j - 1] + static_cast<double>(std::max<int64_t>(0, item_counts[j]));
    }
    guide_.resize(kGuideCells + 1);
    for (int k = 0; k <= kGuideCells; ++k) guide_[k] = upper_token(guide_point(k));
  }
}

// Where guide cell k starts: the table and the draws must round it alike, so one expression.
double NegativeSampler::guide_point(int k) const { return k * (cumulative_.back() / kGuideCells); }

int32_t NegativeSampler::upper_token(double target) const {
  return upper_token_between(target, 1, num_items_);
}

// The first token in [first, last) whose cumulative weight exceeds `target`, or the last token
// when none does (a target at the very top).
int32_t NegativeSampler::upper_token_between(double target, int32_t first, int32_t last) const {
  auto it = std::upper_bound(cumulative_.begin() + first, cumulative_.begin() + last, target);
  if (it == cumulative_.begin() + last) --it;
  return static_cast<int32_t>(it - cumulative_.begin());
}

double NegativeSampler::weight(int32_t item) const {
  if (distribution_ == NegativeDistribution::kUniform) return 1.0;
  return cumulative_[item] - cumulative_[item - 1];
}

int32_t NegativeSampler::draw(uint64_t& state) const {
  if (distribution_ == NegativeDistribution::kUniform) {
    return 1 + static_cast<int32_t>(uniform01(state) * (num_items_ - 1));
  }
  return token_at(uniform01(state) * cumulative_.back());
}

int32_t NegativeSampler::token_at(double target) const {
  CF_CHECK(distribution_ == NegativeDistribution::kPopularity, "token_at: popularity only");
  // Zero-weight tokens are never hit. The target lies between two guide points, and so does
  // its token (cumulative_ is sorted).
  if (!(cumulative_.back() > 0)) return upper_token(target);  // nothing to guide: no weight
  const int cell = std::min(kGuideCells - 1,
                            static_cast<int>(target / cumulative_.back() * kGuideCells));
  if (cell >= 0 && target >= guide_point(cell) && target < guide_point(cell + 1)) {
    return upper_token_between(target, guide_[cell], std::min(num_items_, guide_[cell + 1] + 1));
  }
  return upper_token(target);  // rounding put the target outside its cell: search everything
}

std::vector<int32_t> NegativeSampler::sample(uint64_t seed, uint64_t stream,
                                             const uint8_t* excluded, int count) const {
  std::vector<int32_t> chosen;
  if (num_items_ <= 1 || count <= 0) return chosen;
  if (distribution_ == NegativeDistribution::kPopularity && cumulative_.back() <= 0) return chosen;
  uint64_t state = seed ^ (stream * 0xD1B54A32D192ED03ull + 0x8CB92BA72F3D8DD7ull);
  splitmix64_next(state);
  chosen.reserve(static_cast<size_t>(count));
  // Rejection sampling is exact for "distinct, not excluded" and fast when the eligible set is
  // large, which is the normal case. A bounded number of tries guards the rare tiny catalogue
  // or a history that covers most of the popularity mass.
  const int64_t max_tries = 20LL * count + 1000;
  // A bit per token for "already chosen", kept per thread and cleared bit by bit after, so a
  // call costs nothing of the catalogue's size.
  thread_local std::vector<uint64_t> taken;
  taken.resize(std::max(taken.size(), static_cast<size_t>(num_items_) / 64 + 1), 0);
  auto clear_taken = [&] {
    for (int32_t item : chosen) taken[static_cast<size_t>(item) / 64] = 0;
  };
  struct ClearOnThrow {  // the bits must not outlive this call, whichever way it ends
    decltype(clear_taken)& clear;
    bool armed = true;
    ~ClearOnThrow() {
      if (armed) clear();
    }
  } clear_on_throw{clear_taken};
  for (int64_t tries = 0; tries < max_tries && static_cast<int>(chosen.size()) < count; ++tries) {
    const int32_t item = draw(state);
    if (excluded && excluded[item]) continue;
    uint64_t& word = taken[static_cast<size_t>(item) / 64];
    const uint64_t bit = uint64_t{1} << (item % 64);
    if (word & bit) continue;
    word |= bit;
    chosen.push_back(item);
  }
  if (static_cast<int>(chosen.size()) < count) {
    std::vector<int32_t> rest = sample_exhaustively(state, excluded, taken.data(), chosen, count);
    chosen.insert(chosen.end(), rest.begin(), rest.end());
  }
  clear_taken();
  clear_on_throw.armed = false;
  return chosen;
}

std::vector<int32_t> NegativeSampler::sample_exhaustively(uint64_t& state,
                                                          const uint8_t* excluded,
                                                          const uint64_t* taken,
                                                          const std::vector<int32_t>& already,
                                                          int count) const {
  // Weighted sampling without replacement over every eligible item (Efraimidis-Spirakis:
  // keep the largest u^(1/w)); compared in log space, log(u)/w, to stay finite.
  std::vector<std::pair<double, int32_t>> keyed;
  for (int32_t j = 1; j < num_items_; ++j) {
    if (excluded && excluded[j]) continue;
    if (taken[static_cast<size_t>(j) / 64] >> (j % 64) & 1) continue;  // in `already`
    const double w = weight(j);
    if (w <= 0) continue;
    const double u = std::max(uniform01(state), 1e-300);
    keyed.emplace_back(std::log(u) / w, j);
  }
  const size_t need = std::min(keyed.size(), static_cast<size_t>(count) - already.size());
  std::partial_sort(keyed.begin(), keyed.begin() + static_cast<std::ptrdiff_t>(need), keyed.end(),
                    [](const auto& a, const auto& b) {
                      return a.first > b.first || (a.first == b.first && a.second < b.second);
                    });
  std::vector<int32_t> out;
  for (size_t i = 0; i < need; ++i) out.push_back(keyed[i].second);
  return out;
}

}  // namespace cf::eval
