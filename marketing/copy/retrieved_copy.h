// RetrievedCopy: lets a copy model take over runs of characters from the human texts of the
// training titles nearest to the one it writes for (a cache language model over retrieved
// texts). Product listings repeat: a held-out title is often the same product as a training
// title under other words, and its description then shares whole phrases with that title's.
// Sampling from the model alone rarely reproduces a long phrase; this mixes the model's
// next-token distribution with "what came next" in the retrieved texts, where the text written
// so far ends the same way as a stretch of them.
//
// The match: for every position of every retrieved text, how many tokens before it equal the
// last tokens written (the start of the description counts as one token, matching the start of
// each text). The longest match L decides: the tokens following the positions that reach it
// (</s> after a text's end) form the retrieved distribution, and it weighs
// weight * min(1, (L - 1) / (kFullMatch - 1)) against the model's, so a one-character echo
// moves little and a long shared phrase nearly decides. Below kShortestMatch nothing is mixed.
#pragma once
#include <cstdint>
#include <vector>

namespace cf::marketing::copy {

struct RetrievedCopyOptions {
  double weight = 0;  // in [0, 1): the retrieved distribution's share at a full match; 0: off
  int texts = 5;      // the human texts of this many nearest training titles
};

class RetrievedCopy {
 public:
  static constexpr int kShortestMatch = 2;  // tokens (the start counts as one)
  static constexpr int kFullMatch = 8;  // from here on the retrieved distribution weighs `weight`

  // `texts`: description tokens (no specials), nearest title first; `weight` in [0, 1).
  RetrievedCopy(std::vector<std::vector<int32_t>> texts, double weight);
  // Back to the start of a description.
  void restart();
  // The writer took `token` (a description token; </s> ends the text and is never passed).
  void advance(int32_t token);
  // Mixes the retrieved distribution into `log_probs` (normalised natural log-probabilities
  // over the whole vocabulary, as CopyWriter's next-token scores are): log((1 - w) p + w q).
  // Tokens the model rules out (-inf) stay out. No change when no match reaches
  // kShortestMatch or the weight is 0.
  void mix_into(std::vector<float>& log_probs) const;
  // The current longest match (tokens; 0 when none).
  int longest_match() const;

 private:
  std::vector<std::vector<int32_t>> texts_;
  double weight_;
  // match_[t][i]: how many tokens before position i of text t equal the last ones written
  // (i == size: the end of the text; its continuation is </s>).
  std::vector<std::vector<int>> match_;
};

}  // namespace cf::marketing::copy
