// Item features: prep's feature vocabulary and CSR table, the writer/reader round trip, the
// fingerprint rule, damaged feature datasets, and an attributes file of another data set.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/corpus.h"
#include "data/corpus_layout.h"
#include "data/corpus_writer.h"
#include "data/hdf5_file.h"
#include "data/prep.h"
#include "unit/data/data_test_support.h"
#include "unit/readers/reader_test_support.h"
#include "unit/user_error_of.h"

namespace cf::data {
namespace {

using cf::testing::user_error_of;
using testing::fixture;
using testing::prep_rows;
using testing::ScratchDir;
using testing::TestRow;
using testing::VectorLogReader;
using testing::with_features;

PrepOptions options_for(const std::string& out, RawFormat format = RawFormat::kRees46) {
  return testing::in_memory_prep_options(out, format);
}



// The raw feature names of item token `item`, through the corpus's feature vocabulary.
std::vector<std::string> features_of_item(const CorpusReader& r, const std::string& raw_item) {
  const auto items = r.item_raw_ids();
  const auto names = r.item_feature_raw_ids();
  const ItemFeatures& f = r.item_features();
  for (size_t item = 1; item < items.size(); ++item) {
    if (items[item] != raw_item) continue;
    std::vector<std::string> out;
    for (int64_t k = f.offsets[item]; k < f.offsets[item + 1]; ++k) out.push_back(names[f.ids[k]]);
    return out;
  }
  ADD_FAILURE() << "no item " << raw_item;
  return {};
}

// ---- prep -------------------------------------------------------------------------------------

TEST(PrepItemFeatures, TokensFollowTheNumberOfKeptItemsCarryingThem) {
  ScratchDir dir("features_order");
  const std::string out = dir.file("c.h5");
  // Item a is seen first with a feature only it carries (category:rare); brand:common and
  // category:shoes are each carried by three kept items. User "short" has too few events: its
  // item z and the features only z carries get no token, and its rare-carrying z does not count.
  const std::vector<TestRow> rows = {
      with_features({"u1", "a", "view", 1}, {"category:rare", "brand:common"}),
      with_features({"u1", "b", "view", 2}, {"brand:common", "category:shoes"}),
      {"u1", "c", "view", 3},
      with_features({"u1", "a", "view", 4}, {"category:other"}),  // not a's first row: ignored
      with_features({"u2", "d", "view", 1}, {"category:shoes", "brand:common", "brand:common"}),
      with_features({"u2", "b", "view", 2}, {"brand:common", "category:shoes"}),
      with_features({"u2", "e", "view", 3}, {"category:shoes"}),
      with_features({"short", "z", "view", 1}, {"brand:dropped", "category:rare"}),
      {"short", "a", "view", 2},
  };
  const PrepReport report = prep_rows(options_for(out), rows);
  EXPECT_EQ(report.item_features, 3);
  EXPECT_EQ(report.items_with_features, 4);  // a, b, d, e (not c)

  auto r = CorpusReader::open(out);
  // Tie between common and shoes (3 items each) broken by first appearance; rare has 1 item.
  EXPECT_EQ(r->item_feature_raw_ids(),
            (std::vector<std::string>{"<pad>", "brand:common", "category:shoes", "category:rare"}));
  EXPECT_EQ(r->item_raw_ids(), (std::vector<std::string>{"<pad>", "a", "b", "c", "d", "e"}));
  const ItemFeatures& f = r->item_features();
  EXPECT_EQ(f.vocab_size, 4);
  EXPECT_EQ(r->vocab_sizes().item_features, 4);
  // Per item token, ascending: pad {}, a {common, rare}, b {common, shoes}, c {}, d {common,
  // shoes} (the doubled brand once), e {shoes}.
  EXPECT_EQ(f.offsets, (std::vector<int64_t>{0, 0, 2, 4, 4, 6, 7}));
  EXPECT_EQ(f.ids, (std::vector<int32_t>{1, 3, 1, 2, 1, 2, 2}));
  EXPECT_EQ(f.count(3), 0);
  EXPECT_EQ(features_of_item(*r, "a"), (std::vector<std::string>{"brand:common", "category:rare"}));

  // The fingerprint covers the features too.
  EXPECT_EQ(
      r->vocab_fingerprint(),
      layout::vocab_fingerprint(r->item_raw_ids(), r->category_raw_ids(), r->activity_raw_ids(),
                                r->action_names(), r->item_feature_raw_ids(), f.offsets, f.ids));
  EXPECT_NE(r->vocab_fingerprint(),
            layout::vocab_fingerprint(r->item_raw_ids(), r->category_raw_ids(),
                                      r->activity_raw_ids(), r->action_names()));
}

TEST(PrepItemFeatures, ASourceWithoutFeaturesWritesNoneAndKeepsTheOldFingerprint) {
  ScratchDir dir("features_none");
  const std::string out = dir.file("c.h5");
  // Only the dropped user's item has features: the corpus has none.
  const std::vector<TestRow> rows = {
      {"u", "a", "view", 1},
      {"u", "b", "view", 2},
      {"u", "a", "view", 3},
      with_features({"short", "z", "view", 1}, {"brand:dropped"}),
  };
  const PrepReport report = prep_rows(options_for(out), rows);
  EXPECT_EQ(report.item_features, 0);
  EXPECT_EQ(report.items_with_features, 0);
  auto r = CorpusReader::open(out);
  EXPECT_TRUE(r->item_features().empty());
  EXPECT_TRUE(r->item_features().offsets.empty());
  EXPECT_TRUE(r->item_feature_raw_ids().empty());
  EXPECT_EQ(r->vocab_sizes().item_features, 0);
  EXPECT_EQ(r->vocab_fingerprint(),
            layout::vocab_fingerprint(r->item_raw_ids(), r->category_raw_ids(),
                                      r->activity_raw_ids(), r->action_names()));
  const h5::File file = h5::File::open_read_only(out);
  EXPECT_FALSE(file.has_link("/item_features"));
  EXPECT_FALSE(file.has_link(layout::kVocabItemFeature));
}

TEST(PrepItemFeatures, FeatureTokensTheCorpusCannotStoreRejectTheRow) {
  ScratchDir dir("features_rejects");
  const std::string out = dir.file("c.h5");
  const std::string longest = "brand:" + std::string(kMaxIdBytes - 6, 'x');
  // Many short tokens are fine however long the whole string: the limit is per token.
  std::vector<std::string> many;
  for (int i = 0; i < 40; ++i) many.push_back("attr:" + std::to_string(1000 + i));
  const std::vector<TestRow> rows = {
      with_features({"u", "a", "view", 1}, {longest, "category:caf\xC3\xA9"}),
      with_features({"u", "b", "view", 2}, many),
      with_features({"u", "c", "view", 3}, {"category:1", longest + "y"}),   // line 3
      with_features({"u", "d", "view", 4}, {"brand:caf\xE9"}),               // Latin-1
      with_features({"u", "e", "view", 5}, {std::string("brand:a\0b", 9)}),  // a NUL
      {"u", "f", "view", 6},
  };
  PrepOptions o = options_for(out);
  o.max_reject_fraction = 1;
  const PrepReport report = prep_rows(o, rows);
  EXPECT_EQ(report.rejects_by_reason,
            (std::vector<std::pair<std::string, int64_t>>{{"item_feature_not_utf8", 2},
                                                          {"item_feature_too_long", 1}}));
  ASSERT_EQ(report.reject_examples.size(), 3u);
  EXPECT_EQ(report.reject_examples[0].reason, "item_feature_too_long");
  EXPECT_EQ(report.reject_examples[0].line, 3);
  EXPECT_EQ(report.reject_examples[1].line, 4);
  EXPECT_EQ(report.reject_examples[2].line, 5);
  auto r = CorpusReader::open(out);
  EXPECT_EQ(r->item_raw_ids(), (std::vector<std::string>{"<pad>", "a", "b", "f"}));
  EXPECT_EQ(features_of_item(*r, "a"), (std::vector<std::string>{longest, "category:caf\xC3\xA9"}));
  EXPECT_EQ(features_of_item(*r, "b"), many);
  EXPECT_EQ(report.items_with_features, 2);
}

TEST(PrepItemFeatures, UserItemsFixtureWithItsAttributesFile) {
  ScratchDir dir("features_user_items");
  PrepOptions o = options_for(dir.file("beauty.h5"), RawFormat::kUserItems);
  o.sources.front().path = fixture("user_items/Beauty.txt");
  o.sources.front().item_attributes = fixture("user_items/item2attributes.json");
  o.max_reject_fraction = 1;  // line 3 is malformed on purpose
  const PrepReport report = run_prep(o);
  // Kept: user 1 (items 1 2 3 5) and user 3 (2 2 6); user 2 has two events. Items by kept
  // events: 2 (3 events), then 1, 3, 5, 6 in order of appearance. Item 1 carries attributes
  // 10 20 30, item 2 attribute 11, item 3 an empty list; 5 and 6 are not in the file. Every
  // attribute is on one kept item, so the order is that of first appearance; item 4's
  // attributes 12 and 21 are on no kept item.
  EXPECT_EQ(report.item_features, 4);
  EXPECT_EQ(report.items_with_features, 2);
  auto r = CorpusReader::open(o.output_path);
  EXPECT_EQ(r->item_raw_ids(), (std::vector<std::string>{"<pad>", "2", "1", "3", "5", "6"}));
  EXPECT_EQ(r->item_feature_raw_ids(),
            (std::vector<std::string>{"<pad>", "attr:10", "attr:20", "attr:30", "attr:11"}));
  EXPECT_EQ(r->item_features().offsets, (std::vector<int64_t>{0, 0, 1, 4, 4, 4, 4}));
  EXPECT_EQ(r->item_features().ids, (std::vector<int32_t>{4, 1, 2, 3}));
  EXPECT_EQ(r->vocab_sizes().item_features, 5);
}

TEST(PrepItemFeatures, TrioFixtureCategoriesBecomeFeatures) {
  ScratchDir dir("features_trio");
  PrepOptions o = options_for(dir.file("trio.h5"), RawFormat::kTrio);
  o.sources.front().path = fixture("trio");
  o.max_reject_fraction = 1;
  o.min_sequence_length = 1;
  run_prep(o);
  auto r = CorpusReader::open(o.output_path);
  // c1 is on i1 and "i,3", c2 on i2; i9 is not in item_data.csv.
  EXPECT_EQ(r->item_feature_raw_ids(),
            (std::vector<std::string>{"<pad>", "category:c1", "category:c2"}));
  EXPECT_EQ(features_of_item(*r, "i1"), (std::vector<std::string>{"category:c1"}));
  EXPECT_EQ(features_of_item(*r, "i,3"), (std::vector<std::string>{"category:c1"}));
  EXPECT_EQ(features_of_item(*r, "i2"), (std::vector<std::string>{"category:c2"}));
  EXPECT_EQ(features_of_item(*r, "i9"), (std::vector<std::string>{}));
}

TEST(PrepItemFeatures, AnAttributesFileOfAnotherDataSetIsOneErrorAndNoCorpus) {
  ScratchDir dir("features_mismatch");
  const std::string out = dir.file("beauty.h5");
  PrepOptions o = options_for(out, RawFormat::kUserItems);
  o.sources.front().path = fixture("user_items/Beauty.txt");
  o.max_reject_fraction = 1;
  // The corpus keeps items 1 2 3 5 6. Two of five listed is fewer than half ...
  const std::string two_of_five = dir.file("other.json");
  std::ofstream(two_of_five) << R"({"2": [1], "6": [2], "900": [3], "901": [4]})";
  o.sources.front().item_attributes = two_of_five;
  EXPECT_EQ(user_error_of([&] { run_prep(o); }),
            two_of_five + ": only 2 of 5 items of " + o.sources.front().path +
                " appear in it (is it the attributes file of this data set?)");
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"other.json"});

  // ... three of five (the fixture's own file lists 1, 2 and 3) is enough.
  o.sources.front().item_attributes = fixture("user_items/item2attributes.json");
  EXPECT_EQ(run_prep(o).items, 5);
  EXPECT_TRUE(std::filesystem::exists(out));
}

// ---- writer and reader ------------------------------------------------------------------------

// A two-sequence corpus over items <pad>, ab, c, d; with `features`, ab has feature tokens
// {1, 2}, c none and d {2}.
CorpusContents small_contents(bool features) {
  CorpusContents c;
  c.item = {1, 2, 3, 1, 3};
  c.action = {1, 1, 3, 1, 4};
  c.category = {0, 0, 0, 0, 0};
  c.time_gap = {1, 2, 2, 1, 2};
  c.activity = {0, 0, 0, 0, 0};
  c.timestamp = {10, 20, 30, 15, 25};
  c.purchase = {0, 0, 0, 0, 1};
  c.offsets = {0, 3, 5};
  c.user_keys = {std::string(32, 'a'), std::string(32, 'b')};
  c.label_loo = {0, 1};
  c.label_time = {0, 1};
  c.time_train_length = {3, 1};
  c.item_raw = {"<pad>", "ab", "c", "d"};
  c.category_raw = {"<pad>"};
  c.activity_raw = {"<pad>"};
  c.action_names = canonical_actions();
  c.item_count = {0, 2, 0, 1};
  c.provenance.time_source = "timestamps";
  if (features) {
    c.item_feature_raw = {"<pad>", "attr:1", "brand:x"};
    c.item_feature_offsets = {0, 0, 2, 2, 3};
    c.item_feature_ids = {1, 2, 2};
  }
  return c;
}

TEST(CorpusItemFeatures, RoundTripThroughTheFile) {
  ScratchDir dir("features_roundtrip");
  const std::string path = dir.file("c.h5");
  const CorpusContents c = small_contents(true);
  write_corpus(path, c);
  auto r = CorpusReader::open(path);
  EXPECT_EQ(r->vocab_sizes(), (VocabSizes{4, 5, 1, kNumTimeGapBuckets, 1, 3}));
  EXPECT_EQ(r->item_feature_raw_ids(), c.item_feature_raw);
  EXPECT_EQ(r->item_features().vocab_size, 3);
  EXPECT_EQ(r->item_features().offsets, c.item_feature_offsets);
  EXPECT_EQ(r->item_features().ids, c.item_feature_ids);
  EXPECT_EQ(
      r->vocab_fingerprint(),
      layout::vocab_fingerprint(c.item_raw, c.category_raw, c.activity_raw, c.action_names,
                                c.item_feature_raw, c.item_feature_offsets, c.item_feature_ids));
  // Plain HDF5 for other tools: the documented names and types.
  const h5::File file = h5::File::open_read_only(path);
  EXPECT_EQ(file.open_dataset(layout::kItemFeatureOffsets).read_all<int64_t>(),
            c.item_feature_offsets);
  EXPECT_EQ(file.open_dataset(layout::kItemFeatureIds).read_all<int32_t>(), c.item_feature_ids);
  EXPECT_EQ(file.open_dataset(layout::kVocabItemFeature).read_strings(), c.item_feature_raw);
}

// The fingerprint of a corpus without features must stay the one every corpus had before
// features existed (checkpoints record it): 6d06... is what the four-vocabulary function
// returned for these vocabularies at commit 3acceda, and what Python's hashlib gives for the
// rule of docs/corpus-format.md. With features, the expected value is hashlib's too.
TEST(CorpusItemFeatures, FingerprintIsUnchangedWithoutFeaturesAndCoversThemWhenPresent) {
  const std::vector<std::string> items = {"<pad>", "ab", "c"}, none = {"<pad>"};
  const auto& actions = canonical_actions();
  const std::string before_features =
      "6d0644593ed30c29d00017664b17a5dec22891b63762356e89c35e9ca630c454";
  EXPECT_EQ(layout::vocab_fingerprint(items, none, none, actions), before_features);
  EXPECT_EQ(layout::vocab_fingerprint(items, none, none, actions, {}, {}, {}), before_features);

  const std::vector<std::string> names = {"<pad>", "attr:1", "brand:x"};
  const std::vector<int64_t> offsets = {0, 0, 2, 3};
  const std::vector<int32_t> ids = {1, 2, 2};
  const std::string with_features =
      layout::vocab_fingerprint(items, none, none, actions, names, offsets, ids);
  EXPECT_EQ(with_features, "6c53da24203486314b4d28f9701d37b5cf0e137e7388fc8c6e90487ec927eea5");
  // Any change to the features changes it: a feature's name, an item's list, or a feature
  // moved from one item to another (same vocabulary and same number of pairs).
  EXPECT_NE(with_features, layout::vocab_fingerprint(items, none, none, actions,
                                                     {"<pad>", "attr:1", "brand:y"}, offsets, ids));
  EXPECT_NE(with_features,
            layout::vocab_fingerprint(items, none, none, actions, names, offsets, {1, 2, 1}));
  EXPECT_NE(with_features,
            layout::vocab_fingerprint(items, none, none, actions, names, {0, 0, 1, 3}, ids));
  EXPECT_NE(with_features,
            layout::vocab_fingerprint(items, none, none, actions, names, {0, 0, 0, 3}, {1, 2, 2}));
}

TEST(CorpusItemFeatures, WrittenFingerprintChangesWhenOnlyAFeatureChanges) {
  ScratchDir dir("features_fingerprint");
  CorpusContents c = small_contents(true);
  write_corpus(dir.file("a.h5"), c);
  c.item_feature_ids = {1, 2, 1};  // d: brand:x -> attr:1
  write_corpus(dir.file("b.h5"), c);
  write_corpus(dir.file("none.h5"), small_contents(false));
  const std::string a = CorpusReader::open(dir.file("a.h5"))->vocab_fingerprint();
  const std::string b = CorpusReader::open(dir.file("b.h5"))->vocab_fingerprint();
  const std::string none = CorpusReader::open(dir.file("none.h5"))->vocab_fingerprint();
  EXPECT_NE(a, b);
  EXPECT_NE(a, none);
  EXPECT_EQ(none,
            layout::vocab_fingerprint(c.item_raw, c.category_raw, c.activity_raw, c.action_names));
}

// Replaces (or, with `type` < 0, deletes) dataset `name` of `path`: a 1-D dataset of stored
// type `type` holding `values` (converted by libhdf5 from native int64).
void replace_dataset(const std::string& path, const char* name, hid_t type,
                     const std::vector<int64_t>& values) {
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  ASSERT_GE(H5Ldelete(file, name, H5P_DEFAULT), 0);
  if (type >= 0) {
    const hsize_t n = values.size();
    hid_t space = H5Screate_simple(1, &n, nullptr);
    hid_t dataset = H5Dcreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(dataset, 0);
    if (n > 0) H5Dwrite(dataset, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
    H5Dclose(dataset);
    H5Sclose(space);
  }
  H5Fclose(file);
}

TEST(CorpusItemFeatures, DamagedFeatureDatasetsAreOneLineErrorsNamingTheFile) {
  ScratchDir dir("features_damaged");
  struct Damage {
    const char* what;
    const char* dataset;
    hid_t type;  // -1: delete the dataset
    std::vector<int64_t> values;
    std::string message;
  };
  const std::string corrupt = "truncated or corrupt HDF5 file (";
  const std::vector<Damage> damages = {
      {"ids missing",
       layout::kItemFeatureIds,
       -1,
       {},
       corrupt + "has /item_features/offsets, /vocab/item_feature_raw but not /item_features/ids)"},
      {"offsets missing",
       layout::kItemFeatureOffsets,
       -1,
       {},
       corrupt + "has /item_features/ids, /vocab/item_feature_raw but not /item_features/offsets)"},
      {"vocabulary missing",
       layout::kVocabItemFeature,
       -1,
       {},
       corrupt + "has /item_features/offsets, /item_features/ids but not /vocab/item_feature_raw)"},
      {"offsets too short",
       layout::kItemFeatureOffsets,
       H5T_STD_I64LE,
       {0, 0, 2, 3},
       corrupt + "/item_features/offsets has 4 entries, expected 5)"},
      {"offsets not from 0",
       layout::kItemFeatureOffsets,
       H5T_STD_I64LE,
       {1, 1, 2, 2, 3},
       corrupt + "/item_features/offsets does not start at 0)"},
      {"padding with features",
       layout::kItemFeatureOffsets,
       H5T_STD_I64LE,
       {0, 1, 2, 2, 3},
       corrupt + "/item_features/offsets gives the padding item features)"},
      {"offsets decreasing",
       layout::kItemFeatureOffsets,
       H5T_STD_I64LE,
       {0, 0, 3, 2, 3},
       corrupt + "/item_features/offsets decreases at item 2)"},
      {"offsets past the ids",
       layout::kItemFeatureOffsets,
       H5T_STD_I64LE,
       {0, 0, 2, 2, 4},
       corrupt + "/item_features/offsets ends at 4 but /item_features/ids has 3 entries)"},
      {"id is padding",
       layout::kItemFeatureIds,
       H5T_STD_I32LE,
       {1, 0, 2},
       corrupt + "/item_features/ids entry 1: token 0 outside [1, 3))"},
      {"id beyond the vocabulary",
       layout::kItemFeatureIds,
       H5T_STD_I32LE,
       {1, 2, 3},
       corrupt + "/item_features/ids entry 2: token 3 outside [1, 3))"},
      {"ids of another width",
       layout::kItemFeatureIds,
       H5T_STD_I64LE,
       {1, 2, 2},
       "not a Cartformer corpus (/item_features/ids is not a 32-bit integer dataset)"},
      {"offsets of another width",
       layout::kItemFeatureOffsets,
       H5T_STD_I32LE,
       {0, 0, 2, 2, 3},
       "not a Cartformer corpus (/item_features/offsets is not a 64-bit integer dataset)"},
  };
  for (const Damage& damage : damages) {
    SCOPED_TRACE(damage.what);
    const std::string path = dir.file("damaged.h5");
    write_corpus(path, small_contents(true));
    replace_dataset(path, damage.dataset, damage.type, damage.values);
    EXPECT_EQ(user_error_of([&] { CorpusReader::open(path); }), path + ": " + damage.message);
  }
  // The same replacement with sound values reads (the damage above is what is refused).
  const std::string sound = dir.file("sound.h5");
  write_corpus(sound, small_contents(true));
  replace_dataset(sound, layout::kItemFeatureIds, H5T_STD_I32LE, {1, 2, 1});
  EXPECT_EQ(CorpusReader::open(sound)->item_features().ids, (std::vector<int32_t>{1, 2, 1}));
}

}  // namespace
}  // namespace cf::data
