// Line and bar charts as self-contained SVG strings: nice ticks, gridlines, legends, bands and
// error bars, no scripts and no external resources.
#include "report/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numbers>

#include "report/html_page.h"

namespace cf::report {

namespace {

// Okabe-Ito, without its yellow (too faint on white): distinguishable with colour-vision
// deficiencies and in greyscale print by lightness.
constexpr const char* kPalette[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                    "#CC79A7", "#56B4E9", "#000000"};
constexpr size_t kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);
constexpr const char* kFontFamily =
    "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";
constexpr const char* kGridColour = "#e3e6ea";
constexpr const char* kAxisColour = "#6b7280";
constexpr const char* kTickTextColour = "#4b5563";
constexpr const char* kTextColour = "#1f2328";

constexpr double kTitleFont = 15, kLabelFont = 12, kTickFont = 11, kLegendFont = 12,
                 kValueFont = 10.5;
constexpr double kTitleBaseline = 22;
constexpr double kLegendRowHeight = 18;
constexpr double kTickLength = 4;

const char* colour(size_t series) { return kPalette[series % kPaletteSize]; }

// Coordinates with at most 2 decimals, no trailing zeros, never "-0".
std::string num(double v) {
  if (!std::isfinite(v)) return "0";
  double rounded = std::round(v * 100.0) / 100.0;
  if (rounded == 0) rounded = 0;
  char buffer[48];
  std::snprintf(buffer, sizeof(buffer), "%.2f", rounded);
  std::string text(buffer);
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  return text;
}

// Number of code points, so width estimates and truncation treat UTF-8 labels fairly.
size_t utf8_length(const std::string& text) {
  size_t count = 0;
  for (char c : text) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

// Rough rendered width of sans-serif text; SVG cannot measure text without a script.
double text_width(const std::string& text, double font_size) {
  return 0.58 * font_size * static_cast<double>(utf8_length(text));
}

// Cuts a label to at most max_chars code points, marking the cut with an ellipsis.
std::string truncate_label(const std::string& text, size_t max_chars) {
  if (utf8_length(text) <= max_chars) return text;
  if (max_chars == 0) return "";
  size_t keep = max_chars - 1, seen = 0, byte = 0;
  for (; byte < text.size(); ++byte) {
    const bool starts_code_point = (static_cast<unsigned char>(text[byte]) & 0xC0) != 0x80;
    if (starts_code_point && seen++ == keep) break;
  }
  return text.substr(0, byte) + "\xE2\x80\xA6";
}

// The SVG document being written, with helpers for the few element kinds the charts use.
struct Svg {
  std::string out;

  void open(double width, double height, const std::string& title) {
    out += "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" role=\"img\" viewBox=\"0 0 " +
           num(width) + " " + num(height) + "\" width=\"" + num(width) + "\" height=\"" +
           num(height) + "\" font-family=\"" + kFontFamily + "\">\n";
    out += "<title>" + html_escape(title) + "</title>\n";
    if (!title.empty()) {
      // The visible heading is cut to the chart's width; <title> keeps it whole.
      const auto max_chars = static_cast<size_t>((width - 24) / (0.58 * kTitleFont));
      text(12, kTitleBaseline, truncate_label(title, max_chars), kTitleFont, "start", kTextColour,
           " class=\"chart-title\" font-weight=\"600\"");
    }
  }
  void close() { out += "</svg>\n"; }

  void line(double x1, double y1, double x2, double y2, const std::string& attributes) {
    out += "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" +
           num(y2) + "\"" + attributes + "/>\n";
  }
  // `tooltip`: the full label, shown on hover, when `content` had to be shortened.
  void text(double x, double y, const std::string& content, double font_size, const char* anchor,
            const char* fill, const std::string& attributes = "", const std::string& tooltip = "") {
    out += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" font-size=\"" + num(font_size) +
           "\" fill=\"" + fill + "\"";
    if (std::string(anchor) != "start") out += std::string(" text-anchor=\"") + anchor + "\"";
    out += attributes + ">";
    if (!tooltip.empty()) out += "<title>" + html_escape(tooltip) + "</title>";
    out += html_escape(content) + "</text>\n";
  }
  void no_data(double width, double height) {
    text(width / 2, height / 2, "no data", 14, "middle", kAxisColour, " class=\"no-data\"");
  }
};

// Data value <-> pixel along one axis; values outside the range are clamped to its ends.
struct AxisMap {
  bool log = false;
  double lo = 0, hi = 1;              // range in data units (log: both > 0)
  double pixel_lo = 0, pixel_hi = 1;  // pixel positions of lo and hi
  double step = 0.2;                  // tick step (linear), for labels
  bool percent = false;
  std::vector<double> ticks;

  bool accepts(double v) const { return std::isfinite(v) && (!log || v > 0); }
  double fraction(double v) const {
    const double t = log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo))
                         : (v - lo) / (hi - lo);
    return std::clamp(t, 0.0, 1.0);
  }
  double pixel(double v) const { return pixel_lo + fraction(v) * (pixel_hi - pixel_lo); }
  std::string label(double tick) const {
    if (!log) return format_tick(tick, step, percent);
    const double decade = std::pow(10.0, std::floor(std::log10(tick) + 1e-9));
    return format_tick(tick, decade, percent);
  }
};

// count x 10^exponent as the double nearest the decimal number: dividing by an exact power of
// ten rounds once, so 3 x 10^-1 is the same double as the literal 0.3 (3 * 0.1 is not).
double decimal(double count, int exponent) {
  const double value =
      exponent >= 0 ? count * std::pow(10.0, exponent) : count / std::pow(10.0, -exponent);
  return value == 0 ? 0.0 : value;  // no -0
}

int decimal_exponent(double step) { return static_cast<int>(std::floor(std::log10(step) + 1e-9)); }

// Linear ticks, whole multiples of `step` (1, 2 or 5 x 10^k), that fall inside [lo, hi].
std::vector<double> ticks_within(double lo, double hi, double step) {
  const int exponent = decimal_exponent(step);
  const double multiplier = std::round(step / std::pow(10.0, exponent));
  std::vector<double> ticks;
  const double first = std::ceil(lo / step - 1e-9), last = std::floor(hi / step + 1e-9);
  for (double k = first; k <= last; ++k) ticks.push_back(decimal(k * multiplier, exponent));
  return ticks;
}

// The range and ticks of an axis from the finite data values it shows and its fixed bounds.
AxisMap make_axis(const Axis& axis, std::vector<double> values) {
  AxisMap map;
  map.log = axis.log_scale;
  map.percent = axis.percent;
  std::erase_if(values, [&](double v) { return !map.accepts(v); });
  // Plain flags rather than std::optional here: GCC's -Wmaybe-uninitialized misfires on
  // optionals copied and reset in one function at some optimisation levels.
  double fixed_min = axis.min.value_or(0), fixed_max = axis.max.value_or(0);
  bool has_min = axis.min.has_value() && map.accepts(fixed_min);
  bool has_max = axis.max.has_value() && map.accepts(fixed_max);
  if (has_min && has_max && fixed_min >= fixed_max) has_min = has_max = false;

  double data_lo = map.log ? 1 : 0, data_hi = map.log ? 10 : 0;
  if (!values.empty()) {
    const auto [low, high] = std::minmax_element(values.begin(), values.end());
    data_lo = *low;
    data_hi = *high;
  }
  if (has_min) data_lo = fixed_min, data_hi = std::max(data_hi, fixed_min);
  if (has_max) data_hi = fixed_max, data_lo = std::min(data_lo, fixed_max);

  if (map.log) {
    const std::vector<double> decade_ticks = log_ticks(data_lo, data_hi);
    map.lo = has_min ? fixed_min : decade_ticks.front();
    map.hi = has_max ? fixed_max : decade_ticks.back();
    if (!(map.hi > map.lo)) map.hi = map.lo * 10;
    for (double t : decade_ticks) {
      if (t >= map.lo * (1 - 1e-9) && t <= map.hi * (1 + 1e-9)) map.ticks.push_back(t);
    }
    return map;
  }
  const NiceScale scale = nice_scale(data_lo, data_hi);
  map.step = scale.step;
  map.lo = has_min ? fixed_min : scale.lo;
  map.hi = has_max ? fixed_max : scale.hi;
  if (!(map.hi > map.lo)) map.hi = map.lo + scale.step;
  map.ticks = ticks_within(map.lo, map.hi, map.step);
  return map;
}

struct LegendEntry {
  std::string name;
  const char* colour;
  bool dashed = false, marker = false, bar = false;
};

// Legend entries flow left to right in rows under the title.
struct LegendLayout {
  std::vector<double> x, baseline;  // per entry
  int rows = 0;
};

LegendLayout layout_legend(const std::vector<LegendEntry>& entries, double width, bool has_title) {
  LegendLayout layout;
  double x = 12, baseline = (has_title ? kTitleBaseline + 14 : 12) + 12;
  for (const LegendEntry& entry : entries) {
    const double entry_width = 30 + text_width(entry.name, kLegendFont) + 16;
    if (x + entry_width > width - 12 && x > 12) x = 12, baseline += kLegendRowHeight;
    if (layout.rows == 0 || baseline > layout.baseline.back()) ++layout.rows;
    layout.x.push_back(x);
    layout.baseline.push_back(baseline);
    x += entry_width;
  }
  return layout;
}

void draw_legend(Svg& svg, const std::vector<LegendEntry>& entries, const LegendLayout& layout) {
  if (entries.empty()) return;
  svg.out += "<g class=\"legend\">\n";
  for (size_t i = 0; i < entries.size(); ++i) {
    const LegendEntry& entry = entries[i];
    const double x = layout.x[i], y = layout.baseline[i], mid = y - 4;
    if (entry.bar) {
      svg.out += "<rect class=\"swatch\" x=\"" + num(x + 6) + "\" y=\"" + num(mid - 6) +
                 "\" width=\"12\" height=\"12\" rx=\"2\" fill=\"" + entry.colour + "\"/>\n";
    } else {
      svg.line(x, mid, x + 24, mid,
               std::string(" stroke=\"") + entry.colour + "\" stroke-width=\"2.5\"" +
                   (entry.dashed ? " stroke-dasharray=\"6 4\"" : ""));
      if (entry.marker) {
        svg.out += "<circle cx=\"" + num(x + 12) + "\" cy=\"" + num(mid) + "\" r=\"3.5\" fill=\"" +
                   entry.colour + "\"/>\n";
      }
    }
    svg.text(x + 30, y, entry.name, kLegendFont, "start", kTextColour);
  }
  svg.out += "</g>\n";
}

// Top of the plot area below the title and legend.
double plot_top(bool has_title, int rows) {
  double top = has_title ? kTitleBaseline + 14 : 12;
  if (rows > 0) top += rows * kLegendRowHeight + 4;
  return top + 6;
}

double max_label_width(const std::vector<std::string>& labels, double font_size) {
  double widest = 0;
  for (const std::string& label : labels) widest = std::max(widest, text_width(label, font_size));
  return widest;
}

// Gridlines, axis lines, ticks and tick labels for a horizontal (x) and vertical (y) axis.
void draw_axes(Svg& svg, const AxisMap& x, const AxisMap& y, double left, double right, double top,
               double bottom) {
  svg.out += std::string("<g class=\"grid\" stroke=\"") + kGridColour + "\" stroke-width=\"1\">\n";
  for (double t : x.ticks) svg.line(x.pixel(t), top, x.pixel(t), bottom, "");
  for (double t : y.ticks) svg.line(left, y.pixel(t), right, y.pixel(t), "");
  svg.out += "</g>\n";
  svg.out += std::string("<g class=\"axis\" stroke=\"") + kAxisColour + "\" stroke-width=\"1\">\n";
  svg.line(left, bottom, right, bottom, "");
  svg.line(left, top, left, bottom, "");
  for (double t : x.ticks) svg.line(x.pixel(t), bottom, x.pixel(t), bottom + kTickLength, "");
  for (double t : y.ticks) svg.line(left - kTickLength, y.pixel(t), left, y.pixel(t), "");
  svg.out += "</g>\n";
  svg.out += "<g class=\"tick-labels\">\n";
  for (double t : x.ticks) {
    svg.text(x.pixel(t), bottom + kTickLength + 13, x.label(t), kTickFont, "middle",
             kTickTextColour);
  }
  for (double t : y.ticks) {
    svg.text(left - kTickLength - 4, y.pixel(t) + 4, y.label(t), kTickFont, "end", kTickTextColour);
  }
  svg.out += "</g>\n";
}

// `left`: the plot's left edge; the label sits just left of the widest tick label.
void draw_y_label(Svg& svg, const std::string& label, double left, double tick_label_width,
                  double top, double bottom) {
  if (label.empty()) return;
  const double x = std::max(16.0, left - tick_label_width - kTickLength - 22);
  const double y = (top + bottom) / 2;
  svg.text(x, y, label, kLabelFont, "middle", kTextColour,
           " class=\"axis-label\" transform=\"rotate(-90 " + num(x) + " " + num(y) + ")\"");
}

void draw_x_label(Svg& svg, const std::string& label, double left, double right, double y) {
  if (label.empty()) return;
  svg.text((left + right) / 2, y, label, kLabelFont, "middle", kTextColour,
           " class=\"axis-label\"");
}

// Indices of the runs of consecutive points that `usable` accepts (gaps split the runs).
template <typename Usable>
std::vector<std::vector<size_t>> runs_of(size_t count, Usable usable) {
  std::vector<std::vector<size_t>> runs;
  std::vector<size_t> run;
  for (size_t i = 0; i < count; ++i) {
    if (usable(i)) {
      run.push_back(i);
    } else if (!run.empty()) {
      runs.push_back(std::move(run));
      run.clear();
    }
  }
  if (!run.empty()) runs.push_back(std::move(run));
  return runs;
}

bool has_interval(const std::vector<double>& lo, const std::vector<double>& hi, size_t n) {
  return lo.size() == n && hi.size() == n && n > 0;
}

void draw_error_bar(Svg& svg, double center, double from, double to, bool vertical,
                    const char* stroke) {
  const std::string attributes =
      std::string(" class=\"err\" stroke=\"") + stroke + "\" stroke-width=\"1.5\"";
  constexpr double kCap = 4;
  if (vertical) {
    svg.line(center, from, center, to, attributes);
    svg.line(center - kCap, from, center + kCap, from, attributes);
    svg.line(center - kCap, to, center + kCap, to, attributes);
  } else {
    svg.line(from, center, to, center, attributes);
    svg.line(from, center - kCap, from, center + kCap, attributes);
    svg.line(to, center - kCap, to, center + kCap, attributes);
  }
}

void draw_diagonal(Svg& svg, const AxisMap& x, const AxisMap& y) {
  const double lo = std::max(x.lo, y.lo), hi = std::min(x.hi, y.hi);
  if (!(lo < hi)) return;
  const std::string style = std::string(" class=\"reference\" fill=\"none\" stroke=\"") +
                            kAxisColour + "\" stroke-width=\"1.2\" stroke-dasharray=\"5 5\"";
  if (x.log == y.log) {
    svg.line(x.pixel(lo), y.pixel(lo), x.pixel(hi), y.pixel(hi), style);
    return;
  }
  // y = x bends when only one axis is logarithmic: sample it.
  constexpr int kSamples = 64;
  std::string d;
  for (int i = 0; i <= kSamples; ++i) {
    const double t = static_cast<double>(i) / kSamples;
    const double v = x.log ? std::pow(10.0, std::log10(lo) + t * (std::log10(hi) - std::log10(lo)))
                           : lo + t * (hi - lo);
    if (!y.accepts(v)) continue;
    d += (d.empty() ? "M" : " L") + num(x.pixel(v)) + " " + num(y.pixel(v));
  }
  if (!d.empty()) svg.out += "<path d=\"" + d + "\"" + style + "/>\n";
}

}  // namespace

// ---- ticks and labels --------------------------------------------------------------------------

NiceScale nice_scale(double data_min, double data_max) {
  if (!std::isfinite(data_min) || !std::isfinite(data_max)) data_min = 0, data_max = 1;
  if (data_min > data_max) std::swap(data_min, data_max);
  const double magnitude = std::max(std::abs(data_min), std::abs(data_max));
  if (data_max - data_min <= 1e-12 * magnitude) {
    // One value: a window around it (or 0..1 around zero) rather than a zero-width axis.
    const double pad = magnitude > 0 ? magnitude * 0.1 : 0.5;
    data_min -= pad;
    data_max += pad;
    if (magnitude == 0) data_min = 0, data_max = 1;
  }
  NiceScale scale;
  const double span = data_max - data_min;
  const int first_exponent = static_cast<int>(std::floor(std::log10(span))) - 1;
  constexpr double kMultipliers[] = {1, 2, 5};
  for (int exponent = first_exponent; exponent < first_exponent + 4; ++exponent) {
    for (double multiplier : kMultipliers) {
      const double step = decimal(multiplier, exponent);
      // The tolerance keeps 0.3 / 0.1 = 2.9999... from adding a spurious interval.
      const double first = std::floor(data_min / step + 1e-9);
      const double last = std::ceil(data_max / step - 1e-9);
      if (last - first + 1 > 8) continue;
      scale.step = step;
      scale.lo = decimal(first * multiplier, exponent);
      scale.hi = decimal(last * multiplier, exponent);
      for (double k = first; k <= last; ++k) {
        scale.ticks.push_back(decimal(k * multiplier, exponent));
      }
      return scale;
    }
  }
  scale.ticks = {scale.lo, scale.hi};  // unreachable: a step of 10^(e+2) always fits
  return scale;
}

std::vector<double> log_ticks(double data_min, double data_max) {
  if (!(data_min > 0) || !std::isfinite(data_min)) data_min = 1;
  if (!(data_max > 0) || !std::isfinite(data_max)) data_max = data_min * 10;
  if (data_min > data_max) std::swap(data_min, data_max);
  const int low = static_cast<int>(std::floor(std::log10(data_min) + 1e-9));
  int high = static_cast<int>(std::ceil(std::log10(data_max) - 1e-9));
  if (high <= low) high = low + 1;
  const int decades = high - low;
  std::vector<double> ticks;
  if (decades < 3) {
    // Too few decades to read values off: add the 2x and 5x ticks.
    for (int e = low; e < high; ++e) {
      for (double multiplier : {1.0, 2.0, 5.0}) ticks.push_back(decimal(multiplier, e));
    }
    ticks.push_back(decimal(1, high));
    return ticks;
  }
  const int stride = (decades + 6) / 7;  // every stride-th decade: at most 7 intervals
  const int last = low + stride * ((decades + stride - 1) / stride);
  for (int e = low; e <= last; e += stride) ticks.push_back(decimal(1, e));
  return ticks;
}

std::string format_tick(double value, double step, bool percent) {
  if (percent) value *= 100, step *= 100;
  if (!(step > 0) || !std::isfinite(step)) step = std::abs(value) > 0 ? std::abs(value) : 1;
  const char* suffix = percent ? "%" : "";
  // Zero reads best bare ("0", not "0.00"), also when it is rounding residue like -1e-17.
  if (std::abs(value) < step * 1e-6) return std::string("0") + suffix;
  // 12000 -> "12k" when the ticks are thousands apart: shorter labels, same information.
  struct Unit {
    double size, min_value;
    const char* suffix;
  };
  constexpr Unit kUnits[] = {{1e9, 0, "G"}, {1e6, 0, "M"}, {1e3, 1e4, "k"}};
  double unit = 1;
  for (const Unit& candidate : kUnits) {
    if (percent || step < candidate.size || std::abs(value) < candidate.min_value) continue;
    unit = candidate.size;
    suffix = candidate.suffix;
    break;
  }
  const double shown = value / unit, shown_step = step / unit;
  const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(shown_step) - 1e-9)));
  char buffer[64];
  if (decimals > 6) {
    std::snprintf(buffer, sizeof(buffer), "%.3g%s", shown, suffix);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%.*f%s", decimals, shown, suffix);
  }
  std::string text(buffer);
  // A small value rounded to "-0.00" reads as a sign error: show it unsigned.
  if (text[0] == '-' && text.find_first_not_of("-0.%kMG") == std::string::npos) text.erase(0, 1);
  return text;
}

// ---- line chart --------------------------------------------------------------------------------

namespace {

// Shaded lo..hi bands, one closed path per run of points where both ends are drawable.
void draw_bands(Svg& svg, const std::vector<Series>& all, const AxisMap& x, const AxisMap& y) {
  for (size_t s = 0; s < all.size(); ++s) {
    const Series& series = all[s];
    if (series.error_bars || !has_interval(series.lo, series.hi, series.y.size())) continue;
    const size_t n = std::min(series.x.size(), series.y.size());
    const auto runs = runs_of(n, [&](size_t i) {
      return x.accepts(series.x[i]) && y.accepts(series.lo[i]) && y.accepts(series.hi[i]);
    });
    for (const auto& run : runs) {
      std::string d;
      for (size_t i : run) {
        d +=
            (d.empty() ? "M" : " L") + num(x.pixel(series.x[i])) + " " + num(y.pixel(series.hi[i]));
      }
      for (auto it = run.rbegin(); it != run.rend(); ++it) {
        d += " L" + num(x.pixel(series.x[*it])) + " " + num(y.pixel(series.lo[*it]));
      }
      svg.out += "<path class=\"band\" d=\"" + d + " Z\" fill=\"" + colour(s) +
                 "\" fill-opacity=\"0.18\" stroke=\"none\"/>\n";
    }
  }
}

// One path per series; each gap (a point the axes cannot show) starts a new subpath.
void draw_lines(Svg& svg, const std::vector<Series>& all, const AxisMap& x, const AxisMap& y,
                const std::string& chart_title) {
  for (size_t s = 0; s < all.size(); ++s) {
    const Series& series = all[s];
    const size_t n = std::min(series.x.size(), series.y.size());
    const auto runs =
        runs_of(n, [&](size_t i) { return x.accepts(series.x[i]) && y.accepts(series.y[i]); });
    if (runs.empty()) continue;
    std::string d;
    for (const auto& run : runs) {
      for (size_t k = 0; k < run.size(); ++k) {
        d += (d.empty() ? "" : " ") + std::string(k == 0 ? "M" : "L") +
             num(x.pixel(series.x[run[k]])) + " " + num(y.pixel(series.y[run[k]]));
      }
    }
    const std::string& tooltip = series.name.empty() ? chart_title : series.name;
    svg.out += "<path class=\"series\" d=\"" + d + "\" fill=\"none\" stroke=\"" + colour(s) +
               "\" stroke-width=\"2\" stroke-linejoin=\"round\" stroke-linecap=\"round\"" +
               (series.dashed ? " stroke-dasharray=\"6 4\"" : "") + "><title>" +
               html_escape(tooltip) + "</title></path>\n";
    if (series.points) continue;  // every point gets a marker later anyway
    for (const auto& run : runs) {
      // A point with no neighbour draws no line segment: mark it so it is not lost.
      if (run.size() != 1) continue;
      svg.out += "<circle class=\"marker\" cx=\"" + num(x.pixel(series.x[run[0]])) + "\" cy=\"" +
                 num(y.pixel(series.y[run[0]])) + "\" r=\"3\" fill=\"" + colour(s) + "\"/>\n";
    }
  }
}

void draw_markers_and_whiskers(Svg& svg, const std::vector<Series>& all, const AxisMap& x,
                               const AxisMap& y) {
  for (size_t s = 0; s < all.size(); ++s) {
    const Series& series = all[s];
    const size_t n = std::min(series.x.size(), series.y.size());
    const bool whiskers = series.error_bars && has_interval(series.lo, series.hi, series.y.size());
    for (size_t i = 0; i < n; ++i) {
      if (!x.accepts(series.x[i]) || !y.accepts(series.y[i])) continue;
      const double px = x.pixel(series.x[i]);
      if (whiskers && y.accepts(series.lo[i]) && y.accepts(series.hi[i])) {
        draw_error_bar(svg, px, y.pixel(series.lo[i]), y.pixel(series.hi[i]), true, colour(s));
      }
      if (series.points) {
        svg.out += "<circle class=\"marker\" cx=\"" + num(px) + "\" cy=\"" +
                   num(y.pixel(series.y[i])) + "\" r=\"3.5\" fill=\"" + colour(s) +
                   "\" stroke=\"#fff\" stroke-width=\"1\"/>\n";
      }
    }
  }
}

}  // namespace

std::string line_chart_svg(const LineChartSpec& spec) {
  const double width = std::max(spec.width, 240), height = std::max(spec.height, 160);
  Svg svg;
  svg.open(width, height, spec.title);

  // The axes cover every point that both axes can show, with its band or whisker ends.
  AxisMap x_domain, y_domain;
  x_domain.log = spec.x.log_scale;
  y_domain.log = spec.y.log_scale;
  std::vector<double> xs, ys;
  for (const Series& series : spec.series) {
    const size_t n = std::min(series.x.size(), series.y.size());
    const bool interval = has_interval(series.lo, series.hi, series.y.size());
    for (size_t i = 0; i < n; ++i) {
      if (!x_domain.accepts(series.x[i]) || !y_domain.accepts(series.y[i])) continue;
      xs.push_back(series.x[i]);
      ys.push_back(series.y[i]);
      if (interval) ys.push_back(series.lo[i]), ys.push_back(series.hi[i]);
    }
  }
  if (xs.empty()) {
    svg.no_data(width, height);
    svg.close();
    return svg.out;
  }
  AxisMap x = make_axis(spec.x, xs);
  AxisMap y = make_axis(spec.y, ys);

  std::vector<LegendEntry> legend;
  if (spec.series.size() > 1) {
    for (size_t s = 0; s < spec.series.size(); ++s) {
      const Series& series = spec.series[s];
      legend.push_back({series.name, colour(s), series.dashed, series.points, false});
    }
  }
  const LegendLayout legend_layout = layout_legend(legend, width, !spec.title.empty());

  std::vector<std::string> y_labels;
  for (double t : y.ticks) y_labels.push_back(y.label(t));
  const double y_label_width = max_label_width(y_labels, kTickFont);
  const double left = (spec.y.label.empty() ? 12 : 30) + y_label_width + kTickLength + 8;
  // Room for half of the last x tick label, which is centred on the right edge.
  const std::string last_x_label = x.ticks.empty() ? "" : x.label(x.ticks.back());
  const double right = width - std::max(16.0, text_width(last_x_label, kTickFont) / 2 + 6);
  const double top = plot_top(!spec.title.empty(), legend_layout.rows);
  const double bottom = height - (spec.x.label.empty() ? 26 : 44);
  x.pixel_lo = left, x.pixel_hi = right;
  y.pixel_lo = bottom, y.pixel_hi = top;

  draw_legend(svg, legend, legend_layout);
  draw_axes(svg, x, y, left, right, top, bottom);
  draw_y_label(svg, spec.y.label, left, y_label_width, top, bottom);
  draw_x_label(svg, spec.x.label, left, right, height - 10);
  if (spec.diagonal) draw_diagonal(svg, x, y);
  // Bands under every line, markers and whiskers over them.
  draw_bands(svg, spec.series, x, y);
  draw_lines(svg, spec.series, x, y, spec.title);
  draw_markers_and_whiskers(svg, spec.series, x, y);
  svg.close();
  return svg.out;
}

// ---- bar chart ---------------------------------------------------------------------------------

namespace {

constexpr const char* kWhiskerColour = "#333333";

// What the horizontal and vertical layouts share.
struct BarFrame {
  explicit BarFrame(const BarChartSpec& chart) : spec(chart) {}

  const BarChartSpec& spec;
  size_t series_count = 1;
  AxisMap value;
  double label_step = 0.02;  // value labels show one decimal more than the ticks
  std::vector<std::string> tick_labels;
  double width = 0, height = 0, top = 0;

  bool has_interval_at(const BarGroup& group, size_t s) const {
    return has_interval(group.lo, group.hi, group.values.size()) && std::isfinite(group.lo[s]) &&
           std::isfinite(group.hi[s]);
  }
  std::string value_text(double v) const { return format_tick(v, label_step, spec.percent); }

  void bar(Svg& svg, double x, double y, double w, double h, const BarGroup& group, size_t s,
           double v) const {
    std::string tooltip = group.label;
    if (series_count > 1 && s < spec.series_names.size()) {
      tooltip += " \xC2\xB7 " + spec.series_names[s];
    }
    tooltip += ": " + value_text(v);
    svg.out += "<rect class=\"bar\" x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) +
               "\" height=\"" + num(h) + "\" fill=\"" + colour(s) + "\"><title>" +
               html_escape(tooltip) + "</title></rect>\n";
  }
};

// Bars grow to the right from 0; category labels on the left, value axis at the bottom.
void draw_horizontal_bars(Svg& svg, BarFrame& frame, double bottom_margin) {
  const BarChartSpec& spec = frame.spec;
  const size_t group_count = spec.groups.size();
  std::vector<std::string> category_labels;
  for (const BarGroup& group : spec.groups) category_labels.push_back(group.label);
  const double label_space =
      std::min(max_label_width(category_labels, kLabelFont), frame.width * 0.4);
  const auto max_chars = static_cast<size_t>(label_space / (0.58 * kLabelFont));

  double largest = 0;
  for (const BarGroup& group : spec.groups) {
    for (double v : group.values) largest = std::isfinite(v) ? std::max(largest, v) : largest;
  }
  const double right_margin = spec.value_labels
                                  ? text_width(frame.value_text(largest), kValueFont) + 10
                                  : text_width(frame.tick_labels.back(), kTickFont) / 2 + 6;
  const double left = 12 + label_space + 10, right = frame.width - std::max(16.0, right_margin);
  const double top = frame.top, bottom = frame.height - bottom_margin;
  frame.value.pixel_lo = left, frame.value.pixel_hi = right;

  AxisMap categories;  // no ticks: the groups are labelled one by one below
  categories.pixel_lo = bottom, categories.pixel_hi = top;
  draw_axes(svg, frame.value, categories, left, right, top, bottom);
  draw_x_label(svg, spec.value_label, left, right, frame.height - 10);

  const double row = (bottom - top) / static_cast<double>(group_count);
  const double thickness = row * 0.75 / static_cast<double>(frame.series_count);
  svg.out += "<g class=\"category-labels\">\n";
  for (size_t g = 0; g < group_count; ++g) {
    const std::string& label = spec.groups[g].label;
    const std::string shown = truncate_label(label, max_chars);
    svg.text(left - 8, top + row * (static_cast<double>(g) + 0.5) + 4, shown, kLabelFont, "end",
             kTextColour, "", shown == label ? "" : label);
  }
  svg.out += "</g>\n";

  const double zero = frame.value.pixel(0);
  for (size_t g = 0; g < group_count; ++g) {
    const BarGroup& group = spec.groups[g];
    const double row_start = top + row * static_cast<double>(g) + row * 0.125;
    for (size_t s = 0; s < group.values.size(); ++s) {
      const double v = group.values[s];
      if (!std::isfinite(v)) continue;
      const double y = row_start + thickness * static_cast<double>(s);
      const double end = frame.value.pixel(v);
      frame.bar(svg, std::min(zero, end), y, std::abs(end - zero), thickness * 0.9, group, s, v);
      const double center = y + thickness * 0.45;
      double label_at = end;
      if (frame.has_interval_at(group, s)) {
        const double lo = frame.value.pixel(group.lo[s]), hi = frame.value.pixel(group.hi[s]);
        draw_error_bar(svg, center, lo, hi, false, kWhiskerColour);
        label_at = v >= 0 ? std::max(end, hi) : std::min(end, lo);  // past the whisker
      }
      if (spec.value_labels) {
        svg.text(label_at + (v >= 0 ? 5 : -5), center + 4, frame.value_text(v), kValueFont,
                 v >= 0 ? "start" : "end", kTextColour, " class=\"value-label\"");
      }
    }
  }
  svg.line(zero, top, zero, bottom,
           std::string(" class=\"baseline\" stroke=\"") + kAxisColour + "\" stroke-width=\"1\"");
}

// Bars grow up from 0; category labels under the groups, rotated when they do not fit.
void draw_vertical_bars(Svg& svg, BarFrame& frame, double bottom_margin) {
  const BarChartSpec& spec = frame.spec;
  const size_t group_count = spec.groups.size();
  std::vector<std::string> category_labels;
  for (const BarGroup& group : spec.groups) category_labels.push_back(group.label);

  const double tick_label_width = max_label_width(frame.tick_labels, kTickFont);
  double left = (spec.value_label.empty() ? 12 : 30) + tick_label_width + kTickLength + 8;
  const double right = frame.width - 16;
  double slot = (right - left) / static_cast<double>(group_count);
  const double widest_label = max_label_width(category_labels, kLabelFont);
  // Long labels belong in a horizontal chart; rotation keeps a few of them readable here.
  const bool rotate = widest_label > slot - 6;
  constexpr double kRotation = 35;  // degrees
  constexpr double kRotationRadians = kRotation * std::numbers::pi / 180;
  const double sin_rotation = std::sin(kRotationRadians);
  double extra_depth = 0;  // room the labels need below the axis beyond one line of text
  size_t max_chars = 0;
  if (rotate) {
    extra_depth = std::min(widest_label * sin_rotation, frame.height * 0.3 - 16);
    max_chars = static_cast<size_t>((extra_depth + 6) / sin_rotation / (0.58 * kLabelFont));
  } else {
    max_chars = static_cast<size_t>((slot - 6) / (0.58 * kLabelFont));
  }
  max_chars = std::max<size_t>(max_chars, 2);
  if (rotate) {
    // The first label hangs down and left from its slot's centre: keep it inside the chart.
    const double shown_width =
        std::min(widest_label, static_cast<double>(max_chars) * 0.58 * kLabelFont);
    const double overhang = shown_width * std::cos(kRotationRadians) - slot / 2 + 6;
    if (overhang > left) {
      left = overhang;
      slot = (right - left) / static_cast<double>(group_count);
    }
  }
  const double top = frame.top, bottom = frame.height - bottom_margin - extra_depth;
  frame.value.pixel_lo = bottom, frame.value.pixel_hi = top;

  AxisMap categories;  // no ticks: the groups are labelled one by one below
  categories.pixel_lo = left, categories.pixel_hi = right;
  draw_axes(svg, categories, frame.value, left, right, top, bottom);
  draw_y_label(svg, spec.value_label, left, tick_label_width, top, bottom);

  svg.out += "<g class=\"category-labels\">\n";
  for (size_t g = 0; g < group_count; ++g) {
    const std::string& label = spec.groups[g].label;
    const std::string shown = truncate_label(label, max_chars);
    const std::string tooltip = shown == label ? "" : label;
    const double cx = left + slot * (static_cast<double>(g) + 0.5), y = bottom + 16;
    if (rotate) {
      svg.text(cx, y, shown, kLabelFont, "end", kTextColour,
               " transform=\"rotate(-" + num(kRotation) + " " + num(cx) + " " + num(y) + ")\"",
               tooltip);
    } else {
      svg.text(cx, y, shown, kLabelFont, "middle", kTextColour, "", tooltip);
    }
  }
  svg.out += "</g>\n";

  const double zero = frame.value.pixel(0);
  const double bar_width = slot * 0.75 / static_cast<double>(frame.series_count);
  for (size_t g = 0; g < group_count; ++g) {
    const BarGroup& group = spec.groups[g];
    const double slot_start = left + slot * static_cast<double>(g) + slot * 0.125;
    for (size_t s = 0; s < group.values.size(); ++s) {
      const double v = group.values[s];
      if (!std::isfinite(v)) continue;
      const double x = slot_start + bar_width * static_cast<double>(s);
      const double end = frame.value.pixel(v);
      frame.bar(svg, x + bar_width * 0.05, std::min(zero, end), bar_width * 0.9,
                std::abs(end - zero), group, s, v);
      const double center = x + bar_width * 0.5;
      double label_at = end;
      if (frame.has_interval_at(group, s)) {
        const double lo = frame.value.pixel(group.lo[s]), hi = frame.value.pixel(group.hi[s]);
        draw_error_bar(svg, center, lo, hi, true, kWhiskerColour);
        label_at = v >= 0 ? std::min(end, hi) : std::max(end, lo);  // past the whisker
      }
      if (spec.value_labels) {
        svg.text(center, v >= 0 ? label_at - 4 : label_at + 12, frame.value_text(v), kValueFont,
                 "middle", kTextColour, " class=\"value-label\"");
      }
    }
  }
  svg.line(left, zero, right, zero,
           std::string(" class=\"baseline\" stroke=\"") + kAxisColour + "\" stroke-width=\"1\"");
}

}  // namespace

std::string bar_chart_svg(const BarChartSpec& spec) {
  BarFrame frame(spec);
  frame.series_count = std::max<size_t>(spec.series_names.size(), 1);
  for (const BarGroup& group : spec.groups) {
    frame.series_count = std::max(frame.series_count, group.values.size());
  }

  // The value axis always shows 0 (bars grow from it) and every whisker end.
  std::vector<double> values = {0.0};
  for (const BarGroup& group : spec.groups) {
    for (size_t s = 0; s < group.values.size(); ++s) {
      if (!std::isfinite(group.values[s])) continue;
      values.push_back(group.values[s]);
      if (frame.has_interval_at(group, s))
        values.push_back(group.lo[s]), values.push_back(group.hi[s]);
    }
  }
  const bool any_bar = values.size() > 1;

  std::vector<LegendEntry> legend;
  if (frame.series_count > 1) {
    for (size_t s = 0; s < frame.series_count; ++s) {
      const std::string name = s < spec.series_names.size() ? spec.series_names[s] : "";
      legend.push_back({name, colour(s), false, false, true});
    }
  }
  frame.width = std::max(spec.width, 240);
  const LegendLayout legend_layout = layout_legend(legend, frame.width, !spec.title.empty());
  frame.top = plot_top(!spec.title.empty(), legend_layout.rows);
  // Horizontal charts name the value axis under it, vertical ones beside it.
  const double bottom_margin = spec.horizontal && !spec.value_label.empty() ? 44 : 26;
  frame.height = std::max(spec.height, 160);
  if (spec.horizontal) {
    // Every group gets a row tall enough for its bars.
    const double row_height = std::max(22.0, static_cast<double>(frame.series_count) * 12 + 10);
    frame.height = std::max(frame.height, frame.top + bottom_margin +
                                              static_cast<double>(spec.groups.size()) * row_height);
  }

  Svg svg;
  svg.open(frame.width, frame.height, spec.title);
  if (!any_bar) {
    svg.no_data(frame.width, frame.height);
    svg.close();
    return svg.out;
  }

  Axis value_axis;
  value_axis.percent = spec.percent;
  // All bars at zero: show 0..1 rather than a window centred on zero.
  const auto [low, high] = std::minmax_element(values.begin(), values.end());
  if (*low == 0 && *high == 0) value_axis.max = 1.0;
  frame.value = make_axis(value_axis, values);
  frame.label_step = frame.value.step / 10;
  for (double t : frame.value.ticks) frame.tick_labels.push_back(frame.value.label(t));

  draw_legend(svg, legend, legend_layout);
  if (spec.horizontal) {
    draw_horizontal_bars(svg, frame, bottom_margin);
  } else {
    draw_vertical_bars(svg, frame, bottom_margin);
  }
  svg.close();
  return svg.out;
}

}  // namespace cf::report
