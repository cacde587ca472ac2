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
  std::vector<int32_t> order;
  for (size_t v = 0; v < scores.size(); ++v)
    if (scores[v] > minus_inf) order.push_back(int32_t(v));
  if (order.empty()) return -1;
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return scores[size_t(a)] > scores[size_t(b)]; });
  if (options_.greedy) return order.front();
  if (options_.top_k > 0 && int64_t(order.size()) > options_.top_k)
    order.resize(size_t(options_.top_k));

  // Softmax over the candidates, then the nucleus: the shortest prefix whose mass reaches p.
  const double top = scores[size_t(order.front())];
  std::vector<double> p(order.size());
  for (size_t i = 0; i < order.size(); ++i) p[i] = std::exp(scores[size_t(order[i])] - top);
  const double total = std::accumulate(p.begin(), p.end(), 0.0);
  size_t keep = order.size();
  if (options_.top_p < 1) {
    double mass = 0;
    for (size_t i = 0; i < order.size(); ++i) {
      mass += p[i] / total;
      if (mass >= options_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
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
