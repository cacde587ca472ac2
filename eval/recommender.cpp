#include "eval/recommender.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>
#include <limits>

#include "core/error.h"
#include "core/json.h"
#include "data/batch.h"
#include "data/readers/csv_line.h"
#include "trainer/model/model.h"

namespace cf::eval {

namespace {

void mark_history(const GenerationInput& input, const GenerateOptions& options,
                  std::vector<uint8_t>& marks) {
  const data::Sequence& h = input.history;
  const bool has_flags = h.purchase.size() == h.item.size();
  for (size_t t = 0; t < h.item.size(); ++t) {
    const int32_t item = h.item[t];
    if (item <= 0 || item >= static_cast<int32_t>(marks.size())) continue;
    if (options.exclude_seen || (options.exclude_bought && has_flags && h.purchase[t])) {
      marks[static_cast<size_t>(item)] = 1;
    }
  }
}

void emit(const std::string& user, int step, const float* logits, double log_z,
          const std::vector<int32_t>& top, std::vector<Recommendation>& out) {
  for (size_t r = 0; r < top.size(); ++r) {
    Recommendation rec;
    rec.user = user;
    rec.step = step;
    rec.rank = static_cast<int>(r) + 1;
    rec.item = top[r];
    rec.score = static_cast<float>(std::exp(static_cast<double>(logits[top[r]]) - log_z));
    out.push_back(std::move(rec));
  }
}

std::string format_score(float score) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", static_cast<double>(score));
  return buf;
}

}  // namespace

std::vector<int32_t> top_k_items(const float* scores, int32_t num_items,
                                 const std::vector<uint8_t>& excluded, int k) {
  // The order: scores high to low, NaN after every number, ties to the lower item id.
  auto better = [scores](int32_t a, int32_t b) {
    const float sa = scores[a], sb = scores[b];
    const bool nan_a = std::isnan(sa), nan_b = std::isnan(sb);
    if (nan_a != nan_b) return nan_b;
    if (!nan_a && sa != sb) return sa > sb;
    return a < b;
  };
  auto is_excluded = [&](int32_t j) {
    return static_cast<size_t>(j) < excluded.size() && excluded[static_cast<size_t>(j)];
  };
  if (k <= 0) return {};
  if (k > 64) {  // a long list: sort the candidates
    std::vector<int32_t> candidates;
    candidates.reserve(static_cast<size_t>(std::max(0, num_items - 1)));
    for (int32_t j = 1; j < num_items; ++j)
      if (!is_excluded(j)) candidates.push_back(j);
    const size_t take = std::min(candidates.size(), static_cast<size_t>(k));
    std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(take),
                      candidates.end(), better);
    candidates.resize(take);
    return candidates;
  }
  // A short list: one pass keeping the best k in order. Items come in increasing id, so one
  // that ties the k-th best never displaces it; most are turned away by one comparison.
  std::vector<int32_t> top;
  top.reserve(static_cast<size_t>(k) + 1);
  float worst = 0;  // the k-th best score, once there are k
  for (int32_t j = 1; j < num_items; ++j) {
    if (is_excluded(j)) continue;
    if (top.size() == static_cast<size_t>(k)) {
      const float s = scores[j];
      if (!(s > worst)) {  // not strictly above: a tie, below, or a NaN on either side
        if (!std::isnan(worst) || std::isnan(s)) continue;  // only a number beats a NaN k-th
      }
    }
    top.insert(std::upper_bound(top.begin(), top.end(), j, better), j);
    if (top.size() > static_cast<size_t>(k)) top.pop_back();
    if (top.size() == static_cast<size_t>(k)) worst = scores[top.back()];
  }
  return top;
}

double log_sum_exp_over_items(const float* scores, int32_t num_items) {
  // In double with the exact exponential: callers (generate's scores, the marketing masses)
  // add probabilities exp(score - log_z) computed the same way, which must sum to 1.
  double max_score = -std::numeric_limits<double>::infinity();
  for (int32_t j = 1; j < num_items; ++j) max_score = std::max(max_score, double(scores[j]));
  if (!std::isfinite(max_score)) return max_score;
  double sum = 0;
  for (int32_t j = 1; j < num_items; ++j) sum += std::exp(double(scores[j]) - max_score);
  return max_score + std::log(sum);
}

Recommender::Recommender(trainer::Model& model, AppendedEventChannels appended,
                         trainer::CooccurrencePrior prior)
    : model_(model), appended_(std::move(appended)), prior_(std::move(prior)) {}

std::vector<Recommendation> Recommender::recommend(const std::vector<GenerationInput>& inputs,
                                                   const GenerateOptions& options) {
  if (options.k < 1) throw UserError("--k: must be at least 1");
  if (options.steps < 1) throw UserError("--steps: must be at least 1");
  const int max_len = model_.config().max_len;
  if (options.steps > max_len) {
    throw UserError("--steps: " + std::to_string(options.steps) + " exceeds the model's max_len " +
                    std::to_string(max_len));
  }
  for (const auto& input : inputs) {
    if (input.history.length() == 0) throw UserError("user '" + input.user + "': empty history");
  }
  std::vector<Recommendation> out;
  out.reserve(inputs.size() * static_cast<size_t>(options.k) * static_cast<size_t>(options.steps));
  if (options.steps == 1) {
    recommend_single_step(inputs, options, out);
  } else {
    // A decoder per user, the users spread over the threads (a step is one position's work,
    // too little to share); each user's rows land in its own list and are joined in input
    // order, so the output does not depend on the thread count.
    std::vector<std::vector<Recommendation>> per_user(inputs.size());
    std::exception_ptr failure;
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t i = 0; i < inputs.size(); ++i) {
      try {
        recommend_multi_step(inputs[i], options, per_user[i]);
      } catch (...) {
#pragma omp critical(cf_recommender_failure)
        if (!failure) failure = std::current_exception();
      }
    }
    if (failure) std::rethrow_exception(failure);
    for (auto& rows : per_user) out.insert(out.end(), rows.begin(), rows.end());
  }
  return out;
}

void Recommender::recommend_single_step(const std::vector<GenerationInput>& inputs,
                                        const GenerateOptions& options,
                                        std::vector<Recommendation>& out) {
  const int32_t num_items = model_.vocab().items;
  const int max_len = model_.config().max_len;
  const int rows = std::max(1, options.max_batch_rows);
  data::Batch batch;
  std::vector<float> hidden, logits;
  std::vector<std::vector<int32_t>> tops;
  std::vector<double> log_z;  // per user: log of the softmax's normaliser over all items
  for (size_t first = 0; first < inputs.size(); first += static_cast<size_t>(rows)) {
    const int B = static_cast<int>(std::min(inputs.size() - first, static_cast<size_t>(rows)));
    int longest = 1;
    for (int b = 0; b < B; ++b) longest = std::max(longest, inputs[first + b].history.length());
    batch.resize(B, std::min(longest, max_len));
    for (int b = 0; b < B; ++b) {
      const data::Sequence& h = inputs[first + b].history;
      data::fill_batch_row(batch, b, h, h.length(), /*train_targets=*/false);
    }
    model_.last_hidden(batch, hidden);
    logits.resize(static_cast<size_t>(B) * static_cast<size_t>(num_items));
    model_.item_scores(hidden.data(), B, logits.data());
    tops.assign(static_cast<size_t>(B), {});
    log_z.assign(static_cast<size_t>(B), 0.0);
#pragma omp parallel
    {
      std::vector<uint8_t> marks(static_cast<size_t>(num_items), 0);
      std::vector<std::pair<int32_t, float>> prior_scratch;
#pragma omp for schedule(dynamic, 4)
      for (int b = 0; b < B; ++b) {
        const data::Sequence& h = inputs[first + b].history;
        prior_.apply(h.item.data(), h.length(), logits.data() + static_cast<size_t>(b) * num_items,
                     prior_scratch);
        std::fill(marks.begin(), marks.end(), uint8_t{0});
        mark_history(inputs[first + b], options, marks);
        const float* row = logits.data() + static_cast<size_t>(b) * num_items;
        tops[b] = top_k_items(row, num_items, marks, options.k);
        log_z[b] = log_sum_exp_over_items(row, num_items);
      }
    }
    for (int b = 0; b < B; ++b) {
      emit(inputs[first + b].user, 1, logits.data() + static_cast<size_t>(b) * num_items,
           log_z[b], tops[b], out);
    }
  }
}

void Recommender::recommend_multi_step(const GenerationInput& input,
                                       const GenerateOptions& options,
                                       std::vector<Recommendation>& out) {
  const int32_t num_items = model_.vocab().items;
  const data::Sequence& h = input.history;
  const int32_t length = h.length();
  const int32_t keep = model_.config().max_len - (options.steps - 1);
  const int32_t first = std::max(0, length - keep);

  auto decoder = model_.make_decoder();
  const std::vector<float>* hidden = nullptr;
  auto channel = [](const std::vector<int32_t>& v, int32_t t) {
    return static_cast<size_t>(t) < v.size() ? v[static_cast<size_t>(t)] : 0;
  };
  for (int32_t t = first; t < length; ++t) {
    hidden = &decoder->append(h.item[t], channel(h.action, t), channel(h.category, t),
                              channel(h.time_gap, t), channel(h.activity, t));
  }
  const int32_t next_action = appended_.action > 0 ? appended_.action : channel(h.action, length - 1);
  const int32_t next_gap =
      appended_.time_gap > 0 ? appended_.time_gap : channel(h.time_gap, length - 1);

  std::vector<uint8_t> marks(static_cast<size_t>(num_items), 0);
  mark_history(input, options, marks);
  std::vector<float> logits(static_cast<size_t>(num_items));
  std::vector<int32_t> items(h.item.begin(), h.item.end());  // the history, then each chosen item
  std::vector<std::pair<int32_t, float>> prior_scratch;
  for (int step = 1; step <= options.steps; ++step) {
    model_.item_scores(hidden->data(), 1, logits.data());
    prior_.apply(items.data(), int32_t(items.size()), logits.data(), prior_scratch);
    const std::vector<int32_t> top = top_k_items(logits.data(), num_items, marks, options.k);
    emit(input.user, step, logits.data(), log_sum_exp_over_items(logits.data(), num_items), top,
         out);
    if (top.empty() || step == options.steps) break;
    const int32_t chosen = top.front();
    marks[static_cast<size_t>(chosen)] = 1;  // never recommend a generated item again
    items.push_back(chosen);
    const int32_t category = channel(appended_.item_category, chosen);
    hidden = &decoder->append(chosen, next_action, category, next_gap, 0);
  }
}

std::string format_recommendations(const std::vector<Recommendation>& rows,
                                   const std::vector<std::string>& item_raw_ids,
                                   RecommendationFormat format) {
  auto raw = [&](int32_t item) {
    return item >= 0 && static_cast<size_t>(item) < item_raw_ids.size()
               ? item_raw_ids[static_cast<size_t>(item)]
               : std::to_string(item);
  };
  std::string text;
  if (format == RecommendationFormat::kCsv) {
    text = "user,rank,item,score,step\n";
    for (const auto& r : rows) {
      text += data::csv_quoted_field(r.user) + "," + std::to_string(r.rank) + "," + data::csv_quoted_field(raw(r.item)) +
              "," + format_score(r.score) + "," + std::to_string(r.step) + "\n";
    }
  } else {
    for (const auto& r : rows) {
      Json line = Json::object();
      line["user"] = r.user;
      line["rank"] = r.rank;
      line["item"] = raw(r.item);
      line["score"] = std::stod(format_score(r.score));  // the CSV's 6 significant digits
      line["step"] = r.step;
      // Corpora made before prep rejected ids that are not UTF-8 may hold some: such bytes
      // are written as U+FFFD, as report and target do.
      text += line.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
    }
  }
  return text;
}

}  // namespace cf::eval
