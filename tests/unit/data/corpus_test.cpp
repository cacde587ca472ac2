// Corpus writer/reader: round trips of every dataset and attribute, slices, and damaged files.
#include "data/corpus.h"

#include <gtest/gtest.h>
#include <hdf5.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "core/error.h"
#include "core/json.h"
#include "data/corpus_layout.h"
#include "data/corpus_writer.h"
#include "data/hdf5_file.h"
#include "unit/data/data_test_support.h"

namespace cf::data {
namespace {

using testing::ScratchDir;

std::string key_for(int i) {
  char buffer[40];
  std::snprintf(buffer, sizeof(buffer), "%032x", i * 7919 + 1);
  return buffer;
}

// A corpus of `lengths.size()` sequences with deterministic, distinct per-event values.
CorpusContents make_contents(const std::vector<int>& lengths, int items = 9) {
  CorpusContents c;
  c.offsets.push_back(0);
  int64_t e = 0;
  for (size_t s = 0; s < lengths.size(); ++s) {
    for (int k = 0; k < lengths[s]; ++k, ++e) {
      c.item.push_back(1 + static_cast<int32_t>((e * 5 + s) % (items - 1)));
      c.action.push_back(1 + static_cast<int32_t>(e % 4));
      c.category.push_back(static_cast<int32_t>(e % 3));
      c.time_gap.push_back(k == 0 ? 1 : 2 + static_cast<int32_t>(e % 14));
      c.activity.push_back(static_cast<int32_t>(e % 2));
      c.timestamp.push_back(1'600'000'000 + e * 37);
      c.purchase.push_back(c.action.back() == 4 ? 1 : 0);
    }
    c.offsets.push_back(e);
    c.user_keys.push_back(key_for(static_cast<int>(s)));
    c.label_loo.push_back(static_cast<int8_t>(s % 2));
    c.label_time.push_back(static_cast<int8_t>((s / 2) % 2));
    c.time_train_length.push_back(lengths[s] / 2);
  }
  c.item_raw.push_back("<pad>");
  for (int i = 1; i < items; ++i) c.item_raw.push_back("sku-" + std::to_string(i * 11));
  c.category_raw = {"<pad>", "shoes", "a much longer category name"};
  c.activity_raw = {"<pad>", "coupon-7"};
  c.action_names = canonical_actions();
  c.item_count.assign(items, 0);
  for (int i = 1; i < items; ++i) c.item_count[i] = i * 3;
  CorpusProvenance& p = c.provenance;
  p.created_by = "corpus_test";
  p.source_format = "trio";
  p.source_files = {"/data/behavior_data.csv", "/data/item_data.csv"};
  p.prep_config_yaml = "format: trio\ninput: /data\n";
  p.rows_read = e + 5;
  p.rows_kept = e;
  p.rows_rejected = 3;
  p.rows_filtered = 2;
  p.rejects_by_reason = {{"bad_timestamp", 2}, {"wrong_field_count", 1}};
  p.filtered_by_reason = {{"short_sequence", 2}};
  p.user_key_source = "key-file";
  p.dropped_personal_columns = {"email", "phone"};
  p.time_split_cutoff = 1'600'000'100;
  p.time_source = "timestamps";
  return c;
}

void expect_sequence_equals(const CorpusContents& c, int64_t s, const Sequence& got) {
  const int64_t a = c.offsets[s], b = c.offsets[s + 1];
  EXPECT_EQ(got.index, s);
  ASSERT_EQ(got.length(), b - a);
  auto slice = [&](const auto& v) {
    using T = typename std::decay_t<decltype(v)>::value_type;
    return std::vector<T>(v.begin() + a, v.begin() + b);
  };
  EXPECT_EQ(got.item, slice(c.item)) << "sequence " << s;
  EXPECT_EQ(got.action, slice(c.action));
  EXPECT_EQ(got.category, slice(c.category));
  EXPECT_EQ(got.time_gap, slice(c.time_gap));
  EXPECT_EQ(got.activity, slice(c.activity));
  EXPECT_EQ(got.timestamp, slice(c.timestamp));
  EXPECT_EQ(got.purchase, slice(c.purchase));
}

// Expects `fn` to throw a UserError whose message starts with `path` and contains `needle`.
template <class Fn>
void expect_user_error(Fn fn, const std::string& path, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected a UserError containing '" << needle << "'";
  } catch (const UserError& e) {
    std::string what = e.what();
    EXPECT_EQ(what.rfind(path + ": ", 0), 0u) << what;
    EXPECT_NE(what.find(needle), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << "error must be one line: " << what;
  }
}

TEST(Corpus, RoundTripsEveryDatasetAndAttribute) {
  ScratchDir dir("roundtrip");
  const std::string path = dir.file("c.h5");
  CorpusContents c = make_contents({3, 1, 5, 4});
  write_corpus(path, c);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"c.h5"});  // no temporary left behind

  auto reader = CorpusReader::open(path);
  EXPECT_EQ(reader->path(), path);
  EXPECT_EQ(reader->num_sequences(), 4);
  EXPECT_EQ(reader->num_events(), 13);
  VocabSizes expected_sizes{9, 5, 3, kNumTimeGapBuckets, 2};
  EXPECT_EQ(reader->vocab_sizes(), expected_sizes);
  EXPECT_EQ(reader->offsets(), c.offsets);
  EXPECT_EQ(reader->purchase_labels(), c.label_loo);
  EXPECT_EQ(reader->time_split_purchase_labels(), c.label_time);
  EXPECT_EQ(reader->time_split_train_length(), c.time_train_length);
  EXPECT_EQ(reader->time_split_cutoff(), 1'600'000'100);
  EXPECT_EQ(reader->user_keys(), c.user_keys);
  EXPECT_EQ(reader->item_counts(), c.item_count);
  EXPECT_EQ(reader->item_raw_ids(), c.item_raw);
  EXPECT_EQ(reader->category_raw_ids(), c.category_raw);
  EXPECT_EQ(reader->activity_raw_ids(), c.activity_raw);
  EXPECT_EQ(reader->action_names(), c.action_names);
  EXPECT_EQ(reader->vocab_fingerprint(),
            layout::vocab_fingerprint(c.item_raw, c.category_raw, c.activity_raw, c.action_names));

  Sequence seq;
  for (int64_t s = 0; s < 4; ++s) {
    reader->read_sequence(s, seq);
    expect_sequence_equals(c, s, seq);
  }
  std::vector<Sequence> range;
  reader->read_sequences(1, 3, range);
  ASSERT_EQ(range.size(), 3u);
  for (int k = 0; k < 3; ++k) expect_sequence_equals(c, 1 + k, range[k]);

  Json p = Json::parse(reader->provenance_json());
  EXPECT_EQ(p["schema_version"], kCorpusSchemaVersion);
  EXPECT_EQ(p["created_by"], "corpus_test");
  EXPECT_EQ(p["source_format"], "trio");
  EXPECT_EQ(p["source_files"], Json({"/data/behavior_data.csv", "/data/item_data.csv"}));
  EXPECT_EQ(p["prep_config"], "format: trio\ninput: /data\n");
  EXPECT_EQ(p["rows_read"], 18);
  EXPECT_EQ(p["rows_kept"], 13);
  EXPECT_EQ(p["rows_rejected"], 3);
  EXPECT_EQ(p["rows_filtered"], 2);
  EXPECT_EQ(p["rejects_by_reason"]["bad_timestamp"], 2);
  EXPECT_EQ(p["rejects_by_reason"]["wrong_field_count"], 1);
  EXPECT_EQ(p["filtered_by_reason"]["short_sequence"], 2);
  EXPECT_EQ(p["user_id_hashing"], "hmac-sha256");
  EXPECT_EQ(p["user_key_source"], "key-file");
  EXPECT_EQ(p["dropped_personal_columns"], Json({"email", "phone"}));
  EXPECT_EQ(p["time_split_cutoff"], 1'600'000'100);
  EXPECT_EQ(p["time_source"], "timestamps");
  EXPECT_EQ(p["vocab_fingerprint"], reader->vocab_fingerprint());
  EXPECT_EQ(p["num_sequences"], 4);
  EXPECT_EQ(p["num_events"], 13);
}

// Found by tests/fuzz/fuzz_corpus_reader (regressions/fuzz_corpus_reader/non_utf8_attribute):
// provenance_json let nlohmann's type_error 316 escape on an attribute that is not UTF-8.
TEST(Corpus, ProvenanceOfAttributesThatAreNotUtf8IsStillJson) {
  ScratchDir dir("latin1");
  const std::string path = dir.file("c.h5");
  CorpusContents c = make_contents({3, 4});
  c.provenance.created_by = "prep on caf\xe9 \xb6";  // Latin-1, not UTF-8
  write_corpus(path, c);
  const Json p = Json::parse(CorpusReader::open(path)->provenance_json());
  EXPECT_EQ(p["created_by"], "prep on caf\xef\xbf\xbd \xef\xbf\xbd");  // U+FFFD each
  EXPECT_EQ(p["source_format"], "trio");
}

TEST(Corpus, FingerprintDependsOnEveryVocabularyAndEntryBoundary) {
  std::vector<std::string> items = {"<pad>", "ab", "c"}, cats = {"<pad>"}, acts = {"<pad>"};
  const auto& actions = canonical_actions();
  const std::string base = layout::vocab_fingerprint(items, cats, acts, actions);
  EXPECT_EQ(base.size(), 64u);
  EXPECT_EQ(base, layout::vocab_fingerprint(items, cats, acts, actions));
  EXPECT_NE(base, layout::vocab_fingerprint({"<pad>", "a", "bc"}, cats, acts, actions));
  EXPECT_NE(base, layout::vocab_fingerprint({"<pad>", "c", "ab"}, cats, acts, actions));
  EXPECT_NE(base, layout::vocab_fingerprint(items, {"<pad>", "x"}, acts, actions));
  EXPECT_NE(base, layout::vocab_fingerprint(items, acts, {"<pad>", "x"}, actions));
  // Moving an entry from one vocabulary to the next must change the hash too.
  EXPECT_NE(layout::vocab_fingerprint({"<pad>", "x"}, {"<pad>"}, acts, actions),
            layout::vocab_fingerprint({"<pad>"}, {"<pad>", "x"}, acts, actions));
}

TEST(Corpus, HyperslabReadsMatchAcrossChunkBoundaries) {
  // ~200k events: several 64k-element chunks, with sequences straddling chunk edges.
  std::mt19937 rng(7);
  std::vector<int> lengths;
  int total = 0;
  while (total < 200'000) {
    lengths.push_back(1 + static_cast<int>(rng() % 300));
    total += lengths.back();
  }
  ScratchDir dir("slices");
  const std::string path = dir.file("big.h5");
  CorpusContents c = make_contents(lengths, 500);
  write_corpus(path, c);
  auto reader = CorpusReader::open(path);
  ASSERT_EQ(reader->num_events(), total);
  Sequence seq;
  std::vector<int64_t> picks = {0, static_cast<int64_t>(lengths.size()) - 1};
  for (int k = 0; k < 40; ++k) picks.push_back(rng() % lengths.size());
  for (int64_t s : picks) {
    reader->read_sequence(s, seq);
    expect_sequence_equals(c, s, seq);
  }
  std::vector<Sequence> range;
  reader->read_sequences(100, 400, range);
  for (int k = 0; k < 400; ++k) expect_sequence_equals(c, 100 + k, range[k]);

  reader->load_all();
  for (int64_t s : picks) {
    reader->read_sequence(s, seq);
    expect_sequence_equals(c, s, seq);
  }
}

TEST(Corpus, RewritingReplacesTheOldFileWhole) {
  ScratchDir dir("rewrite");
  const std::string path = dir.file("c.h5");
  write_corpus(path, make_contents({3, 3}));
  write_corpus(path, make_contents({4, 4, 4}));
  EXPECT_EQ(CorpusReader::open(path)->num_sequences(), 3);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"c.h5"});
}

TEST(Corpus, TruncatedFileIsAUserErrorNamingTheFile) {
  ScratchDir dir("truncated");
  std::vector<int> lengths(3000, 40);  // 120k events: a file of a few hundred KiB
  CorpusContents c = make_contents(lengths, 300);
  const std::string good = dir.file("good.h5");
  write_corpus(good, c);
  const auto full_size = std::filesystem::file_size(good);
  for (double fraction : {0.0, 0.001, 0.1, 0.5, 0.9, 0.999}) {
    const std::string path = dir.file("cut.h5");
    std::filesystem::copy_file(good, path, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(path, static_cast<uintmax_t>(full_size * fraction));
    SCOPED_TRACE("kept fraction " + std::to_string(fraction));
    // Whether the damage is found at open or at the first read of a lost chunk, it must be
    // a one-line UserError naming the file, never a crash or silent garbage.
    expect_user_error(
        [&] {
          auto reader = CorpusReader::open(path);
          std::vector<Sequence> all;
          reader->read_sequences(0, reader->num_sequences(), all);
        },
        path, fraction == 0.0 ? "not a Cartformer corpus" : "truncated or corrupt");
  }
}

TEST(Corpus, ForeignFilesAreRejectedWithTheReason) {
  ScratchDir dir("foreign");
  const std::string text = dir.file("notes.h5");
  {
    std::ofstream f(text);
    f << "user,item\n1,2\n";
  }
  expect_user_error([&] { CorpusReader::open(text); }, text,
                    "not a Cartformer corpus (not an HDF5 file)");

  const std::string other = dir.file("other.h5");
  {
    h5::File f = h5::File::create(other);
    std::vector<int32_t> values = {1, 2, 3};
    f.write_dataset("/values", values.data(), 3, h5::DatasetLayout{});
    f.close();
  }
  expect_user_error([&] { CorpusReader::open(other); }, other,
                    "not a Cartformer corpus (no schema_version attribute)");

  const std::string missing = dir.file("missing.h5");
  expect_user_error([&] { CorpusReader::open(missing); }, missing, "cannot open");
}

TEST(Corpus, NewerSchemaVersionIsRefused) {
  ScratchDir dir("version");
  const std::string path = dir.file("v2.h5");
  {
    h5::File f = h5::File::create(path);
    f.set_attribute("schema_version", int64_t{2});
    f.close();
  }
  expect_user_error([&] { CorpusReader::open(path); }, path, "schema version 2 is not supported");
}

// Edits a written corpus through the raw C API to simulate damage the writer never produces.
void replace_dataset(const std::string& path, const char* name, const std::vector<int32_t>& v) {
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  ASSERT_GE(H5Ldelete(file, name, H5P_DEFAULT), 0);
  hsize_t n = v.size();
  hid_t space = H5Screate_simple(1, &n, nullptr);
  hid_t dataset =
      H5Dcreate2(file, name, H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(dataset, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  H5Dclose(dataset);
  H5Sclose(space);
  H5Fclose(file);
}

TEST(Corpus, InconsistentOrMissingDatasetsAreRejected) {
  ScratchDir dir("inconsistent");
  CorpusContents c = make_contents({3, 4});
  const std::string short_channel = dir.file("short.h5");
  write_corpus(short_channel, c);
  replace_dataset(short_channel, layout::kEventAction, {1, 2, 3});
  expect_user_error([&] { CorpusReader::open(short_channel); }, short_channel,
                    "/events/action has 3 entries, expected 7");

  const std::string missing = dir.file("missing.h5");
  write_corpus(missing, c);
  {
    hid_t file = H5Fopen(missing.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(file, layout::kStatsItemCount, H5P_DEFAULT);
    H5Fclose(file);
  }
  expect_user_error([&] { CorpusReader::open(missing); }, missing,
                    "missing dataset /stats/item_count");

  const std::string bad_tokens = dir.file("tokens.h5");
  write_corpus(bad_tokens, c);
  replace_dataset(bad_tokens, layout::kEventItem, {1, 2, 3, 4, 5, 999, 1});
  auto reader = CorpusReader::open(bad_tokens);
  Sequence seq;
  reader->read_sequence(0, seq);  // sequence 0 is intact
  expect_user_error([&] { reader->read_sequence(1, seq); }, bad_tokens, "item token 999");
}

// Replaces dataset `name` of `path` by an unlimited, deflated int64 dataset of `length`
// elements in chunks of `chunk`, of which only the first `written` elements are written (the
// rest of its chunks are never allocated in the file).
void replace_with_chunked(const std::string& path, const char* name, hsize_t length, hsize_t chunk,
                          const std::vector<int64_t>& written) {
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  ASSERT_GE(H5Ldelete(file, name, H5P_DEFAULT), 0);
  const hsize_t unlimited = H5S_UNLIMITED;
  hid_t space = H5Screate_simple(1, &length, &unlimited);
  hid_t plist = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(plist, 1, &chunk);
  H5Pset_deflate(plist, 4);
  hid_t dataset = H5Dcreate2(file, name, H5T_STD_I64LE, space, H5P_DEFAULT, plist, H5P_DEFAULT);
  ASSERT_GE(dataset, 0);
  if (!written.empty()) {
    const hsize_t start = 0, count = written.size();
    H5Sselect_hyperslab(space, H5S_SELECT_SET, &start, nullptr, &count, nullptr);
    hid_t memory = H5Screate_simple(1, &count, nullptr);
    H5Dwrite(dataset, H5T_NATIVE_INT64, memory, space, H5P_DEFAULT, written.data());
    H5Sclose(memory);
  }
  H5Dclose(dataset);
  H5Pclose(plist);
  H5Sclose(space);
  H5Fclose(file);
}

// Found by tests/fuzz/fuzz_corpus_reader (regressions/fuzz_corpus_reader/huge_chunk): a chunk
// size damaged to 1,951,596,574 elements made libhdf5 allocate about 2 GB to read a 30-byte
// dataset; and a dataspace declaring 2^40 elements sized the reader's own buffer (8 TiB).
TEST(Corpus, LayoutsThatWouldAllocateBeyondTheFileAreRefused) {
  ScratchDir dir("sizes");
  CorpusContents c = make_contents({3, 4});
  const std::string huge_chunk = dir.file("chunk.h5");
  write_corpus(huge_chunk, c);
  replace_with_chunked(huge_chunk, layout::kSequenceOffsets, 3, 1 << 20, {0, 3, 7});
  expect_user_error([&] { CorpusReader::open(huge_chunk); }, huge_chunk,
                    "truncated or corrupt HDF5 file (dataset /sequences/offsets has chunks of "
                    "1048576 elements along a dimension of 3)");

  const std::string huge_extent = dir.file("extent.h5");
  write_corpus(huge_extent, c);
  replace_with_chunked(huge_extent, layout::kSequenceOffsets, hsize_t{1} << 40, 1 << 16, {0, 3, 7});
  expect_user_error([&] { CorpusReader::open(huge_extent); }, huge_extent,
                    "truncated or corrupt HDF5 file (dataset /sequences/offsets declares "
                    "8796093022208 bytes but stores ");

  // The same layouts at honest sizes still read.
  const std::string honest = dir.file("honest.h5");
  write_corpus(honest, c);
  replace_with_chunked(honest, layout::kSequenceOffsets, 3, 2, {0, 3, 7});
  EXPECT_EQ(CorpusReader::open(honest)->offsets(), (std::vector<int64_t>{0, 3, 7}));
}

// Replaces dataset `name` of `path` by a 1-D dataset of stored type `type` holding `values`
// (given as native int32, converted by libhdf5 on writing).
void replace_with_type(const std::string& path, const char* name, hid_t type,
                       const std::vector<int32_t>& values) {
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  ASSERT_GE(H5Ldelete(file, name, H5P_DEFAULT), 0);
  const hsize_t n = values.size();
  hid_t space = H5Screate_simple(1, &n, nullptr);
  hid_t dataset = H5Dcreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(dataset, 0);
  H5Dwrite(dataset, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
  H5Dclose(dataset);
  H5Sclose(space);
  H5Fclose(file);
}

// Found by tests/fuzz/fuzz_corpus_reader (regressions/fuzz_corpus_reader/:
// int32_of_0_bit_precision, float_of_18_bytes, unfiltered_short_chunk, shuffle_only_short_chunk):
// stored types of the right class but an unusual layout, and uncompressed chunks stored shorter
// than a chunk, made libhdf5's reads run past the end of its own buffers.
TEST(Corpus, StorageThatLibhdf5MisreadsIsRefused) {
  ScratchDir dir("storage");
  CorpusContents c = make_contents({3, 4});

  const std::string narrow = dir.file("narrow.h5");
  write_corpus(narrow, c);
  hid_t int32_of_16_bits = H5Tcopy(H5T_STD_I32LE);
  H5Tset_precision(int32_of_16_bits, 16);
  replace_with_type(narrow, layout::kEventAction, int32_of_16_bits, c.action);
  H5Tclose(int32_of_16_bits);
  expect_user_error([&] { CorpusReader::open(narrow); }, narrow,
                    "not a Cartformer corpus (/events/action is not a 32-bit integer dataset)");

  const std::string extended = dir.file("extended.h5");
  CorpusContents priced = c;
  priced.item_price.assign(c.item_raw.size(), 2.5);
  write_corpus(extended, priced);
  std::vector<int32_t> prices(c.item_raw.size(), 3);
  replace_with_type(extended, layout::kStatsItemPrice, H5T_NATIVE_LDOUBLE, prices);
  expect_user_error([&] { CorpusReader::open(extended); }, extended,
                    "/stats/item_price is not a one-dimensional float dataset");

  const std::string short_chunk = dir.file("short_chunk.h5");
  write_corpus(short_chunk, c);
  {
    hid_t file = H5Fopen(short_chunk.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    ASSERT_GE(H5Ldelete(file, layout::kSequenceOffsets, H5P_DEFAULT), 0);
    const hsize_t n = 3, chunk = 3, origin = 0;
    hid_t space = H5Screate_simple(1, &n, nullptr);
    hid_t plist = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(plist, 1, &chunk);  // no filters: a chunk is stored as its 24 raw bytes
    hid_t dataset = H5Dcreate2(file, layout::kSequenceOffsets, H5T_STD_I64LE, space, H5P_DEFAULT,
                               plist, H5P_DEFAULT);
    const int64_t first = 0;  // 8 bytes stored for the 24-byte chunk
    ASSERT_GE(H5Dwrite_chunk(dataset, H5P_DEFAULT, 0, &origin, sizeof first, &first), 0);
    H5Dclose(dataset);
    H5Pclose(plist);
    H5Sclose(space);
    H5Fclose(file);
  }
  expect_user_error([&] { CorpusReader::open(short_chunk); }, short_chunk,
                    "truncated or corrupt HDF5 file (dataset /sequences/offsets stores an "
                    "uncompressed chunk of 8 bytes for 24)");
}

// Replaces /events/category of `path` (7 events) by a deflated int32 dataset in chunks of 4
// whose chunks are written raw: `chunks` lists, per chunk written, its bytes and filter mask
// (1 = the deflate filter skipped for that chunk, as HDF5 allows).
void replace_category_chunks(const std::string& path,
                             const std::vector<std::pair<std::vector<int32_t>, unsigned>>& chunks) {
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  ASSERT_GE(H5Ldelete(file, layout::kEventCategory, H5P_DEFAULT), 0);
  const hsize_t n = 7, chunk = 4;
  hid_t space = H5Screate_simple(1, &n, nullptr);
  hid_t plist = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(plist, 1, &chunk);
  H5Pset_deflate(plist, 4);
  hid_t dataset = H5Dcreate2(file, layout::kEventCategory, H5T_STD_I32LE, space, H5P_DEFAULT, plist,
                             H5P_DEFAULT);
  ASSERT_GE(dataset, 0);
  for (size_t k = 0; k < chunks.size(); ++k) {
    const hsize_t origin = k * chunk;
    const auto& [values, filter_mask] = chunks[k];
    ASSERT_GE(H5Dwrite_chunk(dataset, H5P_DEFAULT, filter_mask, &origin,
                             values.size() * sizeof(int32_t), values.data()),
              0);
  }
  H5Dclose(dataset);
  H5Pclose(plist);
  H5Sclose(space);
  H5Fclose(file);
}

// Found by tests/fuzz/fuzz_corpus_reader
// (regressions/fuzz_corpus_reader/filters_skipped_short_chunk, chunk_stored_beyond_file): a chunk
// whose filters are skipped but whose stored bytes are fewer than a chunk made libhdf5 read past
// them, and a chunk record claiming 4 GB made it allocate that much; a chunk never written read as
// zeros where the writer always writes every chunk.
TEST(Corpus, ChunksMustBeWhole) {
  ScratchDir dir("chunks");
  CorpusContents c = make_contents({3, 4});

  const std::string short_raw = dir.file("short_raw.h5");
  write_corpus(short_raw, c);
  replace_category_chunks(short_raw, {{{0, 1, 2, 0}, 1}, {{1}, 1}});
  expect_user_error([&] { CorpusReader::open(short_raw); }, short_raw,
                    "truncated or corrupt HDF5 file (dataset /events/category stores an "
                    "uncompressed chunk of 4 bytes for 16)");

  const std::string missing = dir.file("missing.h5");
  write_corpus(missing, c);
  replace_category_chunks(missing, {{{0, 1, 2, 0}, 1}});
  expect_user_error([&] { CorpusReader::open(missing); }, missing,
                    "truncated or corrupt HDF5 file (dataset /events/category stores 1 of its 2 "
                    "chunks)");

  // Whole chunks with their filter skipped are ordinary HDF5 and read back.
  const std::string whole_raw = dir.file("whole_raw.h5");
  write_corpus(whole_raw, c);
  replace_category_chunks(whole_raw, {{{0, 1, 2, 0}, 1}, {{1, 2, 0, 0}, 1}});
  Sequence seq;
  CorpusReader::open(whole_raw)->read_sequence(1, seq);
  EXPECT_EQ(seq.category, (std::vector<int32_t>{0, 1, 2, 0}));
}

TEST(Corpus, ReadableWithoutCartformerThroughTheHdf5Api) {
  // What h5py/h5dump see: plain typed datasets with the documented names and shapes.
  ScratchDir dir("plain");
  const std::string path = dir.file("c.h5");
  CorpusContents c = make_contents({3, 4});
  write_corpus(path, c);
  h5::File f = h5::File::open_read_only(path);
  EXPECT_EQ(f.open_dataset(layout::kEventItem).read_all<int32_t>(), c.item);
  EXPECT_EQ(f.open_dataset(layout::kEventTimestamp).read_all<int64_t>(), c.timestamp);
  EXPECT_EQ(f.open_dataset(layout::kSequenceUserKey).read_strings(), c.user_keys);
  EXPECT_EQ(f.string_attribute("user_id_hashing"), "hmac-sha256");
  EXPECT_EQ(f.int_attribute("schema_version"), 1);
  // The root attributes come back in the order they were written.
  auto attributes = f.attributes_as_text();
  ASSERT_FALSE(attributes.empty());
  EXPECT_EQ(attributes.front().first, "schema_version");
}

TEST(Corpus, ProvenanceNamesThatAreNotUtf8AreStoredWithReplacementCharacters) {
  // File and column names are whatever bytes the user's system allows; provenance only
  // describes them, so they must neither fail the write nor make the attributes undecodable.
  ScratchDir dir("names");
  const std::string path = dir.file("c.h5");
  CorpusContents c = make_contents({3, 4});
  c.provenance.source_files = {"/data/caf\xE9.csv"};
  c.provenance.prep_config_yaml = "input: /data/caf\xE9.csv\n";
  c.provenance.dropped_personal_columns = {"e\xFFmail"};
  write_corpus(path, c);
  Json p = Json::parse(CorpusReader::open(path)->provenance_json());
  EXPECT_EQ(p["source_files"], Json({"/data/caf\xEF\xBF\xBD.csv"}));
  EXPECT_EQ(p["prep_config"], "input: /data/caf\xEF\xBF\xBD.csv\n");
  EXPECT_EQ(p["dropped_personal_columns"], Json({"e\xEF\xBF\xBDmail"}));
}

TEST(Hdf5File, PrintsNoDiagnosticsFromAnyThread) {
  // HDF5 is built thread-safe here, so whether it prints its error stack is a setting of each
  // thread; failures must reach the user only as one UserError line, whichever thread hit them.
  ScratchDir dir("quiet");
  const std::string path = dir.file("c.h5");
  write_corpus(path, make_contents({3}));
  const std::string damaged = dir.file("damaged.h5");
  {
    const std::string bytes = testing::file_bytes(path);
    std::ofstream(damaged, std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  }
  auto failures_on_this_thread = [&] {
    int failures = 0;
    try {
      h5::File::open_read_only(damaged);
    } catch (const UserError&) {
      ++failures;
    }
    const h5::File file = h5::File::open_read_only(path);
    try {
      file.open_dataset("/no/such/dataset");
    } catch (const UserError&) {
      ++failures;
    }
    return failures;
  };
  ::testing::internal::CaptureStderr();
  const int on_main = failures_on_this_thread();
  int on_worker = 0;
  std::thread([&] { on_worker = failures_on_this_thread(); }).join();
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(on_main, 2);
  EXPECT_EQ(on_worker, 2);
}

TEST(Hdf5File, ErrorDescriptionsBecomeOneLine) {
  // What the POSIX driver reports for a full disk: ctime()'s newline inside, noise around.
  EXPECT_EQ(h5::hdf5_error_line(
                "file write failed: time = Sat Dec  5 11:36:53 2026\n, filename = 'c.h5.tmp.1', "
                "file descriptor = 3, errno = 28, error message = 'No space left on device', "
                "buf = 0x55f751358db5, total write size = 54598, offset = 0"),
            "No space left on device");
  EXPECT_EQ(h5::hdf5_error_line("unable to open file: time = Sat Dec  5 11:39:01 2026\n, name = "
                                "'x.h5',\ttent_flags = 0\n"),
            "unable to open file: time = Sat Dec 5 11:39:01 2026 , name = 'x.h5', tent_flags = 0");
  EXPECT_EQ(h5::hdf5_error_line(""), "");
}

}  // namespace
}  // namespace cf::data
