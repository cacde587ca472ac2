// Renders report.json documents (report_builder.h) as one self-contained HTML page: inline CSS
// and SVG charts, no scripts, nothing fetched from a network.
#pragma once
#include <string>

#include "core/json.h"

namespace cf::report {

std::string render_report_html(const Json& report);      // kind "report"
std::string render_comparison_html(const Json& report);  // kind "comparison"

}  // namespace cf::report
