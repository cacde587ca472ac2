// The report's copy section (issue 16): a copy evaluation (cartformer copy --evaluate,
// copy_eval.json) as the metrics table of the model beside its baselines, a chart of BLEU-4 and
// ROUGE-L, and sample outputs per segment and aspect beside the human text.
#pragma once
#include <string>

#include "core/json.h"
#include "report/html_page.h"

namespace cf::report {

// Reads a copy evaluation: `path` is copy_eval.json or the folder holding it. UserError naming
// the file when it is missing or not a copy evaluation.
Json load_copy_evaluation(const std::string& path);

void copy_section(HtmlPage& page, const Json& copy_evaluation);
// A page with the copy section alone (a report of a copy model without a behaviour model).
std::string render_copy_report_html(const Json& copy_evaluation);

}  // namespace cf::report
