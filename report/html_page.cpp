// A self-contained HTML report page: escaping, sections with a table of contents, tables,
// figures, and the inline stylesheet.
#include "report/html_page.h"

#include "core/error.h"

namespace cf::report {

namespace {

// One stylesheet for screen and print. System fonts only: the report must open offline and
// must not fetch anything.
constexpr const char* kStyle = R"CSS(
:root {
  --text: #1f2328; --muted: #59636e; --border: #d1d9e0; --zebra: #f6f8fa; --accent: #0072b2;
  --better-bg: #dcf3e4; --better-fg: #0b5c2b; --worse-bg: #fbe0dd; --worse-fg: #8a1c12;
  --note-bg: #fff8e1; --note-border: #e69f00;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0 auto; padding: 24px 20px 40px; max-width: 1100px; color: var(--text); background: #fff;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-size: 15px; line-height: 1.5;
}
header { border-bottom: 2px solid var(--border); margin-bottom: 20px; padding-bottom: 12px; }
h1 { font-size: 1.8em; margin: 0 0 4px; line-height: 1.25; }
.subtitle { color: var(--muted); margin: 0; }
h2 { font-size: 1.35em; margin: 36px 0 12px; padding-bottom: 4px; border-bottom: 1px solid var(--border); }
h3 { font-size: 1.1em; margin: 24px 0 8px; }
p { margin: 8px 0 12px; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
nav.toc { background: var(--zebra); border: 1px solid var(--border); border-radius: 6px; padding: 10px 18px; }
nav.toc h2 { font-size: 1em; margin: 0 0 4px; border: 0; padding: 0; }
nav.toc ol { margin: 0; padding-left: 22px; }
nav.toc li { margin: 2px 0; }
.note {
  background: var(--note-bg); border-left: 4px solid var(--note-border); border-radius: 4px;
  padding: 8px 14px; margin: 12px 0; font-size: 0.95em;
}
.table-wrap { overflow-x: auto; margin: 12px 0 16px; }
table { border-collapse: collapse; font-size: 0.92em; }
caption { caption-side: top; text-align: left; color: var(--muted); padding: 0 0 6px; font-size: 0.95em; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--border); text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid var(--border); background: #fff; white-space: nowrap; }
tbody tr:nth-child(even) { background: var(--zebra); }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.better { background: var(--better-bg); color: var(--better-fg); font-weight: 600; }
td.worse { background: var(--worse-bg); color: var(--worse-fg); font-weight: 600; }
table.kv th { font-weight: 600; padding-right: 24px; }
table.kv td { font-variant-numeric: tabular-nums; }
figure.chart-figure { margin: 16px 0; }
figure.chart-figure figcaption { color: var(--muted); font-size: 0.9em; margin-top: 4px; }
svg.chart { display: block; max-width: 100%; height: auto; }
.grid { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 8px 24px; }
@media (max-width: 800px) {
  .grid { grid-template-columns: minmax(0, 1fr); }
}
footer { margin-top: 40px; padding-top: 8px; border-top: 1px solid var(--border); color: var(--muted); font-size: 0.85em; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  a { color: inherit; }
  h2, h3 { break-after: avoid; }
  figure.chart-figure, table, .note { break-inside: avoid; }
  .table-wrap { overflow: visible; }
  td.better, td.worse { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
)CSS";

// The entity replacing a character that is special in content or in quoted attributes.
const char* entity_for(char c) {
  if (c == '&') return "&amp;";
  if (c == '<') return "&lt;";
  if (c == '>') return "&gt;";
  if (c == '"') return "&quot;";
  if (c == '\'') return "&#39;";
  return nullptr;
}

std::string highlight_class(int mark) {
  if (mark > 0) return "better";
  if (mark < 0) return "worse";
  return "";
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    if (const char* entity = entity_for(c)) {
      out += entity;
    } else {
      out += c;
    }
  }
  return out;
}

HtmlPage::HtmlPage(std::string title, std::string subtitle)
    : title_(std::move(title)), subtitle_(std::move(subtitle)) {}

std::string& HtmlPage::current_html() {
  if (section_open_) return parts_.back().html;
  // Loose content after a closed section (or before the first) keeps its place in the order.
  if (parts_.empty() || parts_.back().is_section) parts_.push_back(Part{});
  return parts_.back().html;
}

void HtmlPage::close_grid_if_open() {
  if (!grid_open_) return;
  current_html() += "</div>\n";
  grid_open_ = false;
}

void HtmlPage::begin_section(const std::string& id, const std::string& heading) {
  if (section_open_) end_section();
  close_grid_if_open();
  Part section;
  section.is_section = true;
  section.id = id;
  section.heading = heading;
  parts_.push_back(std::move(section));
  section_open_ = true;
}

void HtmlPage::end_section() {
  CF_CHECK(section_open_, "HtmlPage::end_section without an open section");
  close_grid_if_open();
  section_open_ = false;
}

void HtmlPage::subheading(const std::string& text) {
  current_html() += "<h3>" + html_escape(text) + "</h3>\n";
}

void HtmlPage::paragraph(const std::string& text) {
  current_html() += "<p>" + html_escape(text) + "</p>\n";
}

void HtmlPage::note(const std::string& text) {
  current_html() += "<aside class=\"note\">" + html_escape(text) + "</aside>\n";
}

void HtmlPage::raw_html(const std::string& html) {
  std::string& out = current_html();
  out += html;
  if (!html.empty() && html.back() != '\n') out += '\n';
}

void HtmlPage::key_values(const std::vector<std::pair<std::string, std::string>>& rows) {
  std::string out = "<div class=\"table-wrap\"><table class=\"kv\"><tbody>\n";
  for (const auto& [key, value] : rows) {
    out += "<tr><th scope=\"row\">" + html_escape(key) + "</th><td>" + html_escape(value) +
           "</td></tr>\n";
  }
  out += "</tbody></table></div>\n";
  current_html() += out;
}

void HtmlPage::table(const std::vector<std::string>& header,
                     const std::vector<std::vector<std::string>>& rows, const std::string& caption,
                     bool numeric_columns, const std::vector<std::vector<int>>& highlight) {
  CF_CHECK(highlight.empty() || highlight.size() == rows.size(),
           "HtmlPage::table: highlight must have one row per table row");
  for (size_t r = 0; r < highlight.size(); ++r) {
    CF_CHECK(highlight[r].size() == rows[r].size(),
             "HtmlPage::table: highlight row " + std::to_string(r) + " has " +
                 std::to_string(highlight[r].size()) + " cells, the table row " +
                 std::to_string(rows[r].size()));
  }
  auto cell_classes = [&](size_t column, int mark) {
    std::string classes;
    if (numeric_columns && column > 0) classes = "num";
    const std::string emphasis = highlight_class(mark);
    if (!emphasis.empty()) classes += (classes.empty() ? "" : " ") + emphasis;
    return classes.empty() ? std::string() : " class=\"" + classes + "\"";
  };

  std::string out = "<div class=\"table-wrap\"><table class=\"data\">\n";
  if (!caption.empty()) out += "<caption>" + html_escape(caption) + "</caption>\n";
  if (!header.empty()) {
    out += "<thead><tr>";
    for (size_t c = 0; c < header.size(); ++c) {
      out += "<th scope=\"col\"" + cell_classes(c, 0) + ">" + html_escape(header[c]) + "</th>";
    }
    out += "</tr></thead>\n";
  }
  out += "<tbody>\n";
  for (size_t r = 0; r < rows.size(); ++r) {
    out += "<tr>";
    for (size_t c = 0; c < rows[r].size(); ++c) {
      const int mark = highlight.empty() ? 0 : highlight[r][c];
      out += "<td" + cell_classes(c, mark) + ">" + html_escape(rows[r][c]) + "</td>";
    }
    out += "</tr>\n";
  }
  out += "</tbody></table></div>\n";
  current_html() += out;
}

void HtmlPage::figure(const std::string& svg, const std::string& caption) {
  std::string out = "<figure class=\"chart-figure\">\n" + svg;
  if (!svg.empty() && svg.back() != '\n') out += '\n';
  if (!caption.empty()) out += "<figcaption>" + html_escape(caption) + "</figcaption>\n";
  out += "</figure>\n";
  current_html() += out;
}

void HtmlPage::grid_begin() {
  CF_CHECK(!grid_open_, "HtmlPage::grid_begin: grids do not nest");
  current_html() += "<div class=\"grid\">\n";
  grid_open_ = true;
}

void HtmlPage::grid_end() {
  CF_CHECK(grid_open_, "HtmlPage::grid_end without grid_begin");
  close_grid_if_open();
}

std::string HtmlPage::finish() const {
  std::string out;
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += "<title>" + html_escape(title_) + "</title>\n";
  out += "<style>";
  out += kStyle;
  out += "</style>\n</head>\n<body>\n";

  out += "<header>\n<h1>" + html_escape(title_) + "</h1>\n";
  if (!subtitle_.empty()) out += "<p class=\"subtitle\">" + html_escape(subtitle_) + "</p>\n";
  out += "</header>\n";

  bool any_section = false;
  for (const Part& part : parts_) any_section = any_section || part.is_section;
  if (any_section) {
    out += "<nav class=\"toc\" aria-label=\"Contents\">\n<h2>Contents</h2>\n<ol>\n";
    for (const Part& part : parts_) {
      if (!part.is_section) continue;
      out += "<li><a href=\"#" + html_escape(part.id) + "\">" + html_escape(part.heading) +
             "</a></li>\n";
    }
    out += "</ol>\n</nav>\n";
  }

  out += "<main>\n";
  for (size_t i = 0; i < parts_.size(); ++i) {
    const Part& part = parts_[i];
    const bool is_last = i + 1 == parts_.size();
    // Only the last part can still hold an open grid or be an open section.
    const bool grid_left_open = is_last && grid_open_;
    if (part.is_section) {
      out += "<section id=\"" + html_escape(part.id) + "\">\n<h2>" + html_escape(part.heading) +
             "</h2>\n";
      out += part.html;
      if (grid_left_open) out += "</div>\n";
      out += "</section>\n";
    } else {
      out += part.html;
      if (grid_left_open) out += "</div>\n";
    }
  }
  out += "</main>\n";
  out += "<footer>generated by cartformer report</footer>\n</body>\n</html>\n";
  return out;
}

}  // namespace cf::report
