#include "report/copy_section.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "report/report_format.h"
#include "report/svg_chart.h"

namespace cf::report {

Json load_copy_evaluation(const std::string& path) {
  std::error_code ec;
  const std::string file =
      std::filesystem::is_directory(path, ec) ? path + "/copy_eval.json" : path;
  std::ifstream in(file, std::ios::binary);
  if (!in) throw UserError(file + ": cannot open (a copy evaluation: cartformer copy --evaluate)");
  std::stringstream buffer;
  buffer << in.rdbuf();
  const Json document = Json::parse(buffer.str(), nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded() || !document.is_object() ||
      text(document, "kind", "") != "copy_evaluation" || !document.contains("systems") ||
      !document["systems"].is_object() || !document.contains("human") ||
      !document.contains("samples") || !document["samples"].is_array())
    throw UserError(file + ": not a copy evaluation (cartformer copy --evaluate writes one)");
  for (const char* system : {"model", "retrieval", "ngram"})
    if (!document["systems"].contains(system) || !document["systems"][system].is_object())
      throw UserError(file + ": copy evaluation without the '" + std::string(system) + "' system");
  return document;
}

namespace {

// How many drafts a title's copy was chosen from and how. Since stop 31 every sample of the
// consensus order is a candidate (JSON with consensus_bleu_weight); before, the n-best were,
// measured against consensus_samples in all (absent, NaN, before stop 29).
std::string choice_note(const Json& d) {
  const double n_best = num(d, "n_best"), samples = num(d, "consensus_samples");
  const bool consensus = text(d, "order", "") == "consensus";
  const bool all_candidates = d.contains("consensus_bleu_weight");
  const double drawn = consensus && all_candidates && samples > n_best ? samples : n_best;
  if (!(drawn > 1)) return "";
  std::string note = "; of " + fixed(drawn, 0) + " drafts per title the ";
  if (!consensus) return note + "most likely";
  note += "one closest to the others";
  if (num(d, "evidence") > 0)
    note += " and to the texts of the " + text(d, "evidence") + " nearest training titles";
  if (!all_candidates && samples > n_best)
    note += ", measured against " + text(d, "consensus_samples") + " samples";
  return note;
}
std::string end_bias_note(const Json& d) {
  const double bias = num(d, "end_bias");
  return bias < 0 || bias > 0 ? "; end-of-text bias " + fixed(bias, 2) : std::string();
}
// After stop 31.
std::string consensus_weight_note(const Json& d) {
  const double w = num(d, "consensus_bleu_weight");
  return text(d, "order", "") == "consensus" && std::isfinite(w) && w != 0.5
             ? "; closeness weighs BLEU-4 " + fixed(w, 2) + " and ROUGE-L " + fixed(1 - w, 2)
             : std::string();
}
std::string retrieved_copy_note(const Json& d) {
  return num(d, "retrieved_copy") > 0
             ? "; runs of text taken over from the texts of the " + text(d, "retrieved_texts") +
                   " nearest training titles (weight " + fixed(num(d, "retrieved_copy"), 2) +
                   " at a long match)"
             : std::string();
}

}  // namespace

void copy_section(HtmlPage& page, const Json& e) {
  page.begin_section("copy", "Marketing copy");
  const Json& systems = e["systems"];
  const Json& human = e["human"];
  page.paragraph("Copy model " + text(e, "checkpoint") + " (step " + text(e, "step") + ") on the " +
                 text(e, "split") + " titles of " + text(e, "corpus") + " (" + text(e, "pairs") +
                 " pairs; no title of them was trained on). BLEU-4 and ROUGE-L on characters "
                 "against the one human description of each pair; distinct-n over all texts.");
  const Json& d = e.contains("decoding") ? e["decoding"] : Json::object();
  const bool greedy = d.value("greedy", false);
  page.paragraph("Decoding: " +
                 (greedy ? std::string("greedy")
                         : "temperature " + fixed(num(d, "temperature"), 2) + ", top-p " +
                               fixed(num(d, "top_p"), 2) + ", top-k " + text(d, "top_k") +
                               ", seed " + text(d, "seed")) +
                 "; no repeated " + text(d, "no_repeat_ngram") + "-grams" + choice_note(d) +
                 consensus_weight_note(d) + end_bias_note(d) + retrieved_copy_note(d) + ".");

  struct Row {
    const char* key;
    std::string name;
  };
  const std::vector<Row> rows = {
      {"model", "copy model"},
      {"retrieval", "retrieval (most similar training title's text)"},
      {"ngram", "character " + text(systems["ngram"], "order") + "-gram model (greedy)"}};
  std::vector<std::vector<std::string>> table;
  std::vector<std::vector<int>> highlight;
  const Json& model = systems["model"];
  for (const Row& r : rows) {
    const Json& s = systems[r.key];
    const double ppl = num(s, "perplexity");
    table.push_back({r.name, std::isfinite(ppl) ? fixed(ppl, 1) : "—", fixed(num(s, "bleu4")),
                     fixed(num(s, "rouge_l")), fixed(num(s, "distinct_1")),
                     fixed(num(s, "distinct_2")), fixed(num(s, "mean_length"), 1)});
    std::vector<int> marks(7, 0);
    if (std::string(r.key) == "model") {
      // Green where the model beats both baselines, red where it does not.
      auto beats = [&](const char* key, bool lower_is_better) {
        bool all = true;
        for (const char* base : {"retrieval", "ngram"}) {
          const double b = num(systems[base], key);
          if (!std::isfinite(b)) continue;  // a baseline without it (retrieval's perplexity)
          const double m = num(model, key);
          all = all && (lower_is_better ? m < b : m > b);
        }
        return all ? 1 : -1;
      };
      marks[1] = beats("perplexity", true);
      marks[2] = beats("bleu4", false);
      marks[3] = beats("rouge_l", false);
      marks[5] = num(model, "distinct_2") >= 0.8 * num(human, "distinct_2") ? 1 : -1;
    }
    highlight.push_back(marks);
  }
  table.push_back({"human descriptions", "—", "—", "—", fixed(num(human, "distinct_1")),
                   fixed(num(human, "distinct_2")), fixed(num(human, "mean_length"), 1)});
  highlight.push_back(std::vector<int>(7, 0));
  page.table({"system", "perplexity", "BLEU-4", "ROUGE-L", "distinct-1", "distinct-2", "length"},
             table,
             "Perplexity of the human descriptions (per character, with the end token). Green: "
             "the model beats both baselines (distinct-2: at least 80% of the human texts'); red: "
             "it does not.",
             true, highlight);
  if (model.contains("retrieved_copy_perplexity"))
    page.paragraph(
        "The model's perplexity above is the network's alone; under the distribution "
        "its drafts are drawn from (with the retrieved texts mixed in) it is " +
        fixed(num(model, "retrieved_copy_perplexity"), 1) + ".");

  if (e.contains("comparisons")) {
    // Paired bootstrap over the pairs: whether a difference is larger than the pairs' noise.
    std::vector<std::vector<std::string>> rows_diff;
    std::vector<std::vector<int>> marks_diff;
    const auto signed_fixed = [](double v) { return (v > 0 ? "+" : "") + fixed(v); };
    const auto cell = [&](const Json& c) {
      return signed_fixed(num(c, "difference")) + " [" + signed_fixed(num(c, "lower")) + ", " +
             signed_fixed(num(c, "upper")) + "]";
    };
    const auto mark = [](const Json& c) {
      if (!c.value("significant", false)) return 0;
      return num(c, "difference") > 0 ? 1 : -1;
    };
    for (const Row& r : rows) {
      if (std::string(r.key) == "model" || !e["comparisons"].contains(r.key)) continue;
      const Json& c = e["comparisons"][r.key];
      rows_diff.push_back({"copy model − " + r.name, cell(c["bleu4"]), cell(c["rouge_l"])});
      marks_diff.push_back({0, mark(c["bleu4"]), mark(c["rouge_l"])});
    }
    const Json& b = e.contains("bootstrap") ? e["bootstrap"] : Json::object();
    page.table({"comparison", "BLEU-4 difference", "ROUGE-L difference"}, rows_diff,
               "The model's score minus the baseline's on the same pairs, with the " +
                   fixed(100 * num(b, "level"), 0) + "% paired bootstrap interval (" +
                   text(b, "resamples") +
                   " resamples of the pairs). Green: the model is better beyond that noise; red: "
                   "worse; plain: the interval holds 0, no difference is shown.",
               true, marks_diff);
  }

  BarChartSpec chart;
  chart.title = "Overlap with the human description";
  chart.value_label = "score";
  chart.series_names = {"BLEU-4", "ROUGE-L"};
  chart.value_labels = true;
  for (const Row& r : rows)
    chart.groups.push_back(
        {r.key, {num(systems[r.key], "bleu4"), num(systems[r.key], "rouge_l")}, {}, {}});
  page.figure(bar_chart_svg(chart), "BLEU-4 and ROUGE-L of each system on the held-out titles.");

  page.subheading("Samples per segment and aspect");
  page.note(
      "Written for held-out titles, beside the description a person wrote. The copy model and "
      "the baselines learnt from a few thousand pairs: expect generic phrases, product details "
      "that the title does not support, and the odd broken clause; review copy before it goes "
      "out.");
  std::vector<std::vector<std::string>> samples;
  for (const Json& s : e["samples"]) {
    samples.push_back({text(s, "segment", "") + " / " + text(s, "aspect", ""), text(s, "title", ""),
                       text(s, "model", ""), text(s, "human", ""), text(s, "retrieval", "")});
  }
  page.table({"segment / aspect", "title", "copy model", "human", "retrieval"}, samples, "", false);
  page.end_section();
}

std::string render_copy_report_html(const Json& e) {
  HtmlPage page("Cartformer copy report",
                text(e, "corpus") + " · " + text(e, "pairs") + " held-out pairs");
  copy_section(page, e);
  return page.finish();
}

}  // namespace cf::report
