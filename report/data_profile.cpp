#include "report/data_profile.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>
#include <vector>

namespace cf::report {

namespace {

constexpr int64_t kReadChunk = 1024;

double ratio(double numerator, double denominator) {
  return denominator > 0 ? numerator / denominator : std::nan("");
}


// Value at quantile q of sorted values: the element at index floor(q * n) (so the median of an
// even count is the upper middle value).
double quantile(const std::vector<int64_t>& sorted, double q) {
  if (sorted.empty()) return std::nan("");
  const size_t k = std::min(sorted.size() - 1, static_cast<size_t>(q * double(sorted.size())));
  return static_cast<double>(sorted[k]);
}

}  // namespace

Json profile_corpus(const data::CorpusReader& corpus) {
  const std::vector<std::string> action_names = corpus.action_names();
  const int32_t num_actions = static_cast<int32_t>(action_names.size());
  const std::vector<double>& prices = corpus.item_prices();
  auto token_named = [&](const char* name) {
    for (int32_t a = 1; a < num_actions; ++a) {
      if (action_names[static_cast<size_t>(a)] == name) return a;
    }
    return -1;
  };
  const int32_t view = token_named("view"), cart = token_named("cart"), buy = token_named("buy");

  std::vector<int64_t> action_events(static_cast<size_t>(num_actions), 0);
  std::vector<int64_t> action_users(static_cast<size_t>(num_actions), 0);
  std::vector<int64_t> followers(static_cast<size_t>(num_actions), 0);
  std::vector<int64_t> followed_by_purchase(static_cast<size_t>(num_actions), 0);
  std::vector<int64_t> lengths;
  std::vector<double> order_values;
  int64_t purchases = 0, buyers = 0, repeat_buyers = 0, same_item_repeat_buyers = 0;
  int64_t viewers_who_cart = 0, carters_who_buy = 0;
  lengths.reserve(static_cast<size_t>(corpus.num_sequences()));

  std::vector<data::Sequence> chunk;
  std::vector<char> has_action(static_cast<size_t>(num_actions));
  std::unordered_set<int32_t> bought;
  const int64_t n = corpus.num_sequences();
  for (int64_t first = 0; first < n; first += kReadChunk) {
    corpus.read_sequences(first, std::min(kReadChunk, n - first), chunk);
    for (const data::Sequence& s : chunk) {
      const int32_t length = s.length();
      lengths.push_back(length);
      std::fill(has_action.begin(), has_action.end(), 0);
      bought.clear();
      int64_t user_purchases = 0;
      bool repeated_item = false;
      for (int32_t e = 0; e < length; ++e) {
        const int32_t a = s.action[static_cast<size_t>(e)];
        if (a > 0 && a < num_actions) {
          ++action_events[static_cast<size_t>(a)];
          has_action[static_cast<size_t>(a)] = 1;
        }
        if (s.purchase[static_cast<size_t>(e)]) {
          ++purchases;
          ++user_purchases;
          const int32_t item = s.item[static_cast<size_t>(e)];
          if (!bought.insert(item).second) repeated_item = true;
          if (!prices.empty() && item > 0 && item < static_cast<int32_t>(prices.size()) &&
              std::isfinite(prices[static_cast<size_t>(item)])) {
            order_values.push_back(prices[static_cast<size_t>(item)]);
          }
        }
      }
      // Next-event purchase rate per action, on the training part only (never the held-out
      // targets), so it can serve as a propensity baseline on the test split.
      const int32_t train = data::visible_length(length, data::Split::kTrain);
      for (int32_t e = 1; e < std::min(train, length); ++e) {
        const int32_t previous = s.action[static_cast<size_t>(e - 1)];
        if (previous <= 0 || previous >= num_actions) continue;
        ++followers[static_cast<size_t>(previous)];
        followed_by_purchase[static_cast<size_t>(previous)] += s.purchase[static_cast<size_t>(e)];
      }
      for (int32_t a = 1; a < num_actions; ++a) action_users[static_cast<size_t>(a)] += has_action[static_cast<size_t>(a)];
      if (view > 0 && cart > 0 && has_action[static_cast<size_t>(view)] && has_action[static_cast<size_t>(cart)]) ++viewers_who_cart;
      if (cart > 0 && buy > 0 && has_action[static_cast<size_t>(cart)] && has_action[static_cast<size_t>(buy)]) ++carters_who_buy;
      if (user_purchases > 0) ++buyers;
      if (user_purchases > 1) ++repeat_buyers;
      if (repeated_item) ++same_item_repeat_buyers;
    }
  }

  Json out = Json::object();
  const data::VocabSizes vocab = corpus.vocab_sizes();
  out["events"] = corpus.num_events();
  out["users"] = n;
  out["items"] = vocab.items - 1;
  out["categories"] = vocab.categories - 1;
  out["activities"] = vocab.activities - 1;
  const Json provenance = Json::parse(corpus.provenance_json(), nullptr, false);
  out["time_source"] = provenance.is_object() ? provenance.value("time_source", std::string("unknown"))
                                              : std::string("unknown");
  Json actions = Json::object();
  for (int32_t a = 1; a < num_actions; ++a) actions[action_names[static_cast<size_t>(a)]] = action_events[static_cast<size_t>(a)];
  out["actions"] = actions;
  out["purchases"] = purchases;

  auto events_of = [&](int32_t a) { return a > 0 ? double(action_events[static_cast<size_t>(a)]) : std::nan(""); };
  auto users_of = [&](int32_t a) { return a > 0 ? double(action_users[static_cast<size_t>(a)]) : std::nan(""); };
  Json funnel = Json::array();
  for (const auto& [name, token] : {std::pair{"view", view}, {"cart", cart}, {"buy", buy}}) {
    if (token > 0) funnel.push_back({{"stage", name}, {"events", action_events[static_cast<size_t>(token)]}, {"users", action_users[static_cast<size_t>(token)]}});
  }
  out["funnel"] = funnel;
  out["rates"] = {
      {"cart_per_view", json_number_or_null(ratio(events_of(cart), events_of(view)))},
      {"buy_per_cart", json_number_or_null(ratio(events_of(buy), events_of(cart)))},
      {"buy_per_view", json_number_or_null(ratio(events_of(buy), events_of(view)))},
      {"users_carting_per_viewing", json_number_or_null(ratio(double(viewers_who_cart), users_of(view)))},
      {"users_buying_per_carting", json_number_or_null(ratio(double(carters_who_buy), users_of(cart)))}};

  if (order_values.empty()) {
    out["order_value"] = {{"available", false},
                          {"reason", prices.empty() ? "the corpus records no prices (the source has none, or it was prepared before prices were kept)"
                                                    : "no purchased item has a known price"}};
  } else {
    std::vector<double> sorted = order_values;
    std::sort(sorted.begin(), sorted.end());
    double total = 0;
    for (double v : order_values) total += v;
    out["order_value"] = {{"available", true},
                          {"priced_purchases", static_cast<int64_t>(order_values.size())},
                          {"purchases", purchases},
                          {"mean", total / double(order_values.size())},
                          {"median", sorted[sorted.size() / 2]},
                          {"total", total},
                          {"definition", "mean price of the purchased item (quantities are not kept)"}};
  }
  out["repurchase"] = {{"buyers", buyers},
                       {"repeat_buyers", repeat_buyers},
                       {"same_item_repeat_buyers", same_item_repeat_buyers},
                       {"rate", json_number_or_null(ratio(double(repeat_buyers), double(buyers)))},
                       {"same_item_rate", json_number_or_null(ratio(double(same_item_repeat_buyers), double(buyers)))}};

  std::vector<int64_t> sorted_lengths = lengths;
  std::sort(sorted_lengths.begin(), sorted_lengths.end());
  double mean_length = 0;
  for (int64_t l : lengths) mean_length += double(l);
  mean_length = ratio(mean_length, double(lengths.size()));
  Json histogram = Json::array();
  if (!sorted_lengths.empty()) {
    for (int64_t lower = 1; lower <= sorted_lengths.back(); lower *= 2) {
      const int64_t upper = lower * 2;
      const auto begin = std::lower_bound(sorted_lengths.begin(), sorted_lengths.end(), lower);
      const auto end = std::lower_bound(sorted_lengths.begin(), sorted_lengths.end(), upper);
      histogram.push_back({{"lower", lower}, {"upper", upper}, {"users", static_cast<int64_t>(end - begin)}});
    }
  }
  out["events_per_user"] = {{"mean", json_number_or_null(mean_length)},
                            {"p10", json_number_or_null(quantile(sorted_lengths, 0.10))},
                            {"p50", json_number_or_null(quantile(sorted_lengths, 0.50))},
                            {"p90", json_number_or_null(quantile(sorted_lengths, 0.90))},
                            {"p99", json_number_or_null(quantile(sorted_lengths, 0.99))},
                            {"max", sorted_lengths.empty() ? Json(nullptr) : Json(sorted_lengths.back())},
                            {"histogram", histogram}};
  Json next_rate = Json::object();
  for (int32_t a = 1; a < num_actions; ++a) {
    next_rate[action_names[static_cast<size_t>(a)]] = json_number_or_null(
        ratio(double(followed_by_purchase[static_cast<size_t>(a)]), double(followers[static_cast<size_t>(a)])));
  }
  out["next_purchase_rate_by_last_action"] = next_rate;
  return out;
}

}  // namespace cf::report
