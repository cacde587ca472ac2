#include "data/prep.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <numeric>
#include <utility>

#include "core/error.h"
#include "data/corpus.h"
#include "data/corpus_layout.h"
#include "data/corpus_writer.h"
#include "data/prep_config.h"
#include "data/prep_read.h"
#include "data/string_interner.h"
#include "data/user_pseudonym.h"

namespace cf::data {
namespace {

using prep_detail::RawColumns;
using prep_detail::ReadResult;
using prep_detail::RejectTally;

using Clock = std::chrono::steady_clock;

// Gives a vector's memory back. `v = {}` would not: it assigns an empty list and keeps the
// capacity.
template <typename T>
void release(std::vector<T>& v) {
  std::vector<T>().swap(v);
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string describe_inputs(const std::vector<RawSourceSpec>& sources) {
  std::string name = sources.front().path;
  if (sources.size() > 1) name += " (+" + std::to_string(sources.size() - 1) + " more inputs)";
  return name;
}

std::string format_percent(double fraction) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.3g%%", 100.0 * fraction);
  return buffer;
}

std::string reject_summary(const RejectTally& tally) {
  std::string text;
  for (const auto& [reason, count] : tally.by_reason()) {
    if (!text.empty()) text += ", ";
    text += reason + " " + std::to_string(count);
  }
  if (tally.first_event_reject()) {
    const RowReject& first = *tally.first_event_reject();
    text += "; first: " + first.file + ":" + std::to_string(first.line) + " " + first.reason;
  }
  return text;
}

void validate_options(const PrepOptions& o) {
  if (o.sources.empty()) throw UserError("input: no raw source given");
  if (o.output_path.empty()) throw UserError("output: no corpus path given");
  if (o.user_key.size() < kMinUserKeyBytes) {
    throw UserError("user key (" + o.user_key_source + "): has " +
                    std::to_string(o.user_key.size()) + " bytes; at least " +
                    std::to_string(kMinUserKeyBytes) + " are required");
  }
  if (!(o.max_reject_fraction >= 0 && o.max_reject_fraction <= 1)) {
    throw UserError("max_reject_fraction: must be within [0, 1], got " +
                    std::to_string(o.max_reject_fraction));
  }
  if (o.min_sequence_length < 1) {
    throw UserError("min_sequence_length: must be at least 1, got " +
                    std::to_string(o.min_sequence_length));
  }
  if (o.max_events_per_user < 0 ||
      (o.max_events_per_user > 0 && o.max_events_per_user < o.min_sequence_length)) {
    throw UserError(
        "max_events_per_user: must be 0 (no cap) or at least "
        "min_sequence_length, got " +
        std::to_string(o.max_events_per_user));
  }
  if (!(o.time_split_quantile > 0 && o.time_split_quantile <= 1)) {
    throw UserError("time_split_quantile: must be within (0, 1], got " +
                    std::to_string(o.time_split_quantile));
  }
}

// ---- stage 2: group by user, order by time, apply length policy ------------------------------

struct Grouping {
  std::vector<uint32_t> order;       // event indices, grouped by user, time-ordered
  std::vector<int32_t> kept_users;   // provisional user ids of kept sequences, in output order
  std::vector<int64_t> slice_begin;  // per kept user: [begin, end) into order
  std::vector<int64_t> slice_end;
  int64_t filtered_short = 0, filtered_over_cap = 0;
};

Grouping group_by_user(const RawColumns& c, int32_t num_users, const PrepOptions& options) {
  Grouping g;
  const size_t n = c.size();
  // Counting sort by user keeps input order within each user, which makes the later
  // per-user time sort a stable sort "by timestamp, then input order".
  std::vector<int64_t> start(static_cast<size_t>(num_users) + 1, 0);
  for (size_t e = 0; e < n; ++e) ++start[c.user[e] + 1];
  std::partial_sum(start.begin(), start.end(), start.begin());
  g.order.resize(n);
  {
    std::vector<int64_t> cursor(start.begin(), start.end() - 1);
    for (size_t e = 0; e < n; ++e) g.order[cursor[c.user[e]]++] = static_cast<uint32_t>(e);
  }

  const int64_t* ts = c.timestamp.data();
#pragma omp parallel for schedule(dynamic, 4096)
  for (int32_t u = 0; u < num_users; ++u) {
    uint32_t* begin = g.order.data() + start[u];
    uint32_t* end = g.order.data() + start[u + 1];
    auto by_time = [ts](uint32_t a, uint32_t b) { return ts[a] < ts[b]; };
    if (!std::is_sorted(begin, end, by_time)) std::stable_sort(begin, end, by_time);
  }

  const int64_t cap = options.max_events_per_user;
  for (int32_t u = 0; u < num_users; ++u) {
    int64_t begin = start[u], end = start[u + 1];
    if (cap > 0 && end - begin > cap) {
      g.filtered_over_cap += end - begin - cap;
      begin = end - cap;  // keep the most recent events
    }
    if (end - begin < options.min_sequence_length) {
      g.filtered_short += end - begin;
      continue;
    }
    g.kept_users.push_back(u);
    g.slice_begin.push_back(begin);
    g.slice_end.push_back(end);
  }
  return g;
}

// ---- stage 3: token ids -----------------------------------------------------------------------

// Final token ids for one vocabulary: used provisional ids ordered by kept-event frequency
// (most frequent = 1), ties by first appearance. Unused ids (only in dropped users) get none.
// Returns the map provisional -> token (index provisional + 1, so -1 "none" maps to 0) and the
// raw strings by token id.
void assign_tokens(const std::vector<int32_t>& provisional_ids, const StringInterner& interner,
                   std::vector<int32_t>& token_of, std::vector<std::string>& raw_by_token) {
  const int32_t size = interner.size();
  std::vector<int64_t> count(static_cast<size_t>(size) + 1, 0);
  for (int32_t id : provisional_ids) ++count[id + 1];
  std::vector<int32_t> used;
  for (int32_t id = 0; id < size; ++id) {
    if (count[id + 1] > 0) used.push_back(id);
  }
  std::stable_sort(used.begin(), used.end(),
                   [&](int32_t a, int32_t b) { return count[a + 1] > count[b + 1]; });
  token_of.assign(static_cast<size_t>(size) + 1, 0);
  raw_by_token.assign(1, layout::kPadToken);
  raw_by_token.reserve(used.size() + 1);
  for (size_t t = 0; t < used.size(); ++t) {
    token_of[used[t] + 1] = static_cast<int32_t>(t + 1);
    raw_by_token.emplace_back(interner.at(used[t]));
  }
}

// Mean price of each item token over the rows that carried one (NaN where none did): what
// order values and coupon economics are computed from later.
void mean_item_prices(const ReadResult& read, const std::vector<int32_t>& token_of,
                      CorpusContents& c) {
  if (read.item_price_count.empty()) return;  // a source without prices: no table at all
  c.item_price.assign(c.item_raw.size(), std::numeric_limits<double>::quiet_NaN());
  for (size_t id = 0; id < read.item_price_count.size(); ++id) {
    const int32_t token = token_of[id + 1];
    if (token > 0 && read.item_price_count[id] > 0) {
      c.item_price[static_cast<size_t>(token)] =
          read.item_price_sum[id] / static_cast<double>(read.item_price_count[id]);
    }
  }
}

// The corpus's item features: feature tokens ordered by the number of kept items carrying them
// (most common = 1, ties by first appearance), so only features of kept items get one; and each
// item token's feature tokens, ascending, in CSR form over item tokens (padding has none).
// `item_token_of` maps provisional item ids (+ 1) to item tokens. Leaves `c` without item
// features when no kept item has any.
void build_item_features(const ReadResult& read, const std::vector<int32_t>& item_token_of,
                         CorpusContents& c) {
  CF_CHECK(read.item_feature_offsets.size() == static_cast<size_t>(read.items.size()) + 1,
           "item features recorded for every provisional item");
  const size_t item_tokens = c.item_raw.size();
  std::vector<int32_t> provisional_of_token(item_tokens, -1);
  for (int32_t id = 0; id < read.items.size(); ++id) {
    if (const int32_t token = item_token_of[id + 1]; token > 0) provisional_of_token[token] = id;
  }
  auto features_of = [&](size_t token) {
    const int32_t id = provisional_of_token[token];
    return std::pair(read.item_feature_ids.begin() + read.item_feature_offsets[id],
                     read.item_feature_ids.begin() + read.item_feature_offsets[id + 1]);
  };
  // One entry per (kept item, feature) pair, features being distinct within an item: the
  // occurrence counts assign_tokens orders by are then numbers of items carrying a feature.
  std::vector<int32_t> carried;
  for (size_t token = 1; token < item_tokens; ++token) {
    const auto [begin, end] = features_of(token);
    carried.insert(carried.end(), begin, end);
  }
  if (carried.empty()) return;
  std::vector<int32_t> feature_token_of;
  assign_tokens(carried, read.item_features, feature_token_of, c.item_feature_raw);
  c.item_feature_offsets.assign(2, 0);  // offsets[0] and the end of padding's empty list
  c.item_feature_offsets.reserve(item_tokens + 1);
  c.item_feature_ids.reserve(carried.size());
  for (size_t token = 1; token < item_tokens; ++token) {
    const auto [begin, end] = features_of(token);
    const size_t first = c.item_feature_ids.size();
    for (auto it = begin; it != end; ++it) c.item_feature_ids.push_back(feature_token_of[*it + 1]);
    std::sort(c.item_feature_ids.begin() + static_cast<std::ptrdiff_t>(first),
              c.item_feature_ids.end());
    c.item_feature_offsets.push_back(static_cast<int64_t>(c.item_feature_ids.size()));
  }
}

// Fails when a source's item table (an item-attributes file, given apart from its log) lists
// fewer than half of the corpus's items: then it is almost surely the table of another data
// set, whose ids meet this one's only by chance. A table of the right data set covers nearly
// every item (S3-Rec's cover all); half leaves room for partial catalogues.
void check_item_tables(const std::vector<std::unique_ptr<RawLogReader>>& readers,
                       const std::vector<std::string>& item_raw, const std::string& input_name) {
  const int64_t items = static_cast<int64_t>(item_raw.size()) - 1;
  for (const auto& reader : readers) {
    const std::string table = reader->checked_item_table();
    if (table.empty()) continue;
    int64_t listed = 0;
    for (size_t token = 1; token < item_raw.size(); ++token) {
      if (reader->item_table_lists(item_raw[token])) ++listed;
    }
    if (2 * listed < items) {
      throw UserError(table + ": only " + std::to_string(listed) + " of " + std::to_string(items) +
                      " items of " + input_name +
                      " appear in it (is it the attributes file of this data set?)");
    }
  }
}

void remap_in_place(std::vector<int32_t>& ids, const std::vector<int32_t>& token_of) {
  const int64_t n = static_cast<int64_t>(ids.size());
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) ids[i] = token_of[ids[i] + 1];
}

int64_t quantile_cutoff(const std::vector<int64_t>& timestamps, double q) {
  std::vector<int64_t> copy(timestamps);
  const size_t k = std::min(copy.size() - 1, static_cast<size_t>(std::floor(q * copy.size())));
  std::nth_element(copy.begin(), copy.begin() + static_cast<std::ptrdiff_t>(k), copy.end());
  return copy[k];
}

std::string joined_format_names(const std::vector<RawSourceSpec>& sources) {
  std::vector<std::string> names;
  for (const auto& s : sources) {
    std::string name = raw_format_name(s.format);
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ",") + name;
  return out;
}

// Copies one raw column into its corpus channel: each kept user's events in time order. The raw
// column is released as soon as it is copied, so the raw log and the corpus are never both
// whole in memory (this bounds prep's peak memory).
template <typename Raw, typename Kept>
void gather_channel(std::vector<Raw>& raw_column, const Grouping& g,
                    const std::vector<int64_t>& offsets, std::vector<Kept>& channel) {
  const int64_t num_sequences = static_cast<int64_t>(g.kept_users.size());
  channel.resize(static_cast<size_t>(offsets.back()));
#pragma omp parallel for schedule(dynamic, 1024)
  for (int64_t s = 0; s < num_sequences; ++s) {
    Kept* out = channel.data() + offsets[s];
    for (int64_t k = g.slice_begin[s]; k < g.slice_end[s]; ++k) *out++ = raw_column[g.order[k]];
  }
  release(raw_column);
}

// Moves each kept user's events, in time order, into the corpus channels (provisional ids),
// consuming the raw columns, and derives the time-gap channel from the kept timestamps.
void gather_events(RawColumns& raw, const Grouping& g, bool real_time, CorpusContents& c) {
  const int64_t num_sequences = static_cast<int64_t>(g.kept_users.size());
  c.offsets.assign(num_sequences + 1, 0);
  for (int64_t s = 0; s < num_sequences; ++s) {
    c.offsets[s + 1] = c.offsets[s] + (g.slice_end[s] - g.slice_begin[s]);
  }
  release(raw.user);  // grouping is done: the user column is not needed again
  gather_channel(raw.timestamp, g, c.offsets, c.timestamp);
  gather_channel(raw.item, g, c.offsets, c.item);
  gather_channel(raw.category, g, c.offsets, c.category);
  gather_channel(raw.activity, g, c.offsets, c.activity);
  gather_channel(raw.action, g, c.offsets, c.action);
  gather_channel(raw.purchase, g, c.offsets, c.purchase);
  c.time_gap.resize(c.timestamp.size());
#pragma omp parallel for schedule(dynamic, 1024)
  for (int64_t s = 0; s < num_sequences; ++s) {
    const int64_t begin = c.offsets[s], end = c.offsets[s + 1];
    if (begin == end) continue;
    c.time_gap[begin] = 1;  // the first event of a sequence
    for (int64_t e = begin + 1; e < end; ++e) {
      c.time_gap[e] = real_time ? time_gap_bucket_between(c.timestamp[e - 1], c.timestamp[e]) : 1;
    }
  }
}

// Pseudonyms, leave-one-out and time-split labels, time-split lengths, training item counts.
void build_sequence_tables(const Grouping& g, const StringInterner& users,
                           const std::string& user_key, int64_t cutoff, CorpusContents& c) {
  const int64_t num_sequences = static_cast<int64_t>(g.kept_users.size());
  c.user_keys.resize(num_sequences);
  c.label_loo.resize(num_sequences);
  c.label_time.resize(num_sequences);
  c.time_train_length.resize(num_sequences);
  const UserPseudonymizer pseudonym(user_key);
#pragma omp parallel for schedule(dynamic, 1024)
  for (int64_t s = 0; s < num_sequences; ++s) {
    c.user_keys[s] = pseudonym(users.at(g.kept_users[s]));
    const int64_t begin = c.offsets[s], end = c.offsets[s + 1];
    c.label_loo[s] = c.purchase[end - 1];
    // Events are time-ordered, so the part before the cutoff is a prefix.
    const int64_t train_end =
        std::lower_bound(c.timestamp.begin() + begin, c.timestamp.begin() + end, cutoff) -
        c.timestamp.begin();
    c.time_train_length[s] = static_cast<int32_t>(train_end - begin);
    int8_t later_purchase = 0;
    for (int64_t e = train_end; e < end; ++e) later_purchase |= c.purchase[e];
    c.label_time[s] = later_purchase;
  }
  c.item_count.assign(c.item_raw.size(), 0);
  for (int64_t s = 0; s < num_sequences; ++s) {
    const int64_t begin = c.offsets[s];
    const int32_t train =
        visible_length(static_cast<int32_t>(c.offsets[s + 1] - begin), Split::kTrain);
    for (int64_t e = begin; e < begin + train; ++e) ++c.item_count[c.item[e]];
  }
}

void fill_provenance(const PrepOptions& options, const PrepReport& report, CorpusProvenance& p) {
  p.created_by = options.created_by;
  p.source_format = joined_format_names(options.sources);
  p.source_files = report.source_files;
  p.prep_config_yaml = resolved_prep_yaml(options);
  p.rows_read = report.rows_read;
  p.rows_kept = report.rows_kept;
  p.rows_rejected = report.rows_rejected;
  p.rows_filtered = report.rows_filtered;
  p.rejects_by_reason = report.rejects_by_reason;
  p.side_table_rejects_by_reason = report.side_table_rejects_by_reason;
  p.filtered_by_reason = report.filtered_by_reason;
  p.user_key_source = options.user_key_source;
  for (const auto& s : options.sources) {
    for (const auto& column : s.personal_columns) {
      auto& dropped = p.dropped_personal_columns;
      if (std::find(dropped.begin(), dropped.end(), column) == dropped.end()) {
        dropped.push_back(column);
      }
    }
  }
  p.time_split_cutoff = report.time_split_cutoff;
  p.time_source = report.time_source;
}

}  // namespace

bool format_has_real_time(RawFormat format) {
  switch (format) {
    case RawFormat::kUserItem:
    case RawFormat::kUserItems:
      return false;
    default:
      return true;
  }
}

PrepReport run_prep_with(const PrepOptions& options, const RawLogOpener& open,
                         const PrepProgress& progress) {
  validate_options(options);
  PrepReport report;
  report.output_path = options.output_path;
  const std::string input_name = describe_inputs(options.sources);

  // Stage 1: read.
  auto t0 = Clock::now();
  RejectTally tally(options.max_reject_examples);
  ReadResult read;
  read_sources(options, open, progress, tally, read);
  RawColumns& raw = read.columns;
  report.source_files = read.source_files;
  report.rows_read = read.rows_read;
  report.rows_rejected = tally.total();
  report.rejects_by_reason = tally.by_reason();
  report.side_table_rejects_by_reason = tally.side_table_by_reason();
  report.reject_examples = tally.examples();
  report.users_seen = read.users.size();
  report.read_seconds = seconds_since(t0);

  if (raw.size() == 0) {
    throw UserError(input_name + ": no usable events" +
                    (tally.total() > 0 ? " (all " + std::to_string(tally.total()) +
                                             " rows rejected: " + reject_summary(tally) + ")"
                                       : ""));
  }
  // Readers count rejected rows as read (prep's own rejects are among them too). A row is a
  // line of the source: for user_items one line holds a whole history.
  const int64_t denominator = std::max<int64_t>(report.rows_read, tally.total());
  const double reject_fraction = static_cast<double>(tally.total()) / denominator;
  if (reject_fraction > options.max_reject_fraction) {
    throw UserError(input_name + ": " + format_percent(reject_fraction) +
                    " of rows rejected (limit " + format_percent(options.max_reject_fraction) +
                    "): " + reject_summary(tally));
  }
  CF_CHECK(raw.size() < (size_t{1} << 32), "more than 2^32 events in one prep");

  // Stage 2: group and order.
  auto t1 = Clock::now();
  Grouping g = group_by_user(raw, read.users.size(), options);
  report.rows_filtered = g.filtered_short + g.filtered_over_cap;
  if (g.filtered_short) report.filtered_by_reason.emplace_back("short_sequence", g.filtered_short);
  if (g.filtered_over_cap) {
    report.filtered_by_reason.emplace_back("over_max_events_per_user", g.filtered_over_cap);
  }
  if (g.kept_users.empty()) {
    throw UserError(input_name + ": no usable events (no user has at least " +
                    std::to_string(options.min_sequence_length) + " events)");
  }

  bool real_time = true;
  for (const auto& s : options.sources) real_time = real_time && format_has_real_time(s.format);
  report.time_source = real_time ? "timestamps" : "order";

  CorpusContents c;
  gather_events(raw, g, real_time, c);  // consumes the raw columns
  release(g.order);

  // Stage 3: vocabularies.
  std::vector<int32_t> token_of;
  assign_tokens(c.item, read.items, token_of, c.item_raw);
  check_item_tables(read.readers, c.item_raw, input_name);
  read.readers.clear();
  remap_in_place(c.item, token_of);
  mean_item_prices(read, token_of, c);
  build_item_features(read, token_of, c);
  assign_tokens(c.category, read.categories, token_of, c.category_raw);
  remap_in_place(c.category, token_of);
  assign_tokens(c.activity, read.activities, token_of, c.activity_raw);
  remap_in_place(c.activity, token_of);
  c.action_names = canonical_actions();

  // Stage 4: per-sequence tables, splits and statistics.
  const int64_t cutoff = options.time_split_cutoff
                             ? *options.time_split_cutoff
                             : quantile_cutoff(c.timestamp, options.time_split_quantile);
  build_sequence_tables(g, read.users, options.user_key, cutoff, c);

  report.rows_kept = c.num_events();
  report.sequences = c.num_sequences();
  report.items = static_cast<int64_t>(c.item_raw.size()) - 1;
  report.categories = static_cast<int64_t>(c.category_raw.size()) - 1;
  report.activities = static_cast<int64_t>(c.activity_raw.size()) - 1;
  if (!c.item_feature_raw.empty()) {
    report.item_features = static_cast<int64_t>(c.item_feature_raw.size()) - 1;
    for (size_t token = 1; token + 1 < c.item_feature_offsets.size(); ++token) {
      if (c.item_feature_offsets[token + 1] > c.item_feature_offsets[token]) {
        ++report.items_with_features;
      }
    }
  }
  report.time_split_cutoff = cutoff;
  report.build_seconds = seconds_since(t1);
  fill_provenance(options, report, c.provenance);

  // Stage 5: write (temporary name, renamed into place when complete).
  auto t2 = Clock::now();
  write_corpus(options.output_path, c);
  report.write_seconds = seconds_since(t2);
  return report;
}

}  // namespace cf::data
