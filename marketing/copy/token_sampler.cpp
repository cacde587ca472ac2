#include "marketing/copy/token_sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "core/random.h"
#include "data/text/char_tokenizer.h"

namespace cf::marketing::copy {

namespace {
bool is_byte_token(int32_t token) {
  return token >= data::text::kFirstByteToken && token < data::text::kFirstCharToken;
}
}  // namespace

void Utf8Guard::add(int32_t token) {
  if (!is_byte_token(token)) return;
  const uint8_t b = uint8_t(token - data::text::kFirstByteToken);
  next_lo_ = 0x80;
  next_hi_ = 0xBF;
  if (needed_ > 0) {
    --needed_;
    ++written_;
    return;
  }
  needed_ = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : b >= 0xC2 ? 1 : 0;
  written_ = 1;
  if (b == 0xE0) next_lo_ = 0xA0;  // no overlong three-byte forms
  if (b == 0xED) next_hi_ = 0x9F;  // no surrogates
  if (b == 0xF0) next_lo_ = 0x90;  // no overlong four-byte forms
  if (b == 0xF4) next_hi_ = 0x8F;  // nothing past U+10FFFF
}

bool Utf8Guard::allows(int32_t token) const {
  if (needed_ > 0) {
    if (!is_byte_token(token)) return false;
    const uint8_t b = uint8_t(token - data::text::kFirstByteToken);
    return b >= next_lo_ && b <= next_hi_;
  }
  if (!is_byte_token(token)) return true;
  const uint8_t b = uint8_t(token - data::text::kFirstByteToken);
  return (b >= 0x20 && b < 0x7F) || (b >= 0xC2 && b <= 0xF4);
}

std::vector<int32_t> repeated_ngram_bans(const std::vector<int32_t>& text, int n) {
  std::vector<int32_t> bans;
  if (n <= 0 || int64_t(text.size()) < int64_t(n) - 1) return bans;
  if (n == 1) return text;         // every token already written
  const size_t k = size_t(n) - 1;  // the context: the last n - 1 tokens
  const auto context = text.end() - int64_t(k);
  for (size_t start = 0; start + k < text.size(); ++start)
    if (std::equal(context, text.end(), text.begin() + int64_t(start)))
      bans.push_back(text[start + k]);
  return bans;
}

TokenSampler::TokenSampler(const SamplingOptions& options, uint64_t seed)
    : options_(options), rng_(seed) {
  if (!(options.temperature > 0))
    throw UserError("--temperature: must be > 0, got " + std::to_string(options.temperature));
  if (options.top_k < 0)
    throw UserError("--top-k: must be >= 0, got " + std::to_string(options.top_k));
  if (!(options.top_p > 0 && options.top_p <= 1))
    throw UserError("--top-p: must be in (0, 1], got " + std::to_string(options.top_p));
  if (options.no_repeat_ngram < 0)
    throw UserError("--no-repeat-ngram: must be >= 0, got " +
                    std::to_string(options.no_repeat_ngram));
}

int32_t TokenSampler::next(const std::vector<float>& logits, const std::vector<int32_t>& text) {
  const double minus_inf = -std::numeric_limits<double>::infinity();
  std::vector<double> scores(logits.size());
  // +inf (or an overflow of logit / temperature) is "certain": the largest finite score, so
  // the softmax below stays finite; NaN is never chosen.
  for (size_t v = 0; v < logits.size(); ++v) {
    const double score = double(logits[v]) / options_.temperature;
    scores[v] = std::isnan(score) ? minus_inf : std::min(score, std::numeric_limits<double>::max());
  }
  for (const int32_t banned : repeated_ngram_bans(text, options_.no_repeat_ngram))
    if (banned >= 0 && size_t(banned) < scores.size()) scores[size_t(banned)] = minus_inf;

  // Candidates by score, highest first (ties: lower id first, so the order is deterministic).
  // Only as much of the order is sorted as the draw needs: the nucleus is usually a few dozen
  // of the vocabulary's thousands, and sorting them all per token was most of a draft's cost.
  std::vector<int32_t> order;
  for (size_t v = 0; v < scores.size(); ++v)
    if (scores[v] > minus_inf) order.push_back(int32_t(v));
  if (order.empty()) return -1;
  const auto before = [&](int32_t a, int32_t b) {
    const double sa = scores[size_t(a)], sb = scores[size_t(b)];
    return sa > sb || (sa == sb && a < b);
  };
  if (options_.greedy) return *std::min_element(order.begin(), order.end(), before);
  size_t sorted = 0;  // order[0, sorted) holds the highest candidates, in order
  const auto sort_prefix = [&](size_t length) {
    length = std::min(length, order.size());
    if (length <= sorted) return;
    std::partial_sort(order.begin() + int64_t(sorted), order.begin() + int64_t(length), order.end(),
                      before);
    sorted = length;
  };
  if (options_.top_k > 0 && int64_t(order.size()) > options_.top_k) {
    sort_prefix(size_t(options_.top_k));
    order.resize(size_t(options_.top_k));
  }

  // Softmax over the candidates, then the nucleus: the shortest prefix whose mass reaches p
  // (the total is summed in id order: the sorted order is not known that far).
  double top = minus_inf;
  for (int32_t v : order) top = std::max(top, scores[size_t(v)]);
  double total = 0;
  for (int32_t v : order) total += std::exp(scores[size_t(v)] - top);
  std::vector<double> p;  // of order[i], for the prefix the draw looks at
  const auto prob = [&](size_t i) {
    if (i >= sorted) sort_prefix(std::max<size_t>(64, 4 * sorted));
    while (p.size() <= i) p.push_back(std::exp(scores[size_t(order[p.size()])] - top));
    return p[i];
  };
  size_t keep = order.size();
  if (options_.top_p < 1) {
    double mass = 0;
    for (size_t i = 0; i < order.size(); ++i) {
      mass += prob(i) / total;
      if (mass >= options_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  for (size_t i = 0; i < keep; ++i) prob(i);
  const double kept = std::accumulate(p.begin(), p.begin() + int64_t(keep), 0.0);
  const double u = unit_interval(rng_.next()) * kept;
  double running = 0;
  for (size_t i = 0; i < keep; ++i) {
    running += p[i];
    if (u < running) return order[i];
  }
  return order[keep - 1];
}

}  // namespace cf::marketing::copy
