// Self-contained inline SVG charts (line and bar) rendered as strings for the HTML reports.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace cf::report {

struct Axis {
  std::string label;
  bool log_scale = false;          // log10 axis (values <= 0 are skipped)
  std::optional<double> min, max;  // fixed range; otherwise a "nice" range from the data
  bool percent = false;            // tick labels as percentages (0.25 -> "25%")
};

struct Series {
  std::string name;            // legend entry
  std::vector<double> x, y;    // same length; NaN/inf points are skipped (the line breaks there)
  std::vector<double> lo, hi;  // optional (empty or same length as y): shaded band or error bars
  bool dashed = false;
  bool points = false;      // draw a marker at each point
  bool error_bars = false;  // lo/hi drawn as vertical whiskers instead of a shaded band
};

struct LineChartSpec {
  std::string title;  // rendered as <title> and as a heading text in the SVG
  Axis x, y;
  std::vector<Series> series;
  bool diagonal = false;  // dashed y = x reference line (ROC, reliability, gain charts)
  int width = 640, height = 360;
};

// Values outside a fixed axis range are clamped to the plot edge (no clip paths: they would need
// document-wide unique ids).
std::string line_chart_svg(const LineChartSpec& spec);

struct BarGroup {
  std::string label;           // category label on the axis
  std::vector<double> values;  // one per series (NaN = no bar)
  std::vector<double> lo, hi;  // optional error bars, same length as values
};

struct BarChartSpec {
  std::string title;
  std::string value_label;                // label of the value axis
  bool percent = false;                   // value ticks and labels as percentages
  std::vector<std::string> series_names;  // legend (one colour per series)
  std::vector<BarGroup> groups;
  bool horizontal = false;        // bars grow to the right, labels on the left (long labels)
  bool value_labels = false;      // print the value at the end of each bar
  int width = 640, height = 360;  // horizontal: height grows with the number of groups
};

std::string bar_chart_svg(const BarChartSpec& spec);

// ---- building blocks, public so they can be tested on their own ------------------------------

// A linear axis range widened to whole multiples of a 1/2/5 x 10^k step, with 4-8 ticks on it.
struct NiceScale {
  double lo = 0, hi = 1, step = 0.2;
  std::vector<double> ticks;  // lo, lo + step, ..., hi
};
// data_min == data_max (one value) gets a small range around the value; non-finite input -> 0..1.
NiceScale nice_scale(double data_min, double data_max);

// Tick positions for a log10 axis covering [data_min, data_max] (both > 0): decades (every
// 2nd/3rd/... one when every decade would make more than 8 ticks), plus 2x and 5x ticks when the
// range spans fewer than 3 decades. The first and last tick are the axis ends.
std::vector<double> log_ticks(double data_min, double data_max);

// A tick label: as many decimals as the tick step needs; "12k"-style above 10^4; percentages
// when asked (0.25 -> "25%").
std::string format_tick(double value, double step, bool percent);

}  // namespace cf::report
