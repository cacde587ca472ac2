// libFuzzer target: CorpusReader::open and every read on a fuzzed HDF5 corpus file.
//
// Input: the whole file. Random bytes almost never form HDF5, so the seed is a real tiny corpus
// (tools/fuzz.sh has fuzz_seeds write one with synth + prep) and the custom mutator below mostly
// keeps the file's length, changing bytes in place: HDF5 finds its structures through absolute
// addresses, so an insertion or deletion shifts everything after it and the library rejects the
// file at the superblock; in-place changes reach the object headers, dataspaces, B-trees and
// heaps behind it. Opening and reading must succeed or throw cf::UserError.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/corpus.h"
#include "fuzz_support.h"

// libFuzzer's own mutator, for use inside the custom one.
extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace {

// Reads everything a training or evaluation run would read from the corpus.
void read_everything(cf::data::CorpusReader& reader) {
  const int64_t sequences = reader.num_sequences();
  (void)reader.num_events();
  (void)reader.vocab_sizes();
  (void)reader.vocab_fingerprint();
  std::vector<cf::data::Sequence> batch;
  reader.read_sequences(0, sequences, batch);
  cf::data::Sequence one;
  for (int64_t i = 0; i < sequences; ++i) reader.read_sequence(i, one);
  (void)reader.purchase_labels();
  (void)reader.time_split_purchase_labels();
  (void)reader.user_keys();
  (void)reader.item_counts();
  (void)reader.item_prices();
  (void)reader.item_features();
  (void)reader.item_feature_raw_ids();
  (void)reader.item_raw_ids();
  (void)reader.category_raw_ids();
  (void)reader.action_names();
  (void)reader.activity_raw_ids();
  (void)reader.time_split_cutoff();
  (void)reader.time_split_train_length();
  (void)reader.provenance_json();
  reader.load_all();
  for (int64_t i = 0; i < sequences; ++i) reader.read_sequence(i, one);
}

// Little-endian integers that often mean something to a parser of sizes and addresses.
uint64_t interesting_value(std::minstd_rand& rng, size_t file_size) {
  const uint64_t candidates[] = {0,
                                 1,
                                 2,
                                 8,
                                 0x7f,
                                 0x80,
                                 0xff,
                                 0x7fff,
                                 0xffff,
                                 0x7fffffff,
                                 0xffffffff,
                                 0x7fffffffffffffffull,
                                 0xffffffffffffffffull,
                                 file_size,
                                 file_size - 1,
                                 file_size + 1,
                                 static_cast<uint64_t>(rng())};
  return candidates[rng() % (sizeof(candidates) / sizeof(candidates[0]))];
}

}  // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  std::minstd_rand rng(seed);
  const unsigned choice = rng() % 8;
  if (size < 16 || choice == 0) return LLVMFuzzerMutate(data, size, max_size);  // any mutation
  if (choice <= 3) {
    // Overwrite a 1-, 2-, 4- or 8-byte field with an interesting value.
    const size_t width = size_t{1} << (rng() % 4);
    const size_t at = rng() % (size - width + 1);
    const uint64_t value = interesting_value(rng, size);
    std::memcpy(data + at, &value, width);  // x86-64 and aarch64: little endian like HDF5
    return size;
  }
  // libFuzzer's mutations confined to a window whose length is kept.
  const size_t width = 1 + rng() % 16;
  const size_t at = rng() % (size - width + 1);
  uint8_t window[16];
  std::memcpy(window, data + at, width);
  const size_t produced = LLVMFuzzerMutate(window, width, width);
  std::memcpy(data + at, window, produced);  // a shrunk window keeps the original tail bytes
  return size;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const cf::fuzz::ScratchDir scratch("corpus_reader");
  scratch.clear();
  const std::string path = scratch.write("corpus.h5", {reinterpret_cast<const char*>(data), size});
  try {
    auto reader = cf::data::CorpusReader::open(path);
    read_everything(*reader);
  } catch (const cf::UserError& error) {
    cf::fuzz::note_refusal(error);
  }
  return 0;
}
