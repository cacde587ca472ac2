#include "data/synth/synth.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json.h"
#include "core/random.h"

namespace cf::data {
namespace {

namespace fs = std::filesystem;

// ---- fixed parameters of the behaviour model (docs/synthetic-data.md explains each) --------
constexpr int64_t kSecondsPerDay = 86400;
constexpr int64_t kSessionSlotSeconds = 2 * 3600;  // a session never runs longer than its slot
constexpr int64_t kSessionStopAfterSeconds = kSessionSlotSeconds - 1000;  // room for funnel steps
constexpr double kItemZipfExponent = 0.9;
constexpr double kCategoryZipfExponent = 0.7;
constexpr double kConsumableCategoryFraction = 0.3;
constexpr double kRevisitAvoidance = 0.85;  // chance a user skips an item already seen
constexpr int kNextItemAttempts = 3;
constexpr double kSecondCategoryProbability = 0.3;
constexpr double kExploreCategoryProbability = 0.05;
constexpr double kCategorySwitchProbability = 0.12;
constexpr double kTasteDriftPerSession = 0.05;
constexpr double kRepurchaseTakeUp = 0.6;
constexpr double kRepurchaseCartProb = 0.45;
constexpr size_t kMaxPendingRepurchases = 16;
constexpr double kMeanCartProb = 0.075;
constexpr double kMeanBuyProb = 0.40;
constexpr double kMeanFavProb = 0.03;
constexpr double kBuyProbCap = 0.95;
// A third of the categories are deal-driven: a coupon's effect on a cart of their items is 2x
// what the user's sensitivity alone gives, on the others 0.5x (mean 1 over categories).
constexpr double kDealCategoryFraction = 1.0 / 3.0;
constexpr double kDealAffinity = 2.0, kOtherAffinity = 0.5;
constexpr double kMedianViewGapSeconds = 40.0;

// ---- random numbers: xoshiro256** (core/random.h); every distribution below is our own, so
// the bytes do not depend on the standard library's <random> implementation.
class Rng {
 public:
  // Independent streams per (seed, purpose, index): a user's events depend only on the seed and
  // the user's index, which keeps generation order-free (and parallelisable later).
  Rng(uint64_t seed, uint64_t stream, uint64_t index) : bits_(stream_key(seed, stream, index)) {}

  uint64_t next() { return bits_.next(); }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform_open() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }
  bool chance(double p) { return uniform() < p; }
  // Uniform integer in [0, n) by multiply-shift (bias below 2^-32 for the sizes used here).
  int64_t below(int64_t n) {
    return static_cast<int64_t>(
        (static_cast<unsigned __int128>(next()) * static_cast<uint64_t>(n)) >> 64);
  }
  // below(n) plus a uniform [0, 1) fraction from the low half of the same product: one draw
  // serves both halves of an alias-table lookup.
  int64_t below_with_fraction(int64_t n, double& fraction) {
    unsigned __int128 product = static_cast<unsigned __int128>(next()) * static_cast<uint64_t>(n);
    fraction = static_cast<double>(static_cast<uint64_t>(product) >> 11) * 0x1.0p-53;
    return static_cast<int64_t>(product >> 64);
  }
  double normal() {  // Box-Muller; uses exactly two draws
    double radius = std::sqrt(-2.0 * std::log(uniform_open()));
    return radius * std::cos(6.283185307179586 * uniform());
  }
  double exponential() { return -std::log(uniform_open()); }
  // Lognormal factor with mean 1.
  double lognormal_unit_mean(double sigma) {
    return std::exp(sigma * normal() - 0.5 * sigma * sigma);
  }
  // Number of failures before a success, mean `mean`.
  int64_t geometric(double mean) {
    if (mean <= 0) return 0;
    return static_cast<int64_t>(
        std::floor(std::log(uniform_open()) / std::log(mean / (mean + 1.0))));
  }

 private:
  static uint64_t stream_key(uint64_t seed, uint64_t stream, uint64_t index) {
    uint64_t mix = seed;
    uint64_t key = splitmix64_next(mix) ^ (stream * 0xD1B54A32D192ED03ULL);
    key ^= splitmix64_next(key) + index * kGoldenGamma;
    return key;
  }
  Xoshiro256 bits_;
};

enum RngStream : uint64_t { kCatalogStream = 1, kActivityStream = 2, kUserStream = 3 };

// Index drawn from an ascending cumulative weight table.
int64_t draw_from_cdf(Rng& rng, const double* cdf, int64_t size) {
  double target = rng.uniform() * cdf[size - 1];
  int64_t index = std::upper_bound(cdf, cdf + size, target) - cdf;
  return std::min(index, size - 1);
}

// Walker's alias table: O(1) draws from a fixed discrete distribution, one cache line each.
struct AliasSlot {
  double threshold;  // keep `item` when the fraction is below this, else take `alias`
  int32_t item;
  int32_t alias;
};

std::vector<AliasSlot> build_alias_table(const std::vector<double>& weights,
                                         const std::vector<int32_t>& values) {
  const size_t n = weights.size();
  double total = 0;
  for (double w : weights) total += w;
  std::vector<double> scaled(n);
  std::vector<size_t> small, large;
  for (size_t k = 0; k < n; ++k) {
    scaled[k] = weights[k] * static_cast<double>(n) / total;
    (scaled[k] < 1.0 ? small : large).push_back(k);
  }
  std::vector<AliasSlot> table(n);
  while (!small.empty() && !large.empty()) {
    size_t s = small.back(), l = large.back();
    small.pop_back();
    table[s] = {scaled[s], values[s], values[l]};
    scaled[l] -= 1.0 - scaled[s];
    if (scaled[l] < 1.0) {
      large.pop_back();
      small.push_back(l);
    }
  }
  // What is left has weight 1 up to rounding.
  for (size_t k : large) table[k] = {1.0, values[k], values[k]};
  for (size_t k : small) table[k] = {1.0, values[k], values[k]};
  return table;
}

// ---- catalog -----------------------------------------------------------------------------
struct Category {
  std::vector<int32_t> items;  // in popularity-rank order
  std::vector<double> popularity_cdf;
  std::vector<AliasSlot> popularity_alias;  // the same distribution, for fast draws
  double median_price = 0;
  bool consumable = false;
  double repurchase_days = 0;
  // Multiplies a coupon's effect on carts of this category's items: coupons move purchases of
  // some categories (deal-driven ones) far more than of others.
  double deal_affinity = 1.0;
};

struct Catalog {
  int32_t successors_per_item = 0;
  std::vector<int64_t> public_id;    // item index -> item_id written to the files
  std::vector<int32_t> category_of;  // item index -> category index
  std::vector<int64_t> price_cents;
  std::vector<float> log_relative_price;  // log(price / category median)
  std::vector<int32_t> successors;        // successors_per_item entries per item
  std::vector<double> successor_cdf;      // shared weights K, K-1, ..., 1 (cumulative)
  std::vector<Category> categories;
  std::vector<double> category_cdf;  // how often a category is chosen as a taste
};

Catalog build_catalog(const SynthOptions& options) {
  Rng rng(options.seed, kCatalogStream, 0);
  const int64_t num_items = options.items;
  const int32_t num_categories = options.categories;
  Catalog catalog;
  catalog.categories.resize(num_categories);

  // Category sizes vary (lognormal weights); every category gets at least one item.
  std::vector<double> size_cdf(num_categories);
  double acc = 0;
  for (int32_t c = 0; c < num_categories; ++c) size_cdf[c] = (acc += rng.lognormal_unit_mean(0.5));
  catalog.category_of.resize(num_items);
  for (int64_t i = 0; i < num_items; ++i) {
    int32_t c = i < num_categories
                    ? static_cast<int32_t>(i)
                    : static_cast<int32_t>(draw_from_cdf(rng, size_cdf.data(), num_categories));
    catalog.category_of[i] = c;
    catalog.categories[c].items.push_back(static_cast<int32_t>(i));
  }
  // Popularity: Zipf over a random rank order within each category.
  for (size_t c = 0; c < catalog.categories.size(); ++c) {
    Category& category = catalog.categories[c];
    auto& items = category.items;
    for (int64_t k = static_cast<int64_t>(items.size()) - 1; k > 0; --k) {
      std::swap(items[k], items[rng.below(k + 1)]);
    }
    category.popularity_cdf.resize(items.size());
    std::vector<double> weights(items.size());
    double total = 0;
    for (size_t r = 0; r < items.size(); ++r) {
      weights[r] = std::pow(static_cast<double>(r + 1), -kItemZipfExponent);
      category.popularity_cdf[r] = (total += weights[r]);
    }
    category.popularity_alias = build_alias_table(weights, items);
    category.median_price = std::exp(3.2 + 0.9 * rng.normal());
    category.consumable = rng.chance(kConsumableCategoryFraction);
    category.repurchase_days = category.consumable ? static_cast<double>(10 + rng.below(35)) : 0.0;
    // From a hash, not the catalog stream, so every other catalog draw stays as it was.
    const uint64_t bits = splitmix64_mix(options.seed * kGoldenGamma + 0xDEA1ull + static_cast<uint64_t>(c));
    category.deal_affinity = static_cast<double>(bits >> 11) * 0x1.0p-53 < kDealCategoryFraction
                                 ? kDealAffinity
                                 : kOtherAffinity;
  }
  // Prices: lognormal around the category's median; whole cents, at least 0.50.
  catalog.price_cents.resize(num_items);
  catalog.log_relative_price.resize(num_items);
  for (int64_t i = 0; i < num_items; ++i) {
    const Category& category = catalog.categories[catalog.category_of[i]];
    double price = category.median_price * std::exp(0.45 * rng.normal());
    int64_t cents = std::max<int64_t>(50, std::llround(price * 100.0));
    catalog.price_cents[i] = cents;
    catalog.log_relative_price[i] =
        static_cast<float>(std::log(cents / (100.0 * category.median_price)));
  }
  // Related next items: distinct items of the same category, half of the slots drawn by
  // popularity and half uniformly, so popular items are reached more often but the tail is too.
  const int32_t k_max = options.successors_per_item;
  catalog.successors_per_item = k_max;
  catalog.successors.assign(static_cast<size_t>(num_items) * k_max, 0);
  for (int64_t i = 0; i < num_items; ++i) {
    const Category& category = catalog.categories[catalog.category_of[i]];
    const int64_t size = static_cast<int64_t>(category.items.size());
    int32_t* slots = &catalog.successors[static_cast<size_t>(i) * k_max];
    const int64_t distinct = std::min<int64_t>(k_max, size - 1);
    if (distinct <= 0) {
      std::fill(slots, slots + k_max, static_cast<int32_t>(i));  // a category of one item
      continue;
    }
    int32_t filled = 0;
    while (filled < distinct) {
      int64_t rank = rng.chance(0.5) ? draw_from_cdf(rng, category.popularity_cdf.data(), size)
                                     : rng.below(size);
      int32_t candidate = category.items[rank];
      if (candidate == i || std::find(slots, slots + filled, candidate) != slots + filled) continue;
      slots[filled++] = candidate;
    }
    for (int32_t k = filled; k < k_max; ++k) slots[k] = slots[k % filled];
  }
  catalog.successor_cdf.resize(k_max);
  double successor_total = 0;
  for (int32_t k = 0; k < k_max; ++k) catalog.successor_cdf[k] = (successor_total += k_max - k);

  // Which categories users like: Zipf over a random order of the categories.
  std::vector<int32_t> order(num_categories);
  for (int32_t c = 0; c < num_categories; ++c) order[c] = c;
  for (int32_t k = num_categories - 1; k > 0; --k) std::swap(order[k], order[rng.below(k + 1)]);
  std::vector<double> weight(num_categories);
  for (int32_t r = 0; r < num_categories; ++r)
    weight[order[r]] = std::pow(r + 1.0, -kCategoryZipfExponent);
  catalog.category_cdf.resize(num_categories);
  acc = 0;
  for (int32_t c = 0; c < num_categories; ++c) catalog.category_cdf[c] = (acc += weight[c]);

  // Public item ids: a random permutation of 1..N, unrelated to category or popularity.
  catalog.public_id.resize(num_items);
  for (int64_t i = 0; i < num_items; ++i) catalog.public_id[i] = i + 1;
  for (int64_t k = num_items - 1; k > 0; --k)
    std::swap(catalog.public_id[k], catalog.public_id[rng.below(k + 1)]);
  return catalog;
}

// ---- activities (coupons and campaigns) ----------------------------------------------------
struct Activity {
  std::string id;
  bool coupon = true;
  int32_t discount_percent = 0;
  int64_t start = 0, end = 0;  // [start, end) unix seconds
  double factor = 1.0;         // multiplies P(buy | cart) for a user of coupon_sensitivity 1
};

std::vector<Activity> build_activities(const SynthOptions& options) {
  Rng rng(options.seed, kActivityStream, 0);
  const int64_t window = int64_t{options.window_days} * kSecondsPerDay;
  std::vector<Activity> activities(options.campaigns);
  for (int32_t a = 0; a < options.campaigns; ++a) {
    Activity& activity = activities[a];
    activity.id = "a" + std::to_string(a + 1);
    activity.coupon = a == 0 ? true : a == 1 ? false : rng.chance(0.6);
    // Coupons: 5-30% off and a strong response; campaigns (site-wide sales): 10-40%, weaker.
    activity.discount_percent = activity.coupon ? static_cast<int32_t>(5 * (1 + rng.below(6)))
                                                : static_cast<int32_t>(10 * (1 + rng.below(4)));
    double elasticity = activity.coupon ? 2.0 + 2.0 * rng.uniform() : 1.0 + 1.5 * rng.uniform();
    activity.factor =
        std::round((1.0 + elasticity * activity.discount_percent / 100.0) * 1e4) / 1e4;
    int64_t duration = std::min<int64_t>(window, (20 + rng.below(26)) * kSecondsPerDay);
    activity.start = options.start_timestamp + rng.below(window - duration + 1);
    activity.end = activity.start + duration;
  }
  return activities;
}

// ---- buffered CSV output ---------------------------------------------------------------------
// Rows are formatted straight into a large buffer and written in big blocks: the generator's
// throughput is bounded by formatting, not by system calls.
class CsvFile {
 public:
  static constexpr size_t kBufferBytes = size_t{4} << 20;
  static constexpr size_t kMaxRowBytes = 512;

  explicit CsvFile(std::string path) : path_(std::move(path)), buffer_(kBufferBytes) {
    file_ = std::fopen(path_.c_str(), "wb");
    if (!file_) throw UserError(path_ + ": cannot create file: " + std::strerror(errno));
  }
  ~CsvFile() {
    if (file_) std::fclose(file_);
  }
  CsvFile(const CsvFile&) = delete;
  CsvFile& operator=(const CsvFile&) = delete;

  // Called once per row: guarantees room for kMaxRowBytes of unchecked appends.
  void begin_row() {
    if (used_ + kMaxRowBytes > buffer_.size()) flush();
  }
  void put(char c) { buffer_[used_++] = c; }
  void put(std::string_view text) {
    std::memcpy(buffer_.data() + used_, text.data(), text.size());
    used_ += text.size();
  }
  void put_int(int64_t value) {
    auto result = std::to_chars(buffer_.data() + used_, buffer_.data() + buffer_.size(), value);
    used_ = static_cast<size_t>(result.ptr - buffer_.data());
  }
  // Fixed two decimals from an integer number of hundredths (exact, no floating point).
  void put_hundredths(int64_t hundredths) {
    put_int(hundredths / 100);
    put('.');
    put(static_cast<char>('0' + hundredths % 100 / 10));
    put(static_cast<char>('0' + hundredths % 10));
  }
  // Fixed six decimals of a non-negative value.
  void put_fixed6(double value) {
    int64_t millionths = std::llround(value * 1e6);
    put_int(millionths / 1000000);
    put('.');
    char digits[6];
    int64_t fraction = millionths % 1000000;
    for (int k = 5; k >= 0; --k, fraction /= 10) digits[k] = static_cast<char>('0' + fraction % 10);
    put(std::string_view(digits, 6));
  }
  int64_t bytes_written() const { return written_ + static_cast<int64_t>(used_); }

  void close() {
    flush();
    if (std::fflush(file_) != 0 || std::ferror(file_)) fail();
    int rc = std::fclose(file_);
    file_ = nullptr;
    if (rc != 0) fail();
  }

 private:
  void flush() {
    if (used_ == 0) return;
    if (std::fwrite(buffer_.data(), 1, used_, file_) != used_) fail();
    written_ += static_cast<int64_t>(used_);
    used_ = 0;
  }
  [[noreturn]] void fail() {
    throw UserError(path_ + ": write failed (disk full?): " + std::strerror(errno));
  }

  std::string path_;
  std::vector<char> buffer_;
  size_t used_ = 0;
  int64_t written_ = 0;
  std::FILE* file_ = nullptr;
};

// ---- users -----------------------------------------------------------------------------------
struct Repurchase {
  int32_t item;
  int64_t due;
};

struct UserState {
  std::vector<int32_t> taste_categories;
  std::vector<double> taste_cdf;
  double cart_prob = 0, buy_prob = 0, fav_prob = 0;
  double coupon_sensitivity = 1, price_elasticity = 0;
  bool experiment = false;
  int32_t activity = -1;
  std::vector<Repurchase> pending;
};

// Ground-truth tallies of the coupon effect: expected purchase probabilities with and without the
// activity on the same carts (an exact counterfactual), next to what was realised.
struct ActivityTally {
  int64_t exposed_users = 0, experiment_exposed_users = 0;
  int64_t tagged_events = 0, tagged_carts = 0, tagged_buys = 0;
  double sum_prob_with = 0, sum_prob_without = 0;
};

const std::string_view kBehaviorNames[] = {"view", "fav", "cart", "buy"};
enum Behavior { kView = 0, kFav = 1, kCart = 2, kBuy = 3 };

// What the generator reads and writes for every event, packed so one cache line serves an item.
struct ItemState {
  int32_t category;
  float log_relative_price;
  int32_t public_id;
  uint32_t seen_stamp;  // equals the current user's stamp once that user has touched the item
};

// View-to-view gaps: a lognormal (median kMedianViewGapSeconds, sigma 0.9) tabulated at 4096
// quantiles, so a gap costs one draw and one lookup instead of log, sqrt, cos and exp.
std::vector<int32_t> build_view_gap_table() {
  constexpr int kSize = 4096;
  std::vector<int32_t> table(kSize);
  for (int k = 0; k < kSize; ++k) {
    double p = (k + 0.5) / kSize;
    // Standard normal quantile by bisection on the CDF 0.5 * erfc(-z / sqrt(2)).
    double lo = -9.0, hi = 9.0;
    for (int it = 0; it < 80; ++it) {
      double mid = 0.5 * (lo + hi);
      (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
    }
    double gap = kMedianViewGapSeconds * std::exp(0.9 * 0.5 * (lo + hi));
    table[k] = static_cast<int32_t>(std::clamp(gap, 2.0, 900.0));
  }
  return table;
}

class Generator {
 public:
  Generator(const SynthOptions& options, const Catalog& catalog,
            const std::vector<Activity>& activities, CsvFile& behavior, CsvFile& user_truth)
      : options_(options),
        catalog_(catalog),
        activities_(activities),
        behavior_(behavior),
        user_truth_(user_truth),
        view_gaps_(build_view_gap_table()),
        tallies_(activities.size()) {
    items_.resize(catalog.category_of.size());
    for (size_t i = 0; i < items_.size(); ++i) {
      items_[i] = {catalog.category_of[i], catalog.log_relative_price[i],
                   static_cast<int32_t>(catalog.public_id[i]), 0};
    }
    // Sessions per user are set so that the mean number of events lands near the target:
    // a view brings on average ~0.15 funnel events with it (measured on the defaults).
    const double events_per_view = 1.15;
    mean_sessions_ = std::max(
        1.0, options.events_per_user_mean / (options.views_per_session_mean * events_per_view));
  }

  void generate_user(int64_t user) {
    Rng rng(options_.seed, kUserStream, static_cast<uint64_t>(user));
    if (++stamp_ == 0) {  // wrapped after 2^32 - 1 users: forget every mark, start again
      for (auto& item : items_) item.seen_stamp = 0;
      stamp_ = 1;
    }
    user_text_len_ = static_cast<size_t>(
        std::to_chars(user_text_, user_text_ + sizeof(user_text_), user + 1).ptr - user_text_);
    init_user(rng);
    write_user_truth(user);

    const int64_t window = int64_t{options_.window_days} * kSecondsPerDay;
    // Active span: users join and leave at different times inside the window.
    int64_t span = static_cast<int64_t>(window * (0.3 + 0.7 * rng.uniform()));
    int64_t span_start = options_.start_timestamp + rng.below(window - span + 1);
    double y = (mean_sessions_ - 1.0) * rng.lognormal_unit_mean(0.7);
    int64_t sessions =
        1 + static_cast<int64_t>(std::floor(y)) + (rng.chance(y - std::floor(y)) ? 1 : 0);
    sessions = std::clamp<int64_t>(sessions, 1, std::max<int64_t>(1, span / kSessionSlotSeconds));
    // Session starts: S sorted points in the span's free time, each followed by its own slot, so
    // sessions never overlap and timestamps strictly increase within a user.
    int64_t free_time = std::max<int64_t>(0, span - sessions * kSessionSlotSeconds);
    starts_.resize(static_cast<size_t>(sessions));
    for (auto& s : starts_) s = rng.below(free_time + 1);
    std::sort(starts_.begin(), starts_.end());
    last_event_repeat_ = false;
    for (int64_t k = 0; k < sessions; ++k) {
      generate_session(rng, span_start + starts_[k] + k * kSessionSlotSeconds, k == 0);
    }
    repeat_last_users_ += last_event_repeat_ ? 1 : 0;
  }

  int64_t events() const { return events_; }
  int64_t count(Behavior b) const { return counts_[b]; }
  int64_t exposed_users() const { return exposed_users_; }
  int64_t experiment_users() const { return experiment_users_; }
  int64_t tagged_events() const { return tagged_events_; }
  int64_t repeat_last_users() const { return repeat_last_users_; }
  const std::vector<ActivityTally>& tallies() const { return tallies_; }
  int64_t untagged_carts() const { return untagged_carts_; }
  int64_t untagged_buys() const { return untagged_buys_; }
  double untagged_prob_sum() const { return untagged_prob_sum_; }

 private:
  void init_user(Rng& rng) {
    user_ = UserState{};
    UserState& u = user_;
    u.pending.clear();
    // Sparse taste: 1-4 categories (drawn by category popularity) with Dirichlet(1) weights.
    double r = rng.uniform();
    int n_tastes = r < 0.3 ? 1 : r < 0.7 ? 2 : r < 0.9 ? 3 : 4;
    n_tastes = std::min<int>(n_tastes, options_.categories);
    while (static_cast<int>(u.taste_categories.size()) < n_tastes) {
      int32_t c = draw_category(rng);
      if (std::find(u.taste_categories.begin(), u.taste_categories.end(), c) ==
          u.taste_categories.end()) {
        u.taste_categories.push_back(c);
      }
    }
    double acc = 0;
    for (int k = 0; k < n_tastes; ++k) u.taste_cdf.push_back(acc += rng.exponential());
    u.cart_prob = std::clamp(kMeanCartProb * rng.lognormal_unit_mean(0.5), 0.005, 0.5);
    u.buy_prob = std::clamp(kMeanBuyProb * rng.lognormal_unit_mean(0.35), 0.02, 0.9);
    u.fav_prob = std::clamp(kMeanFavProb * rng.lognormal_unit_mean(0.8), 0.0, 0.3);
    // Price-sensitive users both prefer cheaper items and respond more to coupons, so the
    // response is partly predictable from behaviour (what an uplift model should find).
    u.coupon_sensitivity = rng.lognormal_unit_mean(0.6);
    u.price_elasticity = 0.8 * u.coupon_sensitivity;
    u.experiment = rng.chance(options_.randomized_fraction);
    // In the experiment exposure is a coin flip; outside it, marketing targets heavy buyers
    // (exposure confounded with the user's own purchase propensity).
    double exposure_prob =
        u.experiment ? options_.exposure_fraction
                     : std::min(1.0, options_.exposure_fraction * u.buy_prob / kMeanBuyProb);
    bool exposed = rng.chance(exposure_prob);
    int64_t activity = rng.below(std::max<int64_t>(1, static_cast<int64_t>(activities_.size())));
    if (!activities_.empty() && exposed) {
      u.activity = static_cast<int32_t>(activity);
      ++exposed_users_;
      ++tallies_[activity].exposed_users;
      if (u.experiment) ++tallies_[activity].experiment_exposed_users;
    }
    experiment_users_ += u.experiment ? 1 : 0;
  }

  void write_user_truth(int64_t user) {
    const UserState& u = user_;
    user_truth_.begin_row();
    user_truth_.put_int(user + 1);
    user_truth_.put(u.experiment ? ",1," : ",0,");
    if (u.activity >= 0) user_truth_.put(activities_[u.activity].id);
    user_truth_.put(',');
    user_truth_.put_fixed6(u.coupon_sensitivity);
    user_truth_.put(',');
    user_truth_.put_fixed6(u.cart_prob);
    user_truth_.put(',');
    user_truth_.put_fixed6(u.buy_prob);
    user_truth_.put('\n');
  }

  int32_t draw_category(Rng& rng) {
    return static_cast<int32_t>(
        draw_from_cdf(rng, catalog_.category_cdf.data(), options_.categories));
  }
  int32_t draw_taste(Rng& rng) {
    const auto& cdf = user_.taste_cdf;
    return user_.taste_categories[draw_from_cdf(rng, cdf.data(), static_cast<int64_t>(cdf.size()))];
  }
  int32_t draw_popular_item(Rng& rng, int32_t category) {
    const Category& c = catalog_.categories[category];
    double fraction;
    const AliasSlot& slot =
        c.popularity_alias[rng.below_with_fraction(static_cast<int64_t>(c.items.size()), fraction)];
    return fraction < slot.threshold ? slot.item : slot.alias;
  }
  int32_t draw_successor(Rng& rng, int32_t item) {
    const int32_t k = catalog_.successors_per_item;
    int64_t slot = draw_from_cdf(rng, catalog_.successor_cdf.data(), k);
    return catalog_.successors[static_cast<size_t>(item) * k + slot];
  }
  bool seen(int32_t item) const { return items_[item].seen_stamp == stamp_; }

  void drift_taste(Rng& rng) {
    // Slow drift: now and then one liked category is swapped for a new one (weight kept).
    if (!rng.chance(kTasteDriftPerSession)) return;
    auto& tastes = user_.taste_categories;
    if (static_cast<int32_t>(tastes.size()) >= options_.categories) return;
    for (int attempt = 0; attempt < 4; ++attempt) {
      int32_t c = draw_category(rng);
      if (std::find(tastes.begin(), tastes.end(), c) != tastes.end()) continue;
      tastes[rng.below(static_cast<int64_t>(tastes.size()))] = c;
      return;
    }
  }

  int32_t tag_at(int64_t t) const {
    if (user_.activity < 0) return -1;
    const Activity& a = activities_[user_.activity];
    return t >= a.start && t < a.end ? user_.activity : -1;
  }

  void emit(int32_t item, int32_t tag, Behavior behavior, int64_t t, int64_t quantity) {
    behavior_.begin_row();
    behavior_.put(std::string_view(user_text_, user_text_len_));
    behavior_.put(',');
    behavior_.put_int(items_[item].public_id);
    behavior_.put(',');
    if (tag >= 0) {
      behavior_.put(activities_[tag].id);
      ++tallies_[tag].tagged_events;
      ++tagged_events_;
    }
    behavior_.put(',');
    behavior_.put(kBehaviorNames[behavior]);
    behavior_.put(',');
    behavior_.put_int(t);
    behavior_.put(',');
    behavior_.put_int(quantity);
    behavior_.put('\n');
    ++events_;
    ++counts_[behavior];
    last_event_repeat_ = seen(item);
    items_[item].seen_stamp = stamp_;
  }

  // One view and what may follow it (fav, cart, buy); returns the time of the last event.
  int64_t view_with_funnel(Rng& rng, int32_t item, int64_t t, bool repurchase) {
    emit(item, tag_at(t), kView, t, 0);
    const UserState& u = user_;
    if (rng.chance(u.fav_prob)) {
      t += 2 + rng.below(20);
      emit(item, tag_at(t), kFav, t, 0);
    }
    double cart_prob = std::min(
        0.9, u.cart_prob * std::exp(-u.price_elasticity * items_[item].log_relative_price));
    if (repurchase) cart_prob = std::max(cart_prob, kRepurchaseCartProb);
    if (!rng.chance(cart_prob)) return t;
    t += 5 + rng.below(55);
    int32_t tag = tag_at(t);
    emit(item, tag, kCart, t, 0);
    const double prob_without = u.buy_prob;
    double prob = prob_without;
    if (tag >= 0) {
      // The response also depends on what is in the cart: coupons move deal-driven categories
      // more (the part of the effect a model sees at the decision itself).
      const double affinity = catalog_.categories[static_cast<size_t>(items_[item].category)].deal_affinity;
      double factor = 1.0 + (activities_[tag].factor - 1.0) * u.coupon_sensitivity * affinity;
      prob = std::min(kBuyProbCap, prob_without * factor);
    }
    bool buy = rng.chance(prob);
    if (tag >= 0) {
      ActivityTally& tally = tallies_[tag];
      ++tally.tagged_carts;
      tally.sum_prob_with += prob;
      tally.sum_prob_without += prob_without;
      tally.tagged_buys += buy ? 1 : 0;
    } else {
      ++untagged_carts_;
      untagged_prob_sum_ += prob;
      untagged_buys_ += buy ? 1 : 0;
    }
    if (!buy) return t;
    t += 15 + rng.below(300);
    const Category& category = catalog_.categories[items_[item].category];
    int64_t quantity = category.consumable ? 1 + rng.geometric(0.6) : (rng.chance(0.06) ? 2 : 1);
    emit(item, tag, kBuy, t, quantity);
    if (category.consumable) {
      int64_t cycle = static_cast<int64_t>(category.repurchase_days * quantity * kSecondsPerDay *
                                           rng.lognormal_unit_mean(0.3));
      if (user_.pending.size() >= kMaxPendingRepurchases)
        user_.pending.erase(user_.pending.begin());
      user_.pending.push_back({item, t + cycle});
    }
    return t;
  }

  void generate_session(Rng& rng, int64_t start, bool first_session) {
    if (!first_session) drift_taste(rng);
    int32_t primary = draw_taste(rng);
    int32_t secondary = -1;
    if (rng.chance(kExploreCategoryProbability))
      secondary = draw_category(rng);
    else if (rng.chance(kSecondCategoryProbability))
      secondary = draw_taste(rng);
    if (secondary == primary) secondary = -1;

    int64_t views = 1 + rng.geometric(options_.views_per_session_mean - 1.0);
    if (first_session) views = std::max<int64_t>(views, 3);

    // A consumable bought earlier and now due may open the session (a repeat purchase).
    int32_t item = -1;
    bool repurchase = false;
    for (size_t k = 0; k < user_.pending.size(); ++k) {
      if (user_.pending[k].due > start) continue;
      int32_t due_item = user_.pending[k].item;
      user_.pending.erase(user_.pending.begin() + static_cast<std::ptrdiff_t>(k));
      if (rng.chance(kRepurchaseTakeUp)) {
        item = due_item;
        repurchase = true;
      }
      break;
    }
    int32_t current_category = primary;
    if (item < 0) {
      for (int attempt = 0; attempt < kNextItemAttempts; ++attempt) {
        item = draw_popular_item(rng, primary);
        if (!seen(item) || !rng.chance(kRevisitAvoidance)) break;
      }
    } else {
      current_category = items_[item].category;
    }

    int64_t t = start;
    for (int64_t v = 0;; ++v) {
      t = view_with_funnel(rng, item, t, repurchase);
      repurchase = false;
      if (v + 1 >= views) break;
      t += view_gaps_[rng.next() >> 52];
      if (t - start > kSessionStopAfterSeconds) break;
      item = next_item(rng, item, current_category, primary, secondary);
      current_category = items_[item].category;
    }
  }

  // The next view: mostly a related item of the current one, otherwise a popular item of the
  // session's category (or of its second category). Items seen before are usually skipped.
  int32_t next_item(Rng& rng, int32_t current, int32_t current_category, int32_t primary,
                    int32_t secondary) {
    int32_t candidate = current;
    for (int attempt = 0; attempt < kNextItemAttempts; ++attempt) {
      double r = rng.uniform();
      if (r < options_.follow_probability) {
        candidate = draw_successor(rng, current);
      } else if (secondary >= 0 && r < options_.follow_probability + kCategorySwitchProbability) {
        int32_t other = current_category == secondary ? primary : secondary;
        candidate = draw_popular_item(rng, other);
      } else {
        candidate = draw_popular_item(rng, current_category);
      }
      if (!seen(candidate) || !rng.chance(kRevisitAvoidance)) return candidate;
    }
    return candidate;
  }

  const SynthOptions& options_;
  const Catalog& catalog_;
  const std::vector<Activity>& activities_;
  CsvFile& behavior_;
  CsvFile& user_truth_;
  std::vector<ItemState> items_;
  std::vector<int32_t> view_gaps_;
  uint32_t stamp_ = 0;  // one per user, so "seen by this user" needs no clearing between users
  double mean_sessions_ = 1;
  UserState user_;
  std::vector<int64_t> starts_;
  char user_text_[24] = {};
  size_t user_text_len_ = 0;
  bool last_event_repeat_ = false;

  int64_t events_ = 0;
  int64_t counts_[4] = {0, 0, 0, 0};
  int64_t exposed_users_ = 0, experiment_users_ = 0, tagged_events_ = 0, repeat_last_users_ = 0;
  std::vector<ActivityTally> tallies_;
  int64_t untagged_carts_ = 0, untagged_buys_ = 0;
  double untagged_prob_sum_ = 0;
};

void write_items(const Catalog& catalog, const std::string& path) {
  CsvFile file(path);
  file.begin_row();
  file.put("item_id,category,price\n");
  const int64_t n = static_cast<int64_t>(catalog.public_id.size());
  std::vector<int32_t> by_id(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) by_id[catalog.public_id[i] - 1] = static_cast<int32_t>(i);
  for (int32_t item : by_id) {
    file.begin_row();
    file.put_int(catalog.public_id[item]);
    file.put(",c");
    file.put_int(catalog.category_of[item] + 1);
    file.put(',');
    file.put_hundredths(catalog.price_cents[item]);
    file.put('\n');
  }
  file.close();
}

void write_activities(const std::vector<Activity>& activities, const std::string& path) {
  CsvFile file(path);
  file.begin_row();
  file.put("activity_id,type,discount\n");
  for (const Activity& a : activities) {
    file.begin_row();
    file.put(a.id);
    file.put(a.coupon ? ",coupon," : ",campaign,");
    file.put_hundredths(a.discount_percent);
    file.put('\n');
  }
  file.close();
}

// A small file inside the pending directory (the directory as a whole is committed atomically).
void write_text_file(const std::string& path, const std::string& text) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (!file) throw UserError(path + ": cannot create file: " + std::strerror(errno));
  bool ok = std::fwrite(text.data(), 1, text.size(), file) == text.size();
  ok = std::fclose(file) == 0 && ok;
  if (!ok) throw UserError(path + ": write failed (disk full?)");
}

double rounded(double value) { return std::round(value * 1e6) / 1e6; }
double ratio(double numerator, double denominator) {
  return denominator > 0 ? rounded(numerator / denominator) : 0.0;
}

Json ground_truth_json(const SynthOptions& options, const Catalog& catalog,
                       const std::vector<Activity>& activities, const Generator& gen) {
  Json j;
  j["generator"] = "cartformer synth";
  j["format_version"] = 1;
  j["seed"] = options.seed;
  j["options"] = {{"users", options.users},
                  {"items", options.items},
                  {"categories", options.categories},
                  {"campaigns", options.campaigns},
                  {"events_per_user_mean", options.events_per_user_mean},
                  {"start_timestamp", options.start_timestamp},
                  {"window_days", options.window_days},
                  {"successors_per_item", options.successors_per_item},
                  {"follow_probability", options.follow_probability},
                  {"views_per_session_mean", options.views_per_session_mean},
                  {"exposure_fraction", options.exposure_fraction},
                  {"randomized_fraction", options.randomized_fraction}};
  j["time_window"] = {
      {"start", options.start_timestamp},
      {"end", options.start_timestamp + int64_t{options.window_days} * kSecondsPerDay}};
  const int64_t views = gen.count(kView), carts = gen.count(kCart), buys = gen.count(kBuy);
  j["counts"] = {{"users", options.users},
                 {"items", options.items},
                 {"categories", options.categories},
                 {"activities", options.campaigns},
                 {"events", gen.events()},
                 {"view", views},
                 {"fav", gen.count(kFav)},
                 {"cart", carts},
                 {"buy", buys},
                 {"experiment_users", gen.experiment_users()},
                 {"exposed_users", gen.exposed_users()},
                 {"tagged_events", gen.tagged_events()}};
  j["funnel"] = {{"view_to_fav", ratio(gen.count(kFav), views)},
                 {"view_to_cart", ratio(carts, views)},
                 {"cart_to_buy", ratio(buys, carts)}};

  Json successor_weights = Json::array();
  const double total = catalog.successor_cdf.back();
  for (int32_t k = 0; k < catalog.successors_per_item; ++k) {
    successor_weights.push_back(rounded((catalog.successors_per_item - k) / total));
  }
  Json consumables = Json::array(), deal_categories = Json::array();
  for (size_t c = 0; c < catalog.categories.size(); ++c) {
    if (catalog.categories[c].deal_affinity == kDealAffinity) deal_categories.push_back("c" + std::to_string(c + 1));
    if (!catalog.categories[c].consumable) continue;
    consumables.push_back({{"category", "c" + std::to_string(c + 1)},
                           {"repurchase_days", catalog.categories[c].repurchase_days}});
  }
  j["behaviour_model"] = {
      {"item_zipf_exponent", kItemZipfExponent},
      {"category_zipf_exponent", kCategoryZipfExponent},
      {"successors_per_item", catalog.successors_per_item},
      {"successor_weights", successor_weights},
      {"follow_probability", options.follow_probability},
      {"category_switch_probability", kCategorySwitchProbability},
      {"revisit_avoidance", kRevisitAvoidance},
      {"taste_drift_per_session", kTasteDriftPerSession},
      {"consumable_categories", consumables},
      {"deal_categories", deal_categories},
      {"deal_affinity",
       {{"deal_categories", kDealAffinity}, {"other_categories", kOtherAffinity}}},
      {"last_event_item_seen_before_fraction",
       ratio(static_cast<double>(gen.repeat_last_users()), static_cast<double>(options.users))}};

  Json per_activity = Json::array();
  int64_t tagged_carts = 0;
  double sum_with = 0, sum_without = 0;
  for (size_t a = 0; a < activities.size(); ++a) {
    const Activity& act = activities[a];
    const ActivityTally& t = gen.tallies()[a];
    tagged_carts += t.tagged_carts;
    sum_with += t.sum_prob_with;
    sum_without += t.sum_prob_without;
    per_activity.push_back(
        {{"activity_id", act.id},
         {"type", act.coupon ? "coupon" : "campaign"},
         {"discount", act.discount_percent / 100.0},
         {"start", act.start},
         {"end", act.end},
         {"factor", act.factor},
         {"exposed_users", t.exposed_users},
         {"experiment_exposed_users", t.experiment_exposed_users},
         {"tagged_events", t.tagged_events},
         {"tagged_carts", t.tagged_carts},
         {"tagged_buys", t.tagged_buys},
         {"mean_purchase_prob_with", ratio(t.sum_prob_with, t.tagged_carts)},
         {"mean_purchase_prob_without", ratio(t.sum_prob_without, t.tagged_carts)}});
  }
  j["coupon_effect"] = {
      {"effect",
       "P(buy | cart) = min(cap, buy_prob * (1 + (factor - 1) * coupon_sensitivity * "
       "deal_affinity)) while the event lies in the user's activity window; buy_prob and "
       "coupon_sensitivity per user are in " +
           std::string(kSynthUserTruthFile) +
           ", deal_affinity of the carted item's category in behaviour_model"},
      {"buy_prob_cap", kBuyProbCap},
      {"exposure_fraction", options.exposure_fraction},
      {"randomized_fraction", options.randomized_fraction},
      {"targeting",
       "experiment users: exposed with probability exposure_fraction; other users: "
       "min(1, exposure_fraction * buy_prob / mean_buy_prob) (heavy buyers targeted)"},
      {"mean_buy_prob", kMeanBuyProb},
      {"tagged_carts", tagged_carts},
      {"mean_purchase_prob_with_coupon", ratio(sum_with, static_cast<double>(tagged_carts))},
      {"mean_purchase_prob_without_coupon", ratio(sum_without, static_cast<double>(tagged_carts))},
      {"untagged_carts", gen.untagged_carts()},
      {"mean_purchase_prob_untagged",
       ratio(gen.untagged_prob_sum(), static_cast<double>(gen.untagged_carts()))},
      {"activities", per_activity}};
  return j;
}

// Refuses to replace a directory that holds anything but a previous synth output, so a typo in
// --out can never wipe unrelated data.
void check_replaceable(const std::string& output_dir) {
  std::error_code ec;
  if (!fs::exists(output_dir, ec)) return;
  if (!fs::is_directory(output_dir, ec))
    throw UserError(output_dir + ": exists and is not a directory");
  const std::string_view ours[] = {kSynthBehaviorFile, kSynthItemFile, kSynthActivityFile,
                                   kSynthGroundTruthFile, kSynthUserTruthFile};
  for (const auto& entry : fs::directory_iterator(output_dir)) {
    std::string name = entry.path().filename().string();
    if (std::find(std::begin(ours), std::end(ours), name) == std::end(ours)) {
      throw UserError(output_dir + ": exists and holds '" + name +
                      "', which is not a synth output; refusing to replace it");
    }
  }
}

}  // namespace

void validate_synth_options(const SynthOptions& o) {
  auto fail = [](const std::string& key, const std::string& problem) {
    throw UserError(key + ": " + problem);
  };
  if (o.users <= 0) fail("users", "must be at least 1 (got " + std::to_string(o.users) + ")");
  if (o.users >= (int64_t{1} << 40))
    fail("users", "too large (got " + std::to_string(o.users) + ")");
  if (o.categories <= 0)
    fail("categories", "must be at least 1 (got " + std::to_string(o.categories) + ")");
  if (o.items < o.categories) {
    fail("items", "must be at least the number of categories (" + std::to_string(o.categories) +
                      "; got " + std::to_string(o.items) + ")");
  }
  if (o.items >= (int64_t{1} << 31))
    fail("items", "must be below 2^31 (got " + std::to_string(o.items) + ")");
  if (o.campaigns < 0 || o.campaigns > 100000) {
    fail("campaigns", "must be between 0 and 100000 (got " + std::to_string(o.campaigns) + ")");
  }
  if (!(o.events_per_user_mean >= 1.0 && o.events_per_user_mean <= 5000.0)) {
    fail("events-per-user-mean",
         "must be between 1 and 5000 (got " + std::to_string(o.events_per_user_mean) + ")");
  }
  if (o.window_days < 1 || o.window_days > 3650) {
    fail("window-days", "must be between 1 and 3650 (got " + std::to_string(o.window_days) + ")");
  }
  if (o.start_timestamp < 0) fail("start-timestamp", "must not be negative");
  if (o.successors_per_item < 1 || o.successors_per_item > 64) {
    fail("successors-per-item",
         "must be between 1 and 64 (got " + std::to_string(o.successors_per_item) + ")");
  }
  auto check_fraction = [&](const char* key, double value) {
    if (!(value >= 0.0 && value <= 1.0))
      fail(key, "must be between 0 and 1 (got " + std::to_string(value) + ")");
  };
  check_fraction("follow-probability", o.follow_probability);
  check_fraction("exposure-fraction", o.exposure_fraction);
  check_fraction("randomized-fraction", o.randomized_fraction);
  if (o.follow_probability + kCategorySwitchProbability > 1.0) {
    fail("follow-probability",
         "must be at most " + std::to_string(1.0 - kCategorySwitchProbability));
  }
  if (!(o.views_per_session_mean >= 1.0 && o.views_per_session_mean <= 1000.0)) {
    fail("views-per-session-mean", "must be between 1 and 1000");
  }
}

void apply_event_target(SynthOptions& options, int64_t target_events, bool keep_users) {
  if (target_events <= 0) {
    throw UserError("events: must be at least 1 (got " + std::to_string(target_events) + ")");
  }
  if (keep_users) {
    if (options.users <= 0)
      throw UserError("users: must be at least 1 (got " + std::to_string(options.users) + ")");
    options.events_per_user_mean =
        static_cast<double>(target_events) / static_cast<double>(options.users);
  } else {
    if (!(options.events_per_user_mean >= 1.0)) {
      throw UserError("events-per-user-mean: must be at least 1 (got " +
                      std::to_string(options.events_per_user_mean) + ")");
    }
    options.users = std::max<int64_t>(
        1, std::llround(static_cast<double>(target_events) / options.events_per_user_mean));
  }
}

SynthSummary generate_synthetic_logs(const SynthOptions& options, const std::string& output_dir,
                                     const SynthProgress& progress) {
  validate_synth_options(options);
  if (output_dir.empty()) throw UserError("out: output directory must not be empty");
  check_replaceable(output_dir);

  const Catalog catalog = build_catalog(options);
  const std::vector<Activity> activities = build_activities(options);

  PendingOutput pending(output_dir, /*is_directory=*/true);
  const fs::path dir(pending.temp_path());
  write_items(catalog, (dir / kSynthItemFile).string());
  write_activities(activities, (dir / kSynthActivityFile).string());

  CsvFile behavior((dir / kSynthBehaviorFile).string());
  CsvFile user_truth((dir / kSynthUserTruthFile).string());
  behavior.begin_row();
  behavior.put("user_id,item_id,activity_id,behavior,timestamp,purchase\n");
  user_truth.begin_row();
  user_truth.put("user_id,experiment,activity_id,coupon_sensitivity,cart_prob,buy_prob\n");

  Generator generator(options, catalog, activities, behavior, user_truth);
  constexpr int64_t kProgressEveryUsers = 512;
  for (int64_t user = 0; user < options.users; ++user) {
    generator.generate_user(user);
    if (progress && (user + 1) % kProgressEveryUsers == 0) progress(user + 1, generator.events());
  }
  const int64_t behavior_bytes = behavior.bytes_written();
  behavior.close();
  user_truth.close();
  if (progress) progress(options.users, generator.events());

  Json truth = ground_truth_json(options, catalog, activities, generator);
  write_text_file((dir / kSynthGroundTruthFile).string(), truth.dump(2) + "\n");
  pending.commit();

  SynthSummary summary;
  summary.output_dir = output_dir;
  summary.users = options.users;
  summary.items = options.items;
  summary.categories = options.categories;
  summary.activities = options.campaigns;
  summary.events = generator.events();
  summary.views = generator.count(kView);
  summary.favs = generator.count(kFav);
  summary.carts = generator.count(kCart);
  summary.buys = generator.count(kBuy);
  summary.exposed_users = generator.exposed_users();
  summary.tagged_events = generator.tagged_events();
  summary.behavior_bytes = behavior_bytes;
  return summary;
}

}  // namespace cf::data
