// Prep pipeline: grouping, ordering, splits, labels, vocabularies, privacy and failure modes.
#include "data/prep.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/json.h"
#include "data/corpus.h"
#include "data/user_pseudonym.h"
#include "unit/data/data_test_support.h"
#include "unit/user_error_of.h"

namespace cf::data {
namespace {

using cf::testing::user_error_of;

using testing::prep_rows;
using testing::ScratchDir;
using testing::TestRow;
using testing::VectorLogReader;

const std::string kKey = testing::kTestUserKey;

PrepOptions options_for(const std::string& out, RawFormat format = RawFormat::kTaobao) {
  return testing::in_memory_prep_options(out, format);
}


// The raw item ids of sequence `s`, read back through the vocabulary.
std::vector<std::string> raw_items(const CorpusReader& r, int64_t s) {
  Sequence seq;
  r.read_sequence(s, seq);
  auto vocab = r.item_raw_ids();
  std::vector<std::string> out;
  for (int32_t t : seq.item) out.push_back(vocab[t]);
  return out;
}

std::vector<TestRow> clean_rows(int users, int events_per_user) {
  std::vector<TestRow> rows;
  for (int e = 0; e < events_per_user; ++e) {
    for (int u = 0; u < users; ++u) {
      rows.push_back({"user" + std::to_string(u), "item" + std::to_string((u + e) % 7), "view",
                      1000 + e * 60 + u});
    }
  }
  return rows;
}

TEST(UserPseudonym, IsAKeyedHashTruncatedTo128Bits) {
  // RFC 4231 test case 2, first 16 bytes of the MAC.
  EXPECT_EQ(pseudonymize_user("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c7");
  EXPECT_EQ(pseudonymize_user(kKey, "alice"), pseudonymize_user(kKey, "alice"));
  EXPECT_NE(pseudonymize_user(kKey, "alice"), pseudonymize_user(kKey, "alicf"));
  EXPECT_NE(pseudonymize_user(kKey, "alice"), pseudonymize_user(kKey + "x", "alice"));
}

// Pseudonyms must stay bit-identical across implementations (corpora made earlier are joined on
// them): HMAC-SHA-256 values computed independently (Python's hmac module) for keys shorter
// than, equal to and longer than the 64-byte block, including the empty and a long user id.
TEST(UserPseudonym, MatchesIndependentlyComputedValuesForEveryKeyLength) {
  struct Case {
    size_t key_length;
    std::string user, pseudonym;
  };
  const std::vector<Case> cases = {
      {1, "", "31688f02faed8d19325c491d8d1a23e8"},
      {1, "u", "d4c2196443cda799edcbc3ddbacfacb9"},
      {1, "user-123456789", "a7f37b5ac68f546afce7ce08513e5a79"},
      {1, std::string(130, 'z'), "63318fb047dea7de252ff9b9100dc18b"},
      {16, "", "4ee6a9ba4cb21e9086ef0ddd321fdfbb"},
      {16, "u", "85cce4dd7f0bc617dc747d8fe2dbc10b"},
      {16, "user-123456789", "b57e025f15062867147640c9ffe97082"},
      {16, std::string(130, 'z'), "50faad28c7c241d7a366a445eafb64b6"},
      {63, "", "d1e6576f8861fe3e708524af8e7f62b3"},
      {63, "u", "92dc23917fbc5b7ec90e8281241622b0"},
      {63, "user-123456789", "47ec77942d8dd857d5e1d217eec87c68"},
      {63, std::string(130, 'z'), "e32d18a1c72a50ea0e8aecb51b88587b"},
      {64, "", "86c492d79220b2694ce2e5ea0cb5b82a"},
      {64, "u", "3c688f20b26bc98cab9f3b2ce89dda92"},
      {64, "user-123456789", "d5a35dce051485905f8db2df91316ded"},
      {64, std::string(130, 'z'), "b407a4939784752481d0e1573ccfaf7a"},
      {65, "", "a98243b03379cec1beda56c6071cc8e4"},
      {65, "u", "9c9a1b5dbcb49bfa102d0c3c21a34bad"},
      {65, "user-123456789", "9a1ecfe67051fc6d412b4a500a7fb328"},
      {65, std::string(130, 'z'), "6ad09bca3a31770729b6b4a1bfd9a0a5"},
      {200, "", "60272e95f92b37bac3a6559744ad11f1"},
      {200, "u", "ccd53233d5e41af3774068f57ac8545b"},
      {200, "user-123456789", "9564202252d744b779d05e53acae14a3"},
      {200, std::string(130, 'z'), "59b4ebdf1e449ea5063a161cb9f356a6"},
  };
  for (const Case& c : cases) {
    std::string key(c.key_length, '\0');
    for (size_t i = 0; i < c.key_length; ++i) key[i] = static_cast<char>(i * 37 + 11);
    const UserPseudonymizer pseudonym(key);
    EXPECT_EQ(pseudonym(c.user), c.pseudonym) << c.key_length << " " << c.user;
    EXPECT_EQ(pseudonymize_user(key, c.user), c.pseudonym) << c.key_length << " " << c.user;
  }
}

TEST(Prep, GroupsByUserInFirstAppearanceOrderAndSortsStablyByTime) {
  ScratchDir dir("stable");
  const std::string out = dir.file("c.h5");
  // Interleaved users; user "b" has equal timestamps that must keep their input order.
  std::vector<TestRow> rows = {
      {"b", "b-at5-first", "view", 5},  {"a", "a2", "view", 20},
      {"b", "b-at3-first", "view", 3},  {"a", "a1", "view", 10},
      {"b", "b-at5-second", "view", 5}, {"b", "b-at3-second", "view", 3},
      {"a", "a3", "view", 30},          {"b", "b-at1", "view", 1},
  };
  PrepReport report = prep_rows(options_for(out), rows);
  EXPECT_EQ(report.sequences, 2);
  EXPECT_EQ(report.rows_kept, 8);
  auto r = CorpusReader::open(out);
  ASSERT_EQ(r->num_sequences(), 2);
  EXPECT_EQ(r->user_keys()[0], pseudonymize_user(kKey, "b"));
  EXPECT_EQ(r->user_keys()[1], pseudonymize_user(kKey, "a"));
  EXPECT_EQ(raw_items(*r, 0), (std::vector<std::string>{"b-at1", "b-at3-first", "b-at3-second",
                                                        "b-at5-first", "b-at5-second"}));
  EXPECT_EQ(raw_items(*r, 1), (std::vector<std::string>{"a1", "a2", "a3"}));
  Sequence seq;
  r->read_sequence(0, seq);
  EXPECT_EQ(seq.timestamp, (std::vector<int64_t>{1, 3, 3, 5, 5}));
}

TEST(Prep, LeaveOneOutAndTimeSplitLabelsOnAHandMadeLog) {
  ScratchDir dir("labels");
  const std::string out = dir.file("c.h5");
  std::vector<TestRow> rows = {
      {"A", "i1", "view", 100},
      {"A", "i2", "cart", 200},
      {"A", "i2", "buy", 300},
      {"A", "i3", "view", 400},
      {"B", "i1", "view", 150},
      {"B", "i3", "view", 250},
      {"B", "i1", "buy", 350},
      {"C", "i1", "view", 110},
      // A view flagged as a purchase by the source (trio's purchase column).
      {"C", "i4", "view", 120, "", "", /*purchase_label=*/1},
      {"C", "i1", "view", 500},
  };
  PrepOptions o = options_for(out);
  o.time_split_cutoff = 260;
  PrepReport report = prep_rows(o, rows);
  EXPECT_EQ(report.time_split_cutoff, 260);
  auto r = CorpusReader::open(out);
  ASSERT_EQ(r->num_sequences(), 3);  // A, B, C in first-appearance order
  EXPECT_EQ(r->purchase_labels(), (std::vector<int8_t>{0, 1, 0}));  // flag of the last event
  EXPECT_EQ(r->time_split_train_length(), (std::vector<int32_t>{2, 2, 2}));
  EXPECT_EQ(r->time_split_purchase_labels(), (std::vector<int8_t>{1, 1, 0}));
  EXPECT_EQ(r->time_split_cutoff(), 260);
  Sequence c;
  r->read_sequence(2, c);
  EXPECT_EQ(c.purchase, (std::vector<int8_t>{0, 1, 0}));
  EXPECT_EQ(c.action, (std::vector<int32_t>{1, 1, 1}));

  // Training part = all but the last two events: A {i1, i2}, B {i1}, C {i1}.
  std::map<std::string, int64_t> counts;
  auto vocab = r->item_raw_ids();
  for (size_t t = 1; t < vocab.size(); ++t) counts[vocab[t]] = r->item_counts()[t];
  EXPECT_EQ(counts, (std::map<std::string, int64_t>{{"i1", 3}, {"i2", 1}, {"i3", 0}, {"i4", 0}}));
  EXPECT_EQ(r->item_counts()[0], 0);
  // Token ids follow frequency over all kept events (i1: 5, i2: 2, i3: 2, i4: 1); i2 before
  // i3 because it appeared first.
  EXPECT_EQ(vocab, (std::vector<std::string>{"<pad>", "i1", "i2", "i3", "i4"}));
}

TEST(Prep, TimeSplitCutoffDefaultsToAQuantileOfTimestamps) {
  ScratchDir dir("quantile");
  const std::string out = dir.file("c.h5");
  std::vector<TestRow> rows;
  for (int i = 0; i < 10; ++i) rows.push_back({"u", "x", "view", 1000 + 10 * (9 - i)});
  PrepOptions o = options_for(out);
  o.time_split_quantile = 0.5;
  EXPECT_EQ(prep_rows(o, rows).time_split_cutoff, 1050);  // sorted[floor(0.5 * 10)]
  EXPECT_EQ(CorpusReader::open(out)->time_split_train_length()[0], 5);
  o.time_split_quantile = 1.0;
  EXPECT_EQ(prep_rows(o, rows).time_split_cutoff, 1090);  // the last event is after the split
  EXPECT_EQ(CorpusReader::open(out)->time_split_train_length()[0], 9);
}

TEST(Prep, TimeGapBucketsFollowEachUsersHistory) {
  ScratchDir dir("gaps");
  const std::string out = dir.file("c.h5");
  std::vector<TestRow> rows = {{"u", "a", "view", 1000}, {"u", "b", "view", 1000},
                               {"u", "c", "view", 1005}, {"u", "d", "view", 1065},
                               {"u", "e", "view", 5065}, {"v", "a", "view", 999},
                               {"v", "a", "view", 1999}, {"v", "a", "view", 2999}};
  prep_rows(options_for(out), rows);
  auto r = CorpusReader::open(out);
  Sequence seq;
  r->read_sequence(0, seq);
  std::vector<int32_t> expected = {1, time_gap_bucket(0), time_gap_bucket(5), time_gap_bucket(60),
                                   time_gap_bucket(4000)};
  EXPECT_EQ(seq.time_gap, expected);
  EXPECT_EQ(seq.time_gap, (std::vector<int32_t>{1, 2, 3, 6, 10}));

  // Order-only sources have no real gaps: every event gets bucket 1.
  PrepOptions o = options_for(out, RawFormat::kUserItem);
  prep_rows(o, rows);
  r = CorpusReader::open(out);
  r->read_sequence(0, seq);
  EXPECT_EQ(seq.time_gap, (std::vector<int32_t>{1, 1, 1, 1, 1}));
  EXPECT_EQ(Json::parse(r->provenance_json())["time_source"], "order");
}

TEST(Prep, RejectsTimestampsOutsideTheAcceptedRange) {
  ScratchDir dir("time_range");
  const std::string out = dir.file("c.h5");
  constexpr int64_t kLowest = std::numeric_limits<int64_t>::min();
  constexpr int64_t kHighest = std::numeric_limits<int64_t>::max();
  // User "edges" has the range's own ends; user "absurd" has times whose differences overflow
  // int64 (a gap of 2^64 - 1 seconds once wrapped to -1 and was stored as "same second").
  std::vector<TestRow> rows = {
      {"edges", "a", "view", kMinEventTime},
      {"absurd", "a", "view", kLowest},
      {"edges", "b", "view", 1000},
      {"absurd", "b", "view", kHighest},
      {"edges", "c", "view", kMaxEventTime},
      {"absurd", "c", "view", kMinEventTime - 1},
      {"absurd", "d", "view", kMaxEventTime + 1},
      {"absurd", "e", "view", 5},
  };
  PrepOptions o = options_for(out);
  o.max_reject_fraction = 1;
  const PrepReport report = prep_rows(o, rows);
  EXPECT_EQ(report.rows_rejected, 4);
  EXPECT_EQ(report.rejects_by_reason,
            (std::vector<std::pair<std::string, int64_t>>{{"timestamp_out_of_range", 4}}));
  ASSERT_EQ(report.reject_examples.size(), 4u);
  std::vector<int64_t> lines;
  for (const auto& reject : report.reject_examples) {
    EXPECT_EQ(reject.file, "memory.csv");
    lines.push_back(reject.line);
  }
  EXPECT_EQ(lines, (std::vector<int64_t>{2, 4, 6, 7}));
  auto r = CorpusReader::open(out);
  ASSERT_EQ(r->num_sequences(), 1);  // "absurd" keeps one event, too few for a sequence
  Sequence seq;
  r->read_sequence(0, seq);
  EXPECT_EQ(seq.timestamp, (std::vector<int64_t>{kMinEventTime, 1000, kMaxEventTime}));
  EXPECT_EQ(seq.time_gap, (std::vector<int32_t>{1, time_gap_bucket(1000), kNumTimeGapBuckets - 1}));
}

TEST(Prep, RejectsIdsTheCorpusCannotStoreByFileAndLine) {
  ScratchDir dir("ids");
  const std::string out = dir.file("c.h5");
  const std::string longest(kMaxIdBytes, 'x');
  const std::string too_long(kMaxIdBytes + 1, 'x');
  std::vector<TestRow> rows = {
      // Kept: the longest accepted id, and two- and four-byte UTF-8 characters.
      {"kept", longest, "view", 1},
      {"kept", "caf\xC3\xA9", "view", 2, "s\xC3\xBC\xC3\x9F"},
      {"kept", "cart-\xF0\x9F\x9B\x92", "view", 3, "", "promo-\xE2\x82\xAC"},
      // Rejected: line 4 onwards.
      {"bad", "caf\xE9", "view", 4},                // Latin-1
      {"bad", "i", "view", 5, "\xC0\xAF"},          // overlong '/'
      {"bad", "i", "view", 6, "", "\xED\xA0\x80"},  // a UTF-16 surrogate
      {"bad", std::string("a\0b", 3), "view", 7},   // a NUL would cut the stored id
      {"bad", "\xF4\x90\x80\x80", "view", 8},       // above U+10FFFF
      {"bad", too_long, "view", 9},
      {"bad", "i", "view", 10, too_long},
      {"bad", "i", "view", 11, "", too_long},
      {too_long, "i", "view", 12},
  };
  PrepOptions o = options_for(out);
  o.max_reject_fraction = 1;
  o.max_reject_examples = 9;
  const PrepReport report = prep_rows(o, rows);
  EXPECT_EQ(report.rows_rejected, 9);
  std::map<std::string, int64_t> by_reason(report.rejects_by_reason.begin(),
                                           report.rejects_by_reason.end());
  EXPECT_EQ(by_reason, (std::map<std::string, int64_t>{{"item_not_utf8", 3},
                                                       {"category_not_utf8", 1},
                                                       {"activity_not_utf8", 1},
                                                       {"item_too_long", 1},
                                                       {"category_too_long", 1},
                                                       {"activity_too_long", 1},
                                                       {"user_too_long", 1}}));
  ASSERT_EQ(report.reject_examples.size(), 9u);
  const std::vector<std::pair<std::string, int64_t>> expected_examples = {
      {"item_not_utf8", 4},      {"category_not_utf8", 5},  {"activity_not_utf8", 6},
      {"item_not_utf8", 7},      {"item_not_utf8", 8},      {"item_too_long", 9},
      {"category_too_long", 10}, {"activity_too_long", 11}, {"user_too_long", 12}};
  for (size_t i = 0; i < expected_examples.size(); ++i) {
    EXPECT_EQ(report.reject_examples[i].file, "memory.csv");
    EXPECT_EQ(report.reject_examples[i].reason, expected_examples[i].first) << i;
    EXPECT_EQ(report.reject_examples[i].line, expected_examples[i].second) << i;
  }
  auto r = CorpusReader::open(out);
  EXPECT_EQ(r->item_raw_ids(),
            (std::vector<std::string>{"<pad>", longest, "caf\xC3\xA9", "cart-\xF0\x9F\x9B\x92"}));
  EXPECT_EQ(r->category_raw_ids(), (std::vector<std::string>{"<pad>", "s\xC3\xBC\xC3\x9F"}));
  EXPECT_EQ(r->activity_raw_ids(), (std::vector<std::string>{"<pad>", "promo-\xE2\x82\xAC"}));
}

TEST(Prep, LengthPolicyDropsShortUsersAndKeepsTheMostRecentEvents) {
  ScratchDir dir("policy");
  const std::string out = dir.file("c.h5");
  std::vector<TestRow> rows;
  for (int e = 0; e < 6; ++e) rows.push_back({"long", "L" + std::to_string(e), "view", 100 + e});
  rows.push_back({"short", "S0", "view", 1});
  rows.push_back({"short", "S1", "view", 2});
  for (int e = 0; e < 3; ++e) rows.push_back({"ok", "K" + std::to_string(e), "view", 50 + e});
  rows.push_back({"bad", "x", "view", 1, "", "", -1, "bad_timestamp"});
  PrepOptions o = options_for(out);
  o.max_events_per_user = 4;
  o.max_reject_fraction = 0.2;
  PrepReport report = prep_rows(o, rows);
  EXPECT_EQ(report.rows_read, 12);
  EXPECT_EQ(report.rows_rejected, 1);
  EXPECT_EQ(report.rows_kept, 7);
  EXPECT_EQ(report.rows_filtered, 4);
  EXPECT_EQ(report.rows_read, report.rows_kept + report.rows_rejected + report.rows_filtered);
  EXPECT_EQ(report.filtered_by_reason,
            (std::vector<std::pair<std::string, int64_t>>{{"short_sequence", 2},
                                                          {"over_max_events_per_user", 2}}));
  auto r = CorpusReader::open(out);
  ASSERT_EQ(r->num_sequences(), 2);
  EXPECT_EQ(raw_items(*r, 0), (std::vector<std::string>{"L2", "L3", "L4", "L5"}));
  EXPECT_EQ(raw_items(*r, 1), (std::vector<std::string>{"K0", "K1", "K2"}));
  // Items only seen in dropped events are not in the vocabulary.
  auto vocab = r->item_raw_ids();
  EXPECT_EQ(std::count(vocab.begin(), vocab.end(), "S0"), 0);
  EXPECT_EQ(std::count(vocab.begin(), vocab.end(), "L0"), 0);
  Json p = Json::parse(r->provenance_json());
  EXPECT_EQ(p["rows_filtered"], 4);
  EXPECT_EQ(p["filtered_by_reason"]["short_sequence"], 2);
  EXPECT_EQ(p["rejects_by_reason"]["bad_timestamp"], 1);
}

TEST(Prep, CategoriesActivitiesAndActionsBecomeTokens) {
  ScratchDir dir("channels");
  const std::string out = dir.file("c.h5");
  std::vector<TestRow> rows = {{"u", "a", "view", 1, "shoes", ""},
                               {"u", "b", "fav", 2, "", "promo"},
                               {"u", "a", "cart", 3, "hats", "promo"},
                               {"u", "a", "buy", 4, "shoes", ""}};
  prep_rows(options_for(out), rows);
  auto r = CorpusReader::open(out);
  Sequence seq;
  r->read_sequence(0, seq);
  EXPECT_EQ(r->category_raw_ids(), (std::vector<std::string>{"<pad>", "shoes", "hats"}));
  EXPECT_EQ(seq.category, (std::vector<int32_t>{1, 0, 2, 1}));  // 0 = none/unknown
  EXPECT_EQ(r->activity_raw_ids(), (std::vector<std::string>{"<pad>", "promo"}));
  EXPECT_EQ(seq.activity, (std::vector<int32_t>{0, 1, 1, 0}));
  EXPECT_EQ(r->action_names(), canonical_actions());
  EXPECT_EQ(seq.action, (std::vector<int32_t>{1, 2, 3, 4}));
  EXPECT_EQ(seq.purchase, (std::vector<int8_t>{0, 0, 0, 1}));
  EXPECT_EQ(r->vocab_sizes(), (VocabSizes{3, 5, 3, kNumTimeGapBuckets, 2}));
}

TEST(Prep, RawUserIdsAndTheKeyNeverReachTheFile) {
  ScratchDir dir("privacy");
  const std::string out = dir.file("c.h5");
  std::vector<TestRow> rows;
  const std::vector<std::string> users = {"alice.smith@example.com", "user-bob-8271934",
                                          "carol-555-0199"};
  for (const auto& u : users) {
    for (int e = 0; e < 4; ++e) rows.push_back({u, "item" + std::to_string(e), "view", e});
  }
  prep_rows(options_for(out), rows);
  const std::string bytes = testing::file_bytes(out);
  auto r = CorpusReader::open(out);
  // Everything decoded as text, besides the raw file bytes.
  std::string decoded = r->provenance_json();
  for (const auto& s : r->user_keys()) decoded += s + "\n";
  for (const auto& s : r->item_raw_ids()) decoded += s + "\n";
  for (const auto& s : r->category_raw_ids()) decoded += s + "\n";
  for (const auto& s : r->activity_raw_ids()) decoded += s + "\n";
  for (const auto& u : users) {
    EXPECT_EQ(bytes.find(u), std::string::npos) << u;
    EXPECT_EQ(decoded.find(u), std::string::npos) << u;
  }
  EXPECT_EQ(bytes.find(kKey), std::string::npos);
  EXPECT_EQ(decoded.find(kKey), std::string::npos);
  std::vector<std::string> expected;
  for (const auto& u : users) expected.push_back(pseudonymize_user(kKey, u));
  EXPECT_EQ(r->user_keys(), expected);
  EXPECT_EQ(Json::parse(r->provenance_json())["user_key_source"], "key-file");

  // Another key gives other pseudonyms for the same users.
  PrepOptions other = options_for(out);
  other.user_key = "another-key-of-enough-length";
  prep_rows(other, rows);
  auto r2 = CorpusReader::open(out);
  for (size_t i = 0; i < users.size(); ++i) EXPECT_NE(r2->user_keys()[i], expected[i]);
}

TEST(Prep, TooManyRejectsFailsWithoutOutputAndKeepsAnExistingCorpus) {
  ScratchDir dir("rejects");
  const std::string out = dir.file("c.h5");
  prep_rows(options_for(out), clean_rows(5, 4));
  const std::string good_bytes = testing::file_bytes(out);

  std::vector<TestRow> rows = clean_rows(20, 5);  // 100 good rows
  for (int i = 0; i < 3; ++i) rows.push_back({"x", "y", "view", 0, "", "", -1, "bad_timestamp"});
  rows.push_back({"x", "y", "view", 0, "", "", -1, "wrong_field_count"});
  const std::string message = user_error_of([&] { prep_rows(options_for(out), rows); });
  EXPECT_EQ(message,
            "memory.csv: 3.85% of rows rejected (limit 1%): bad_timestamp 3, wrong_field_count 1;"
            " first: memory.csv:101 bad_timestamp");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"c.h5"});
  EXPECT_EQ(testing::file_bytes(out), good_bytes);

  // Into a fresh path: nothing at all is created.
  const std::string fresh = dir.file("fresh.h5");
  EXPECT_THROW(prep_rows(options_for(fresh), rows), UserError);
  EXPECT_FALSE(std::filesystem::exists(fresh));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"c.h5"});

  // The same rows pass with a higher limit, and the rejects are reported.
  PrepOptions lenient = options_for(fresh);
  lenient.max_reject_fraction = 0.05;
  PrepReport report = prep_rows(lenient, rows);
  EXPECT_EQ(report.rows_rejected, 4);
  EXPECT_EQ(report.rejects_by_reason, (std::vector<std::pair<std::string, int64_t>>{
                                          {"bad_timestamp", 3}, {"wrong_field_count", 1}}));
  ASSERT_EQ(report.reject_examples.size(), 4u);
  EXPECT_EQ(report.reject_examples[0].line, 101);
  EXPECT_EQ(report.reject_examples[3].reason, "wrong_field_count");
}

TEST(Prep, CreatesAMissingOutputFolderOnlyWhenWriting) {
  ScratchDir dir("folder");
  const std::string nested = dir.file("runs/beauty/corpus.h5");
  EXPECT_THROW(prep_rows(options_for(nested), {}), UserError);
  EXPECT_TRUE(dir.entries().empty());  // a failed prep creates no folder either
  prep_rows(options_for(nested), clean_rows(2, 3));
  EXPECT_EQ(CorpusReader::open(nested)->num_sequences(), 2);
}

TEST(Prep, EmptyInputIsAnErrorNamingTheInput) {
  ScratchDir dir("empty");
  const std::string out = dir.file("c.h5");
  EXPECT_EQ(user_error_of([&] { prep_rows(options_for(out), {}); }),
            "memory.csv: no usable events");
  std::vector<TestRow> all_bad = {{"x", "y", "view", 0, "", "", -1, "bad_timestamp"}};
  EXPECT_EQ(user_error_of([&] { prep_rows(options_for(out), all_bad); }),
            "memory.csv: no usable events (all 1 rows rejected: bad_timestamp 1; first: "
            "memory.csv:1 bad_timestamp)");
  // Rows that are all too short to make a sequence are not usable either.
  std::vector<TestRow> short_users = {{"x", "a", "view", 0}, {"y", "a", "view", 0}};
  EXPECT_EQ(user_error_of([&] { prep_rows(options_for(out), short_users); }),
            "memory.csv: no usable events (no user has at least 3 events)");
  EXPECT_TRUE(dir.entries().empty());
}

TEST(Prep, RejectsBadOptions) {
  ScratchDir dir("options");
  PrepOptions o = options_for(dir.file("c.h5"));
  o.user_key = "short";
  EXPECT_NE(user_error_of([&] { prep_rows(o, clean_rows(2, 3)); }).find("at least 16"),
            std::string::npos);
  o = options_for(dir.file("c.h5"));
  o.max_reject_fraction = 1.5;
  EXPECT_NE(user_error_of([&] { prep_rows(o, clean_rows(2, 3)); }).find("max_reject_fraction"),
            std::string::npos);
  o = options_for(dir.file("c.h5"));
  o.time_split_quantile = 0;
  EXPECT_NE(user_error_of([&] { prep_rows(o, clean_rows(2, 3)); }).find("time_split_quantile"),
            std::string::npos);
  EXPECT_TRUE(dir.entries().empty());
}

TEST(Prep, ReportsProgressUpToTheTotal) {
  ScratchDir dir("progress");
  std::vector<TestRow> rows = clean_rows(100, 400);  // 40k rows: a few progress calls
  uint64_t last_done = 0, last_total = 0;
  int calls = 0;
  run_prep_with(
      options_for(dir.file("c.h5")),
      [&](const RawSourceSpec&, RejectSink sink) {
        return std::make_unique<VectorLogReader>(rows, std::move(sink));
      },
      [&](uint64_t done, uint64_t total, int64_t) {
        EXPECT_GE(done, last_done);
        last_done = done;
        last_total = total;
        ++calls;
      });
  EXPECT_GE(calls, 2);
  EXPECT_EQ(last_done, last_total);
  EXPECT_EQ(last_total, rows.size() * 10);
}

TEST(Prep, ConcatenatesSeveralSources) {
  ScratchDir dir("sources");
  PrepOptions o = options_for(dir.file("c.h5"));
  o.sources.push_back(o.sources.front());
  o.sources.back().path = "second.csv";
  int opened = 0;
  PrepReport report = run_prep_with(o, [&](const RawSourceSpec& spec, RejectSink sink) {
    // The same user in both files: one sequence, ordered by time across files.
    std::vector<TestRow> rows = {{"u", spec.path + "-a", "view", opened == 0 ? 10 : 5},
                                 {"u", spec.path + "-b", "view", opened == 0 ? 20 : 15}};
    ++opened;
    return std::make_unique<VectorLogReader>(rows, std::move(sink), spec.path);
  });
  EXPECT_EQ(report.source_files, (std::vector<std::string>{"memory.csv", "second.csv"}));
  auto r = CorpusReader::open(dir.file("c.h5"));
  EXPECT_EQ(raw_items(*r, 0), (std::vector<std::string>{"second.csv-a", "memory.csv-a",
                                                        "second.csv-b", "memory.csv-b"}));
}

// A trio folder with the given item table rows (after its header) and behaviour rows.
void write_trio(const std::string& folder, const std::string& items, const std::string& rows) {
  std::filesystem::create_directories(folder);
  std::ofstream(folder + "/item_data.csv") << "item_id,category,price\n" << items;
  std::ofstream(folder + "/activity_data.csv") << "activity_id,type\nA1,coupon\n";
  std::ofstream(folder + "/behavior_data.csv")
      << "user_id,item_id,activity_id,behavior,timestamp,purchase\n" << rows;
}

// Everything of a corpus but its provenance: events, vocabularies, prices, item features.
std::string corpus_contents(const std::string& path) {
  auto r = CorpusReader::open(path);
  std::ostringstream out;
  for (int64_t s = 0; s < r->num_sequences(); ++s) {
    Sequence seq;
    r->read_sequence(s, seq);
    for (size_t e = 0; e < seq.item.size(); ++e) {
      out << seq.item[e] << ',' << seq.category[e] << ',' << seq.activity[e] << ','
          << seq.action[e] << ',' << seq.timestamp[e] << ';';
    }
    out << '\n';
  }
  for (const auto& v : {r->item_raw_ids(), r->category_raw_ids(), r->activity_raw_ids(),
                        r->item_feature_raw_ids()}) {
    for (const auto& s : v) out << s << '|';
    out << '\n';
  }
  for (double p : r->item_prices()) out << p << ' ';
  return out.str();
}

// The trio reader leaves each row's category, features and price to prep, which joins once per
// item, when its item table has nothing to reject; otherwise it joins every row. Both give the
// same corpus (here the second table differs only by an unused item with a Latin-1 category).
TEST(Prep, TrioJoinOncePerItemEqualsJoiningEveryRow) {
  ScratchDir dir("trio_join");
  const std::string items = "i1,c1,9.99\ni2,c2,\ni3,c1,5\n";
  std::string rows;
  for (int e = 0; e < 12; ++e) {
    rows += "u" + std::to_string(e % 3) + ",i" + std::to_string(1 + e % 4) + "," +
            (e % 5 == 0 ? "A1" : "") + "," + (e % 4 == 3 ? "buy" : "view") + "," +
            std::to_string(1700000000 + 60 * e) + ",0\n";  // i4 is not in the item table
  }
  write_trio(dir.file("once"), items, rows);
  write_trio(dir.file("rows"), items + "i9,caf\xE9,1\n", rows);
  auto sink = [](const RowReject&) {};
  EXPECT_TRUE(open_raw_log({RawFormat::kTrio, dir.file("once"), "", {}}, sink)
                  ->joins_items_on_request());
  EXPECT_FALSE(open_raw_log({RawFormat::kTrio, dir.file("rows"), "", {}}, sink)
                   ->joins_items_on_request());
  for (const char* which : {"once", "rows"}) {
    PrepOptions o = options_for(dir.file(std::string(which) + ".h5"), RawFormat::kTrio);
    o.sources.front().path = dir.file(which);
    o.min_sequence_length = 1;
    run_prep(o);
  }
  EXPECT_EQ(corpus_contents(dir.file("once.h5")), corpus_contents(dir.file("rows.h5")));
  auto r = CorpusReader::open(dir.file("once.h5"));
  EXPECT_EQ(r->category_raw_ids(), (std::vector<std::string>{"<pad>", "c1", "c2"}));
  EXPECT_DOUBLE_EQ(r->item_prices()[1], 9.99);
}

// Each source joins with its own item table: the same item id keeps the category its own
// source gives it, row by row, when both readers join once per item.
TEST(Prep, TrioSourcesJoinWithTheirOwnItemTables) {
  ScratchDir dir("trio_two");
  write_trio(dir.file("a"), "i1,cA,1\n", "u1,i1,,view,1700000000,0\nu1,i1,,view,1700000100,0\n");
  write_trio(dir.file("b"), "i1,cB,1\n", "u1,i1,,view,1700000050,0\n");
  PrepOptions o = options_for(dir.file("c.h5"), RawFormat::kTrio);
  o.sources.front().path = dir.file("a");
  o.sources.push_back(o.sources.front());
  o.sources.back().path = dir.file("b");
  o.min_sequence_length = 1;
  run_prep(o);
  auto r = CorpusReader::open(dir.file("c.h5"));
  Sequence u1;
  r->read_sequence(0, u1);
  const auto categories = r->category_raw_ids();
  ASSERT_EQ(u1.category.size(), 3u);
  EXPECT_EQ(categories[u1.category[0]], "cA");  // time order: a, b, a
  EXPECT_EQ(categories[u1.category[1]], "cB");
  EXPECT_EQ(categories[u1.category[2]], "cA");
}

std::filesystem::path fixtures_dir() {
  if (const char* env = std::getenv("CARTFORMER_FIXTURES")) return env;
  return std::filesystem::path(__FILE__).parent_path() / ".." / ".." / "fixtures";
}

TEST(Prep, TrioFixtureEndToEnd) {
  const auto trio = fixtures_dir() / "trio";
  if (!std::filesystem::exists(trio / "behavior_data.csv")) {
    GTEST_SKIP() << "no trio fixture at " << trio;
  }
  ScratchDir dir("trio");
  PrepOptions o = options_for(dir.file("trio.h5"), RawFormat::kTrio);
  o.sources.front().path = trio.string();
  o.sources.front().personal_columns = {"email"};
  o.max_reject_fraction = 1.0;  // the fixture is full of deliberately broken rows
  o.min_sequence_length = 1;
  PrepReport report = run_prep(o);
  EXPECT_GT(report.rows_kept, 0);
  EXPECT_EQ(report.rows_read, report.rows_kept + report.rows_rejected + report.rows_filtered);
  EXPECT_GT(report.rows_rejected, 0);
  // item_data.csv has a row with price "abc": a side-table reject, not an event reject.
  EXPECT_FALSE(report.side_table_rejects_by_reason.empty());
  auto r = CorpusReader::open(o.output_path);
  EXPECT_EQ(r->num_events(), report.rows_kept);
  EXPECT_EQ(r->num_sequences(), report.sequences);
  // u1's four events come first, in time order: view, view(click), cart, buy (a purchase).
  EXPECT_EQ(r->user_keys()[0], pseudonymize_user(kKey, "u1"));
  Sequence u1;
  r->read_sequence(0, u1);
  EXPECT_EQ(u1.action, (std::vector<int32_t>{1, 1, 3, 4}));
  EXPECT_EQ(u1.purchase, (std::vector<int8_t>{0, 0, 0, 1}));
  EXPECT_TRUE(std::is_sorted(u1.timestamp.begin(), u1.timestamp.end()));
  auto items = r->item_raw_ids();
  EXPECT_EQ(items[u1.item[0]], "i1");
  auto categories = r->category_raw_ids();
  EXPECT_EQ(categories[u1.category[0]], "c1");  // joined from item_data.csv
  auto activities = r->activity_raw_ids();
  EXPECT_EQ(activities[u1.activity[1]], "A1");  // joined from activity_data.csv
  Json p = Json::parse(r->provenance_json());
  EXPECT_EQ(p["source_format"], "trio");
  EXPECT_EQ(p["dropped_personal_columns"], Json({"email"}));
  EXPECT_EQ(p["source_files"].size(), 3u);
  std::string decoded = r->provenance_json();
  for (const auto& s : items) decoded += s;
  EXPECT_EQ(decoded.find("alice@example.com"), std::string::npos);
  EXPECT_EQ(testing::file_bytes(o.output_path).find("alice@example.com"), std::string::npos);
}

}  // namespace
}  // namespace cf::data
