#include "marketing/copy/retrieved_copy.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "data/text/char_tokenizer.h"

namespace cf::marketing::copy {

RetrievedCopy::RetrievedCopy(std::vector<std::vector<int32_t>> texts, double weight)
    : texts_(std::move(texts)), weight_(weight), match_(texts_.size()) {
  for (size_t t = 0; t < texts_.size(); ++t) match_[t].assign(texts_[t].size() + 1, 0);
  restart();
}

void RetrievedCopy::restart() {
  // Only the start of each text follows the start of a description.
  for (std::vector<int>& m : match_) {
    std::fill(m.begin(), m.end(), 0);
    m[0] = 1;
  }
}

void RetrievedCopy::advance(int32_t token) {
  for (size_t t = 0; t < texts_.size(); ++t) {
    std::vector<int>& m = match_[t];
    // From the end: m[i - 1] is still the match before `token` when m[i] is updated.
    for (size_t i = m.size() - 1; i >= 1; --i) m[i] = texts_[t][i - 1] == token ? m[i - 1] + 1 : 0;
    m[0] = 0;
  }
}

int RetrievedCopy::longest_match() const {
  int longest = 0;
  for (const std::vector<int>& m : match_)
    for (int v : m) longest = std::max(longest, v);
  return longest;
}

void RetrievedCopy::mix_into(std::vector<float>& log_probs) const {
  const int longest = longest_match();
  if (weight_ <= 0 || longest < kShortestMatch) return;
  std::map<int32_t, double> next;  // continuation -> share of the longest-matching positions
  double positions = 0;
  for (size_t t = 0; t < texts_.size(); ++t)
    for (size_t i = 0; i < match_[t].size(); ++i)
      if (match_[t][i] == longest) {
        next[i < texts_[t].size() ? texts_[t][i] : data::text::kEndToken] += 1;
        positions += 1;
      }
  const double w = weight_ * std::min(1.0, double(longest - 1) / double(kFullMatch - 1));
  const float keep = float(std::log1p(-w));
  for (float& v : log_probs) v += keep;  // -inf stays -inf
  for (const auto& [token, count] : next) {
    float& v = log_probs[size_t(token)];
    if (std::isinf(v) && v < 0) continue;  // ruled out by the model (a tag, a broken character)
    // log((1 - w) p + w q) from log((1 - w) p) = v.
    const double copied = std::log(w * count / positions);
    const double high = std::max(double(v), copied);
    v = float(high + std::log(std::exp(double(v) - high) + std::exp(copied - high)));
  }
}

}  // namespace cf::marketing::copy
