// A self-contained HTML report page (inline CSS, no scripts, no external resources) built up
// section by section, with a table of contents.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cf::report {

// Escapes & < > " ' so the text is safe both in element content and in quoted attributes.
std::string html_escape(std::string_view text);

class HtmlPage {
 public:
  explicit HtmlPage(std::string title, std::string subtitle = "");

  // <section id=...><h2>heading</h2>; listed in the table of contents in the order begun.
  // Sections do not nest: begin_section ends the open one. Ending a section ends its open grid.
  // Content added outside any section stays in place between the sections.
  void begin_section(const std::string& id, const std::string& heading);
  void end_section();  // CF_CHECK: a section is open

  void subheading(const std::string& text);  // <h3>
  void paragraph(const std::string& text);   // escaped text in <p>
  void note(const std::string& text);        // an aside / caveat box (escaped)
  void raw_html(const std::string& html);    // trusted markup (e.g. an <svg>)
  // A two-column table of names and values, both escaped.
  void key_values(const std::vector<std::pair<std::string, std::string>>& rows);
  // A data table. Cells are escaped text; columns after the first are right-aligned numbers
  // when numeric_columns is true. `highlight` (empty, or the same shape as rows) marks cells to
  // emphasise: 0 none, 1 better (green tint), -1 worse (red tint); another shape is a CF_CHECK.
  void table(const std::vector<std::string>& header,
             const std::vector<std::vector<std::string>>& rows, const std::string& caption = "",
             bool numeric_columns = true, const std::vector<std::vector<int>>& highlight = {});
  // <figure class="chart-figure"> with the (trusted) svg and an escaped <figcaption>.
  void figure(const std::string& svg, const std::string& caption);
  // Figures between these sit side by side (2 columns, 1 on narrow screens). Grids do not nest
  // (CF_CHECK).
  void grid_begin();
  void grid_end();

  // The whole document. Sections or grids still open are closed in the output.
  std::string finish() const;

 private:
  // The document body in order: sections and the loose content between them.
  struct Part {
    bool is_section = false;
    std::string id, heading;  // sections only
    std::string html;
  };
  std::string& current_html();  // where content goes now
  void close_grid_if_open();

  std::string title_, subtitle_;
  std::vector<Part> parts_;
  bool section_open_ = false;
  bool grid_open_ = false;
};

}  // namespace cf::report
