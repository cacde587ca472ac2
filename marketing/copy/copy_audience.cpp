#include "marketing/copy/copy_audience.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <unordered_map>

#include "core/error.h"
#include "core/utf8.h"
#include "data/batch.h"
#include "data/readers/csv_line.h"
#include "eval/recommender.h"
#include "marketing/user_scores.h"

namespace cf::marketing::copy {

namespace {

// A CSV file with a header: the rows as field strings, `columns` located by name.
struct CsvTable {
  std::vector<std::vector<std::string>> rows;
  std::vector<int64_t> lines;  // 1-based line of each row
  std::map<std::string, size_t> column;
};

CsvTable read_csv(const std::string& path, const std::vector<std::string>& required) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": cannot open");
  CsvTable table;
  data::FieldSplitter split(',', true, data::FieldSplitter::Blanks::kTrimmed);
  std::string line;
  int64_t number = 0;
  bool header = true;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string where = path + ": line " + std::to_string(number);
    if (!is_valid_utf8(line)) throw UserError(where + ": not well-formed UTF-8");
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (!split.split(line)) throw UserError(where + ": malformed CSV quoting");
    std::vector<std::string> fields(split.fields().begin(), split.fields().end());
    if (header) {
      for (size_t c = 0; c < fields.size(); ++c) table.column[fields[c]] = c;
      for (const std::string& name : required)
        if (!table.column.count(name))
          throw UserError(where + ": the header has no '" + name + "' column");
      header = false;
      continue;
    }
    if (fields.size() != table.column.size())
      throw UserError(where + ": " + std::to_string(fields.size()) + " fields, the header has " +
                      std::to_string(table.column.size()));
    table.rows.push_back(std::move(fields));
    table.lines.push_back(number);
  }
  if (header) throw UserError(path + ": empty (no header)");
  if (table.rows.empty()) throw UserError(path + ": no rows after the header");
  return table;
}

}  // namespace

std::vector<CatalogueTitle> read_catalogue_titles(const std::string& path) {
  const CsvTable table = read_csv(path, {"item", "title"});
  const size_t item = table.column.at("item"), title = table.column.at("title");
  const auto aspect = table.column.find("aspect");
  std::vector<CatalogueTitle> out;
  std::set<std::string> seen;
  for (size_t r = 0; r < table.rows.size(); ++r) {
    const std::string where = path + ": line " + std::to_string(table.lines[r]);
    CatalogueTitle t;
    t.item = table.rows[r][item];
    t.title = table.rows[r][title];
    if (aspect != table.column.end()) t.aspect = table.rows[r][aspect->second];
    if (t.item.empty()) throw UserError(where + ": empty item id");
    if (t.title.empty()) throw UserError(where + ": empty title");
    if (!seen.insert(t.item).second)
      throw UserError(where + ": item '" + t.item + "' listed twice");
    out.push_back(std::move(t));
  }
  return out;
}

std::map<std::string, std::string> read_segment_map(const std::string& path) {
  const CsvTable table = read_csv(path, {"category", "segment"});
  const size_t category = table.column.at("category"), segment = table.column.at("segment");
  std::map<std::string, std::string> out;
  for (size_t r = 0; r < table.rows.size(); ++r) {
    const std::string where = path + ": line " + std::to_string(table.lines[r]);
    if (table.rows[r][segment].empty()) throw UserError(where + ": empty segment");
    if (!out.emplace(table.rows[r][category], table.rows[r][segment]).second)
      throw UserError(where + ": category '" + table.rows[r][category] + "' mapped twice");
  }
  return out;
}

std::vector<std::string> read_user_keys(const std::string& path) {
  const CsvTable table = read_csv(path, {"user_key"});
  const size_t key = table.column.at("user_key");
  std::vector<std::string> out;
  for (size_t r = 0; r < table.rows.size(); ++r) {
    if (table.rows[r][key].empty())
      throw UserError(path + ": line " + std::to_string(table.lines[r]) + ": empty user_key");
    out.push_back(table.rows[r][key]);
  }
  return out;
}

std::vector<AudienceChoice> choose_audience(
    trainer::Model& behaviour, const trainer::CooccurrencePrior& prior,
    const data::CorpusReader& corpus, const std::vector<std::string>& user_keys,
    const std::vector<CatalogueTitle>& catalogue,
    const std::map<std::string, std::string>& segment_by_category,
    const std::string& default_segment) {
  const std::vector<std::string> keys = corpus.user_keys();
  std::unordered_map<std::string, int64_t> sequence_of;
  for (size_t i = 0; i < keys.size(); ++i) sequence_of.emplace(keys[i], int64_t(i));
  const std::vector<std::string> item_raw = corpus.item_raw_ids();
  std::unordered_map<std::string, int32_t> token_of;
  for (size_t t = 1; t < item_raw.size(); ++t) token_of.emplace(item_raw[t], int32_t(t));
  std::vector<std::pair<const CatalogueTitle*, int32_t>> products;
  for (const CatalogueTitle& c : catalogue) {
    auto it = token_of.find(c.item);
    if (it != token_of.end()) products.emplace_back(&c, it->second);
  }
  if (products.empty())
    throw UserError("--items: none of its items is an item of " + corpus.path());
  const std::vector<int32_t> item_category = item_categories(corpus);
  const std::vector<std::string> category_raw = corpus.category_raw_ids();

  const int32_t V = corpus.vocab_sizes().items;
  const int T = behaviour.config().max_len;
  std::vector<AudienceChoice> out;
  data::Batch batch;
  data::Sequence seq;
  std::vector<float> hidden, scores(size_t(V), 0.f);
  std::vector<double> mass(category_raw.size());
  std::vector<std::pair<int32_t, float>> prior_scratch;
  for (const std::string& key : user_keys) {
    auto it = sequence_of.find(key);
    if (it == sequence_of.end())
      throw UserError(corpus.path() + ": unknown user key '" + key + "'");
    corpus.read_sequence(it->second, seq);
    batch.resize(1, std::min(std::max(seq.length(), 1), T));
    data::fill_batch_row(batch, 0, seq, seq.length(), /*train_targets=*/false);
    behaviour.last_hidden(batch, hidden);
    behaviour.item_scores(hidden.data(), 1, scores.data());
    prior.apply(seq.item.data(), seq.length(), scores.data(), prior_scratch);
    // The next-item softmax over the catalogue, as generate and target compute it.
    const double log_z = eval::log_sum_exp_over_items(scores.data(), V);
    auto probability = [&](int32_t t) { return std::exp(double(scores[size_t(t)]) - log_z); };
    std::fill(mass.begin(), mass.end(), 0.0);
    for (int32_t t = 1; t < V; ++t) mass[size_t(item_category[size_t(t)])] += probability(t);
    AudienceChoice choice;
    choice.user = key;
    // Category 0 is "none" (items seen without a category): never a segment.
    size_t best = 0;
    for (size_t c = 1; c < mass.size(); ++c)
      if (best == 0 || mass[c] > mass[best]) best = c;
    choice.category = best > 0 ? category_raw[best] : "";
    choice.category_mass = best > 0 ? mass[best] : 0.0;
    for (const auto& [product, token] : products) {
      const double p = probability(token);
      if (!choice.product || p > choice.product_probability) {
        choice.product = product;
        choice.product_probability = p;
      }
    }
    auto mapped = segment_by_category.find(choice.category);
    if (mapped != segment_by_category.end()) {
      choice.segment = mapped->second;
    } else if (!default_segment.empty()) {
      choice.segment = default_segment;
    } else {
      throw UserError("--segment-map: no segment for category '" + choice.category + "' (user " +
                      key +
                      "'s top category); add it, or give --segment as the "
                      "default");
    }
    out.push_back(std::move(choice));
  }
  return out;
}

}  // namespace cf::marketing::copy
