// Synthetic log generator: determinism, file contract, funnel, coupon effect, sequential signal.
#include "data/synth/synth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json.h"
#include "data/raw_event.h"

namespace cf::synth {
namespace {

namespace fs = std::filesystem;

// A scratch folder removed at the end of the test.
class ScratchDir {
 public:
  ScratchDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("cf_synth_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string sub(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

std::vector<std::string> split(const std::string& line, char sep = ',') {
  std::vector<std::string> fields;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, sep)) fields.push_back(field);
  if (!line.empty() && line.back() == sep) fields.emplace_back();
  return fields;
}

// Lines of a CSV file without the header; checks the header on the way.
std::vector<std::string> data_lines(const std::string& path, const std::string& expected_header) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, expected_header) << path;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

struct BehaviorRow {
  std::string user, item, activity, behavior;
  int64_t timestamp = 0;
  int64_t purchase = 0;
};

std::vector<BehaviorRow> read_behavior(const std::string& dir) {
  std::vector<BehaviorRow> rows;
  for (const auto& line : data_lines(dir + "/behavior_data.csv",
                                     "user_id,item_id,activity_id,behavior,timestamp,purchase")) {
    auto f = split(line);
    EXPECT_EQ(f.size(), 6u) << line;
    if (f.size() != 6) continue;
    rows.push_back({f[0], f[1], f[2], f[3], std::stoll(f[4]), std::stoll(f[5])});
  }
  return rows;
}

SynthOptions small_options(int64_t users = 300) {
  SynthOptions o;
  o.users = users;
  o.items = 500;
  o.categories = 8;
  o.campaigns = 3;
  o.events_per_user_mean = 40;
  return o;
}

TEST(Synth, SameSeedGivesIdenticalBytesOtherSeedDiffers) {
  ScratchDir scratch;
  SynthOptions o = small_options();
  generate_synthetic_logs(o, scratch.sub("a"));
  generate_synthetic_logs(o, scratch.sub("b"));
  for (const char* name : {kSynthBehaviorFile, kSynthItemFile, kSynthActivityFile,
                           kSynthGroundTruthFile, kSynthUserTruthFile, kSynthMarkerFile}) {
    EXPECT_EQ(read_text_file(scratch.sub("a") + "/" + name),
              read_text_file(scratch.sub("b") + "/" + name))
        << name;
  }
  o.seed = 43;
  generate_synthetic_logs(o, scratch.sub("c"));
  EXPECT_NE(read_text_file(scratch.sub("a") + "/behavior_data.csv"),
            read_text_file(scratch.sub("c") + "/behavior_data.csv"));
  EXPECT_NE(read_text_file(scratch.sub("a") + "/item_data.csv"),
            read_text_file(scratch.sub("c") + "/item_data.csv"));
}

// A user's events depend only on the seed and the user's index, so a larger log starts with
// exactly the rows of a smaller one (what lets generation be split across workers later).
TEST(Synth, UsersArePrefixStable) {
  ScratchDir scratch;
  SynthOptions o = small_options(50);
  generate_synthetic_logs(o, scratch.sub("small"));
  o.users = 80;
  generate_synthetic_logs(o, scratch.sub("large"));
  std::string small = read_text_file(scratch.sub("small") + "/behavior_data.csv");
  std::string large = read_text_file(scratch.sub("large") + "/behavior_data.csv");
  ASSERT_LT(small.size(), large.size());
  EXPECT_EQ(large.substr(0, small.size()), small);
}

TEST(Synth, FilesAreWellFormedAndConsistentWithSummary) {
  ScratchDir scratch;
  const SynthOptions o = small_options(400);
  const std::string dir = scratch.sub("out");
  const SynthSummary summary = generate_synthetic_logs(o, dir);
  EXPECT_EQ(summary.output_dir, dir);

  // item_data: ids 1..N, categories c1..cC, prices with exactly two decimals.
  std::map<std::string, std::string> category_of;
  for (const auto& line : data_lines(dir + "/item_data.csv", "item_id,category,price")) {
    auto f = split(line);
    ASSERT_EQ(f.size(), 3u) << line;
    EXPECT_TRUE(category_of.emplace(f[0], f[1]).second) << "duplicate item " << f[0];
    ASSERT_EQ(f[1][0], 'c');
    int c = std::stoi(f[1].substr(1));
    EXPECT_GE(c, 1);
    EXPECT_LE(c, o.categories);
    auto dot = f[2].find('.');
    ASSERT_NE(dot, std::string::npos) << line;
    EXPECT_EQ(f[2].size() - dot, 3u) << line;
    EXPECT_GT(std::stod(f[2]), 0.0);
  }
  EXPECT_EQ(static_cast<int64_t>(category_of.size()), o.items);
  std::set<std::string> categories_used;
  for (const auto& [item, category] : category_of) categories_used.insert(category);
  EXPECT_EQ(static_cast<int32_t>(categories_used.size()), o.categories);

  // activity_data: types and discounts.
  std::set<std::string> activity_ids;
  for (const auto& line : data_lines(dir + "/activity_data.csv", "activity_id,type,discount")) {
    auto f = split(line);
    ASSERT_EQ(f.size(), 3u) << line;
    activity_ids.insert(f[0]);
    EXPECT_TRUE(f[1] == "coupon" || f[1] == "campaign") << line;
    double discount = std::stod(f[2]);
    EXPECT_GT(discount, 0.0);
    EXPECT_LT(discount, 1.0);
  }
  EXPECT_EQ(static_cast<int32_t>(activity_ids.size()), o.campaigns);

  // behavior_data: joins, value ranges, per-user contiguity and strictly increasing time.
  const auto rows = read_behavior(dir);
  EXPECT_EQ(static_cast<int64_t>(rows.size()), summary.events);
  std::map<std::string, int64_t> per_behavior;
  std::set<std::string> users_seen;
  std::string current_user;
  int64_t previous_time = 0, tagged = 0;
  const int64_t window_end = o.start_timestamp + int64_t{o.window_days} * 86400;
  for (const auto& r : rows) {
    ++per_behavior[r.behavior];
    EXPECT_TRUE(category_of.count(r.item)) << "unknown item " << r.item;
    if (!r.activity.empty()) {
      ++tagged;
      EXPECT_TRUE(activity_ids.count(r.activity)) << "unknown activity " << r.activity;
    }
    EXPECT_GE(r.timestamp, o.start_timestamp);
    EXPECT_LT(r.timestamp, window_end);
    if (r.behavior == "buy")
      EXPECT_GT(r.purchase, 0);
    else
      EXPECT_EQ(r.purchase, 0);
    if (r.user != current_user) {
      EXPECT_TRUE(users_seen.insert(r.user).second) << "rows of user " << r.user << " are split";
      current_user = r.user;
    } else {
      EXPECT_GT(r.timestamp, previous_time) << "user " << r.user;
    }
    previous_time = r.timestamp;
  }
  EXPECT_EQ(per_behavior.size(), 4u);  // view, fav, cart, buy and nothing else
  EXPECT_EQ(per_behavior["view"], summary.views);
  EXPECT_EQ(per_behavior["fav"], summary.favs);
  EXPECT_EQ(per_behavior["cart"], summary.carts);
  EXPECT_EQ(per_behavior["buy"], summary.buys);
  EXPECT_EQ(tagged, summary.tagged_events);
  EXPECT_EQ(static_cast<int64_t>(users_seen.size()), o.users);
  EXPECT_EQ(summary.behavior_bytes,
            static_cast<int64_t>(fs::file_size(dir + "/behavior_data.csv")));

  // Ground truth agrees with the files.
  Json truth = Json::parse(read_text_file(dir + "/ground_truth.json"));
  EXPECT_EQ(truth["seed"].get<uint64_t>(), o.seed);
  EXPECT_EQ(truth["counts"]["events"].get<int64_t>(), summary.events);
  EXPECT_EQ(truth["counts"]["buy"].get<int64_t>(), summary.buys);
  EXPECT_EQ(truth["counts"]["exposed_users"].get<int64_t>(), summary.exposed_users);
  ASSERT_EQ(truth["coupon_effect"]["activities"].size(), activity_ids.size());
  for (const auto& a : truth["coupon_effect"]["activities"]) {
    EXPECT_TRUE(activity_ids.count(a["activity_id"].get<std::string>()));
    EXPECT_GT(a["factor"].get<double>(), 1.0);
  }
  auto users = data_lines(dir + "/ground_truth_users.csv",
                          "user_id,experiment,activity_id,coupon_sensitivity,cart_prob,buy_prob");
  EXPECT_EQ(static_cast<int64_t>(users.size()), o.users);
  int64_t exposed = 0;
  for (const auto& line : users) {
    auto f = split(line);
    ASSERT_EQ(f.size(), 6u) << line;
    if (!f[2].empty()) {
      ++exposed;
      EXPECT_TRUE(activity_ids.count(f[2])) << line;
    }
  }
  EXPECT_EQ(exposed, summary.exposed_users);
}

// The reader prep uses must accept every row: the format contract between synth and prep.
TEST(Synth, TrioReaderReadsEveryRow) {
  ScratchDir scratch;
  const std::string dir = scratch.sub("out");
  const SynthSummary summary = generate_synthetic_logs(small_options(100), dir);
  std::vector<data::RowReject> rejects;
  data::RawSourceSpec spec;
  spec.format = data::RawFormat::kTrio;
  spec.path = dir;
  auto reader = data::open_raw_log(spec, [&](const data::RowReject& r) { rejects.push_back(r); });
  data::RawEvent event;
  int64_t events = 0, buys = 0, priced = 0;
  while (reader->next(event)) {
    // The item table joined as prep joins it: per row, or once per item on request.
    if (reader->joins_items_on_request()) {
      reader->join_item(event.item, event.category, event.item_features, event.price);
    }
    ++events;
    buys += event.purchase_label > 0 ? 1 : 0;
    priced += std::isnan(event.price) ? 0 : 1;
    EXPECT_FALSE(event.category.empty());
  }
  EXPECT_TRUE(rejects.empty()) << rejects.size() << " rejects, first: "
                               << (rejects.empty() ? ""
                                                   : rejects[0].reason + " at line " +
                                                         std::to_string(rejects[0].line));
  EXPECT_EQ(events, summary.events);
  EXPECT_EQ(buys, summary.buys);
  EXPECT_EQ(priced, summary.events);
}

TEST(Synth, FunnelRatesAreRealistic) {
  ScratchDir scratch;
  SynthOptions o;  // the demo's model, fewer users
  o.users = 1500;
  const SynthSummary s = generate_synthetic_logs(o, scratch.sub("out"));
  const double view_to_cart = static_cast<double>(s.carts) / s.views;
  const double cart_to_buy = static_cast<double>(s.buys) / s.carts;
  const double view_to_fav = static_cast<double>(s.favs) / s.views;
  EXPECT_GE(view_to_cart, 0.05);
  EXPECT_LE(view_to_cart, 0.10);
  EXPECT_GE(cart_to_buy, 0.30);
  EXPECT_LE(cart_to_buy, 0.50);
  EXPECT_GE(view_to_fav, 0.01);
  EXPECT_LE(view_to_fav, 0.06);
  const double per_user = static_cast<double>(s.events) / o.users;
  EXPECT_GT(per_user, 0.9 * o.events_per_user_mean);
  EXPECT_LT(per_user, 1.1 * o.events_per_user_mean);
}

// With exposure fully randomised, carts inside an activity window convert more often than
// other carts, by the factor the ground truth states, and the stated expectation matches what
// was realised.
TEST(Synth, CouponExposureRaisesPurchasesByTheGroundTruthFactor) {
  ScratchDir scratch;
  SynthOptions o;
  o.users = 3000;
  o.campaigns = 4;
  o.randomized_fraction = 1.0;
  o.exposure_fraction = 0.6;
  const std::string dir = scratch.sub("out");
  generate_synthetic_logs(o, dir);
  const auto rows = read_behavior(dir);
  int64_t tagged_carts = 0, tagged_buys = 0, other_carts = 0, other_buys = 0;
  for (size_t k = 0; k < rows.size(); ++k) {
    if (rows[k].behavior != "cart") continue;
    // A purchase follows its cart directly (same user and item) in this generator.
    bool bought = k + 1 < rows.size() && rows[k + 1].behavior == "buy" &&
                  rows[k + 1].user == rows[k].user && rows[k + 1].item == rows[k].item;
    if (!rows[k].activity.empty()) {
      ++tagged_carts;
      tagged_buys += bought;
    } else {
      ++other_carts;
      other_buys += bought;
    }
  }
  Json truth = Json::parse(read_text_file(dir + "/ground_truth.json"));
  const Json& effect = truth["coupon_effect"];
  ASSERT_EQ(effect["tagged_carts"].get<int64_t>(), tagged_carts);
  int64_t truth_buys = 0;
  for (const auto& a : effect["activities"]) truth_buys += a["tagged_buys"].get<int64_t>();
  EXPECT_EQ(truth_buys, tagged_buys);
  ASSERT_GT(tagged_carts, 1000);

  const double with = effect["mean_purchase_prob_with_coupon"].get<double>();
  const double without = effect["mean_purchase_prob_without_coupon"].get<double>();
  EXPECT_GT(with / without, 1.2);
  const double observed_tagged = static_cast<double>(tagged_buys) / tagged_carts;
  const double observed_other = static_cast<double>(other_buys) / other_carts;
  const double sigma = std::sqrt(with * (1 - with) / tagged_carts);
  EXPECT_NEAR(observed_tagged, with, 4 * sigma);
  // Randomised exposure: untagged carts stand in for the counterfactual.
  EXPECT_NEAR(observed_tagged / observed_other, with / without, 0.12 * with / without);
}

// Users concentrate on few categories: the taste model a sequence model can pick up.
TEST(Synth, UsersConcentrateOnFewCategories) {
  ScratchDir scratch;
  SynthOptions o;
  o.users = 500;
  const std::string dir = scratch.sub("out");
  generate_synthetic_logs(o, dir);
  std::unordered_map<std::string, std::string> category_of;
  for (const auto& line : data_lines(dir + "/item_data.csv", "item_id,category,price")) {
    auto f = split(line);
    category_of[f[0]] = f[1];
  }
  std::map<std::string, std::map<std::string, int64_t>> per_user;
  for (const auto& r : read_behavior(dir)) ++per_user[r.user][category_of[r.item]];
  double share_sum = 0;
  for (const auto& [user, counts] : per_user) {
    std::vector<int64_t> c;
    int64_t total = 0;
    for (const auto& [category, n] : counts) {
      c.push_back(n);
      total += n;
    }
    std::sort(c.rbegin(), c.rend());
    share_sum += static_cast<double>(c[0] + (c.size() > 1 ? c[1] : 0)) / total;
  }
  // 20 categories, yet two of them hold most of a user's events.
  EXPECT_GT(share_sum / per_user.size(), 0.7);
}

// The next item depends on the current one: on each user's last event, "the most frequent
// successor of the previous item" beats "the most popular items" by far (full ranking, top 10,
// items already in the history filtered out, as the evaluator's main protocol does).
TEST(Synth, SequentialSignalBeatsPopularity) {
  ScratchDir scratch;
  SynthOptions o;
  o.users = 2000;
  const std::string dir = scratch.sub("out");
  generate_synthetic_logs(o, dir);
  std::vector<std::vector<std::string>> sequences;
  std::string current;
  for (const auto& r : read_behavior(dir)) {
    if (r.user != current) {
      sequences.emplace_back();
      current = r.user;
    }
    sequences.back().push_back(r.item);
  }
  std::unordered_map<std::string, int64_t> popularity;
  std::unordered_map<std::string, std::unordered_map<std::string, int64_t>> successors;
  for (const auto& s : sequences) {
    for (size_t k = 0; k + 1 < s.size(); ++k) {  // the last event is held out
      ++popularity[s[k]];
      if (k + 2 < s.size()) ++successors[s[k]][s[k + 1]];
    }
  }
  auto ranked = [](const std::unordered_map<std::string, int64_t>& counts) {
    std::vector<std::pair<int64_t, std::string>> v;
    for (const auto& [item, n] : counts) v.push_back({-n, item});
    std::sort(v.begin(), v.end());
    std::vector<std::string> items;
    for (const auto& [n, item] : v) items.push_back(item);
    return items;
  };
  const auto popular = ranked(popularity);
  auto hit_at_10 = [](const std::vector<std::string>& candidates,
                      const std::unordered_set<std::string>& history, const std::string& target) {
    int taken = 0;
    for (const auto& c : candidates) {
      if (history.count(c)) continue;
      if (c == target) return true;
      if (++taken == 10) return false;
    }
    return false;
  };
  int64_t users = 0, popularity_hits = 0, successor_hits = 0;
  for (const auto& s : sequences) {
    if (s.size() < 3) continue;
    ++users;
    std::unordered_set<std::string> history(s.begin(), s.end() - 1);
    popularity_hits += hit_at_10(popular, history, s.back());
    auto candidates = ranked(successors[s[s.size() - 2]]);
    candidates.insert(candidates.end(), popular.begin(), popular.end());
    successor_hits += hit_at_10(candidates, history, s.back());
  }
  ASSERT_GT(users, 1900);
  EXPECT_GT(popularity_hits, 0);
  EXPECT_GE(successor_hits, 3 * popularity_hits)
      << "successor " << successor_hits << " vs popularity " << popularity_hits << " of " << users;
}

TEST(Synth, ConsumablesAreBoughtAgain) {
  ScratchDir scratch;
  SynthOptions o;
  o.users = 1000;
  const std::string dir = scratch.sub("out");
  generate_synthetic_logs(o, dir);
  std::set<std::pair<std::string, std::string>> bought;
  int64_t repeat_buys = 0;
  for (const auto& r : read_behavior(dir)) {
    if (r.behavior == "buy" && !bought.insert({r.user, r.item}).second) ++repeat_buys;
  }
  EXPECT_GT(repeat_buys, 20);
  Json truth = Json::parse(read_text_file(dir + "/ground_truth.json"));
  EXPECT_FALSE(truth["behaviour_model"]["consumable_categories"].empty());
}

TEST(Synth, EventTargetSetsUsersOrMean) {
  SynthOptions o;
  apply_event_target(o, 600000, /*keep_users=*/false);
  EXPECT_EQ(o.users, 10000);
  EXPECT_DOUBLE_EQ(o.events_per_user_mean, 60.0);
  SynthOptions p;
  p.users = 1000;
  apply_event_target(p, 50000, /*keep_users=*/true);
  EXPECT_EQ(p.users, 1000);
  EXPECT_DOUBLE_EQ(p.events_per_user_mean, 50.0);
  EXPECT_THROW(apply_event_target(p, 0, false), UserError);

  ScratchDir scratch;
  SynthOptions q = small_options();
  apply_event_target(q, 30000, /*keep_users=*/false);
  const SynthSummary s = generate_synthetic_logs(q, scratch.sub("out"));
  EXPECT_NEAR(static_cast<double>(s.events), 30000.0, 3000.0);
}

void expect_option_error(SynthOptions o, const std::string& key) {
  try {
    validate_synth_options(o);
    ADD_FAILURE() << "no error for bad " << key;
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(key + ":", 0), 0u) << e.what();
  }
}

TEST(Synth, BadOptionsNameTheOption) {
  SynthOptions o;
  o.users = 0;
  expect_option_error(o, "users");
  o = {};
  o.items = 5;
  expect_option_error(o, "items");  // fewer items than categories
  o = {};
  o.categories = 0;
  expect_option_error(o, "categories");
  o = {};
  o.campaigns = -1;
  expect_option_error(o, "campaigns");
  o = {};
  o.events_per_user_mean = 0.5;
  expect_option_error(o, "events-per-user-mean");
  o = {};
  o.exposure_fraction = 1.5;
  expect_option_error(o, "exposure-fraction");
  o = {};
  o.follow_probability = 0.95;
  expect_option_error(o, "follow-probability");
  EXPECT_NO_THROW(validate_synth_options(SynthOptions{}));

  ScratchDir scratch;
  o = {};
  o.users = -3;
  EXPECT_THROW(generate_synthetic_logs(o, scratch.sub("never")), UserError);
  EXPECT_FALSE(fs::exists(scratch.sub("never")));
}

// A folder holding anything but a previous synth output is never replaced; a previous output is.
TEST(Synth, ReplacesOnlyAPreviousSynthOutput) {
  ScratchDir scratch;
  const std::string foreign = scratch.sub("foreign");
  fs::create_directories(foreign);
  std::ofstream(foreign + "/notes.txt") << "keep me";
  try {
    generate_synthetic_logs(small_options(20), foreign);
    ADD_FAILURE() << "replaced a foreign folder";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("notes.txt"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_text_file(foreign + "/notes.txt"), "keep me");

  const std::string out = scratch.sub("out");
  generate_synthetic_logs(small_options(20), out);
  SynthOptions other = small_options(30);
  other.seed = 7;
  const SynthSummary s = generate_synthetic_logs(other, out);
  EXPECT_EQ(Json::parse(read_text_file(out + "/ground_truth.json"))["seed"].get<uint64_t>(), 7u);
  EXPECT_EQ(static_cast<int64_t>(read_behavior(out).size()), s.events);
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(out)) {
    names.insert(entry.path().filename().string());
  }
  EXPECT_EQ(names,
            (std::set<std::string>{kSynthBehaviorFile, kSynthItemFile, kSynthActivityFile,
                                   kSynthGroundTruthFile, kSynthUserTruthFile, kSynthMarkerFile}));

  // A file the user added to an earlier output keeps the whole folder from being replaced.
  std::ofstream(out + "/notes.txt") << "keep me";
  EXPECT_THROW(generate_synthetic_logs(small_options(20), out), UserError);
  EXPECT_EQ(read_text_file(out + "/notes.txt"), "keep me");
  EXPECT_EQ(Json::parse(read_text_file(out + "/ground_truth.json"))["seed"].get<uint64_t>(), 7u);

  // Nothing temporary is left beside the outputs.
  for (const auto& entry : fs::directory_iterator(scratch.sub(""))) {
    std::string name = entry.path().filename().string();
    EXPECT_TRUE(name == "foreign" || name == "out") << name;
  }
}

// Defect 9: a folder of the user's own trio CSVs (the file names synth writes) was replaced,
// because only names were checked. Synth replaces only a folder carrying its own marker.
TEST(Synth, NeverReplacesRealTrioFilesWithoutItsMarker) {
  ScratchDir scratch;
  const std::string real = scratch.sub("real_logs");
  fs::create_directories(real);
  const std::map<std::string, std::string> user_files = {
      {kSynthBehaviorFile,
       "user_id,item_id,activity_id,behavior,timestamp,purchase\n"
       "u81,3301,,view,1700000000,0\nu81,3301,spring,cart,1700000060,0\n"
       "u81,3301,spring,buy,1700000200,2\n"},
      {kSynthItemFile, "item_id,category,price\n3301,shoes,59.90\n"},
      {kSynthActivityFile, "activity_id,type,discount\nspring,coupon,0.15\n"}};
  for (const auto& [name, content] : user_files) {
    std::ofstream(real + "/" + name, std::ios::binary) << content;
  }
  try {
    generate_synthetic_logs(small_options(20), real);
    ADD_FAILURE() << "replaced a folder of real trio files";
  } catch (const UserError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind(real + ": ", 0), 0u) << message;  // names the folder
    EXPECT_NE(message.find("marker"), std::string::npos) << message;
  }
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(real)) {
    names.insert(entry.path().filename().string());
  }
  EXPECT_EQ(names, (std::set<std::string>{kSynthBehaviorFile, kSynthItemFile, kSynthActivityFile}));
  for (const auto& [name, content] : user_files) {
    EXPECT_TRUE(read_text_file(real + "/" + name) == content) << name << " was changed";
  }
  // Nothing temporary is left beside it.
  for (const auto& entry : fs::directory_iterator(scratch.sub(""))) {
    EXPECT_EQ(entry.path().filename().string(), "real_logs");
  }
}

// An empty folder (made by the user for the output) is written into.
TEST(Synth, WritesIntoAnEmptyFolder) {
  ScratchDir scratch;
  const std::string out = scratch.sub("empty");
  fs::create_directories(out);
  const SynthSummary s = generate_synthetic_logs(small_options(20), out);
  EXPECT_EQ(static_cast<int64_t>(read_behavior(out).size()), s.events);
}

}  // namespace
}  // namespace cf::synth
