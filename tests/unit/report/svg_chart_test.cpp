// SVG charts: nice ticks, data-to-pixel mapping, gaps, log axes, escaping, bars, error bars,
// empty data, and self-containment of the output.
#include "report/svg_chart.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <regex>
#include <string>
#include <vector>

namespace cf::report {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

size_t count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

std::vector<std::string> attribute_values(const std::string& svg, const std::string& element_start,
                                          const std::string& attribute) {
  std::vector<std::string> values;
  const std::regex pattern(element_start + "[^>]*?\\s" + attribute + "=\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), pattern);
       it != std::sregex_iterator(); ++it) {
    values.push_back((*it)[1]);
  }
  return values;
}

// A path's "M x y L x y ..." as subpaths of (x, y) points.
std::vector<std::vector<std::pair<double, double>>> parse_path(const std::string& d) {
  std::vector<std::vector<std::pair<double, double>>> subpaths;
  const std::regex token("[MLZ]|-?[0-9]+(\\.[0-9]+)?");
  std::vector<double> pending;
  for (auto it = std::sregex_iterator(d.begin(), d.end(), token); it != std::sregex_iterator();
       ++it) {
    const std::string t = it->str();
    if (t == "M") {
      subpaths.emplace_back();
    } else if (t == "L" || t == "Z") {
      continue;
    } else {
      pending.push_back(std::stod(t));
      if (pending.size() == 2) {
        subpaths.back().emplace_back(pending[0], pending[1]);
        pending.clear();
      }
    }
  }
  return subpaths;
}

// The plot rectangle from the two axis lines (the first two lines in <g class="axis">).
struct PlotRect {
  double left, right, top, bottom;
};
PlotRect plot_rect(const std::string& svg) {
  const size_t axis = svg.find("<g class=\"axis\"");
  EXPECT_NE(axis, std::string::npos);
  const std::string rest = svg.substr(axis);
  const std::regex line(
      "<line x1=\"([-0-9.]+)\" y1=\"([-0-9.]+)\" x2=\"([-0-9.]+)\" y2=\"([-0-9.]+)\"");
  std::smatch bottom_axis, left_axis;
  EXPECT_TRUE(std::regex_search(rest, bottom_axis, line));
  const std::string after = bottom_axis.suffix();
  EXPECT_TRUE(std::regex_search(after, left_axis, line));
  return {std::stod(bottom_axis[1]), std::stod(bottom_axis[3]), std::stod(left_axis[2]),
          std::stod(left_axis[4])};
}

// Every element opened is closed in order (the SVG must be well-formed XML to render inline).
bool tags_balanced(const std::string& markup) {
  std::vector<std::string> open;
  const std::regex tag("<(/?)([a-zA-Z][a-zA-Z0-9-]*)[^>]*?(/?)>");
  for (auto it = std::sregex_iterator(markup.begin(), markup.end(), tag);
       it != std::sregex_iterator(); ++it) {
    const bool closing = (*it)[1].length() > 0, self_closing = (*it)[3].length() > 0;
    const std::string name = (*it)[2];
    if (self_closing) continue;
    if (!closing) {
      open.push_back(name);
    } else {
      if (open.empty() || open.back() != name) return false;
      open.pop_back();
    }
  }
  return open.empty();
}

bool is_one_two_five_step(double step) {
  const double exponent = std::floor(std::log10(step) + 1e-9);
  const double mantissa = step / std::pow(10.0, exponent);
  return std::abs(mantissa - 1) < 1e-9 || std::abs(mantissa - 2) < 1e-9 ||
         std::abs(mantissa - 5) < 1e-9;
}

void expect_nice(double lo, double hi) {
  SCOPED_TRACE("range " + std::to_string(lo) + ".." + std::to_string(hi));
  const NiceScale scale = nice_scale(lo, hi);
  EXPECT_GE(scale.ticks.size(), 4u);
  EXPECT_LE(scale.ticks.size(), 8u);
  EXPECT_TRUE(is_one_two_five_step(scale.step)) << scale.step;
  EXPECT_LE(scale.lo, std::min(lo, hi));
  EXPECT_GE(scale.hi, std::max(lo, hi));
  EXPECT_LT(scale.lo, scale.hi);
  ASSERT_FALSE(scale.ticks.empty());
  EXPECT_DOUBLE_EQ(scale.ticks.front(), scale.lo);
  EXPECT_DOUBLE_EQ(scale.ticks.back(), scale.hi);
  for (size_t i = 1; i < scale.ticks.size(); ++i) {
    EXPECT_NEAR(scale.ticks[i] - scale.ticks[i - 1], scale.step, scale.step * 1e-9);
  }
  for (double t : scale.ticks) {  // every tick a whole multiple of the step
    EXPECT_NEAR(t / scale.step, std::round(t / scale.step), 1e-6);
  }
}

Series series_of(std::string name, std::vector<double> x, std::vector<double> y) {
  Series s;
  s.name = std::move(name);
  s.x = std::move(x);
  s.y = std::move(y);
  return s;
}

TEST(SvgChartTicks, NiceScaleForTypicalRanges) {
  const std::vector<std::pair<double, double>> ranges = {
      {0, 1},     {0, 0.0466},  {3, 7},   {0, 12345}, {-3, -1}, {-0.2, 0.9},
      {0.3, 0.7}, {1e-9, 3e-9}, {0, 7.1}, {0.9, 8.1}, {17, 1e6}};
  for (const auto& [lo, hi] : ranges) expect_nice(lo, hi);
  EXPECT_DOUBLE_EQ(nice_scale(0, 1).step, 0.2);
  EXPECT_DOUBLE_EQ(nice_scale(0, 1).hi, 1);
  EXPECT_DOUBLE_EQ(nice_scale(0, 0.0466).step, 0.01);
  EXPECT_DOUBLE_EQ(nice_scale(0, 0.0466).hi, 0.05);
  EXPECT_DOUBLE_EQ(nice_scale(3, 7).lo, 3);
  EXPECT_DOUBLE_EQ(nice_scale(3, 7).hi, 7);
  EXPECT_EQ(nice_scale(0.3, 0.7).ticks, (std::vector<double>{0.3, 0.4, 0.5, 0.6, 0.7}));
  EXPECT_DOUBLE_EQ(nice_scale(0, 12345).step, 2000);
  EXPECT_DOUBLE_EQ(nice_scale(0, 12345).hi, 14000);
}

TEST(SvgChartTicks, SingleValueGetsAWindowAroundIt) {
  expect_nice(5, 5);
  expect_nice(0, 0);
  expect_nice(-0.003, -0.003);
  const NiceScale around_five = nice_scale(5, 5);
  EXPECT_LT(around_five.lo, 5);
  EXPECT_GT(around_five.hi, 5);
  const NiceScale around_zero = nice_scale(0, 0);
  EXPECT_DOUBLE_EQ(around_zero.lo, 0);
  EXPECT_DOUBLE_EQ(around_zero.hi, 1);
  const NiceScale from_nan = nice_scale(kNaN, 1);  // garbage in: still a usable axis
  EXPECT_DOUBLE_EQ(from_nan.lo, 0);
  EXPECT_DOUBLE_EQ(from_nan.hi, 1);
  EXPECT_EQ(from_nan.ticks.size(), 6u);
}

TEST(SvgChartTicks, LogTicksAreDecades) {
  EXPECT_EQ(log_ticks(2e-4, 0.5), (std::vector<double>{1e-4, 1e-3, 1e-2, 1e-1, 1}));
  const std::vector<double> wide = log_ticks(1, 1e12);
  EXPECT_LE(wide.size(), 8u);
  EXPECT_GE(wide.size(), 4u);
  EXPECT_DOUBLE_EQ(wide.front(), 1);
  EXPECT_GE(wide.back(), 1e12);
  for (double t : wide) EXPECT_DOUBLE_EQ(std::pow(10.0, std::round(std::log10(t))), t);
  for (auto [lo, hi] : std::vector<std::pair<double, double>>{{1e-7, 1e8}, {3, 4e9}, {1, 1e3}}) {
    const std::vector<double> ticks = log_ticks(lo, hi);
    EXPECT_GE(ticks.size(), 4u) << lo << ".." << hi;
    EXPECT_LE(ticks.size(), 8u) << lo << ".." << hi;
    EXPECT_LE(ticks.front(), lo);
    EXPECT_GE(ticks.back(), hi);
  }
  // Within one decade the 2x and 5x ticks keep 4 ticks on the axis.
  EXPECT_EQ(log_ticks(2, 8), (std::vector<double>{1, 2, 5, 10}));
}

TEST(SvgChartTicks, FormatsLabels) {
  EXPECT_EQ(format_tick(0.25, 0.05, true), "25%");
  EXPECT_EQ(format_tick(0.125, 0.005, true), "12.5%");
  EXPECT_EQ(format_tick(0.2, 0.2, false), "0.2");
  EXPECT_EQ(format_tick(0.05, 0.01, false), "0.05");
  EXPECT_EQ(format_tick(3, 1, false), "3");
  EXPECT_EQ(format_tick(14000, 2000, false), "14k");
  EXPECT_EQ(format_tick(2000, 2000, false), "2000");
  EXPECT_EQ(format_tick(0, 0.01, false), "0");
  EXPECT_EQ(format_tick(-1e-17, 0.1, false), "0");  // rounding residue is not "-0.0"
  EXPECT_EQ(format_tick(-0.4, 0.2, false), "-0.4");
  EXPECT_EQ(format_tick(0.001, 0.001, false), "0.001");
  EXPECT_EQ(format_tick(-0.004, 0.02, false), "0.00");  // rounds to zero: no minus sign
}

TEST(SvgChartLine, UnitSquareDataMapsOntoThePlotRectangle) {
  LineChartSpec spec;
  spec.title = "ROC";
  spec.x = {"false positive rate", false, 0.0, 1.0};
  spec.y = {"true positive rate", false, 0.0, 1.0};
  spec.series.push_back(series_of("model", {0, 0.1, 0.3, 0.6, 1}, {0, 0.5, 0.8, 0.95, 1}));
  spec.diagonal = true;
  const std::string svg = line_chart_svg(spec);
  const PlotRect rect = plot_rect(svg);
  EXPECT_LT(rect.left, rect.right);
  EXPECT_LT(rect.top, rect.bottom);

  const std::vector<std::string> paths = attribute_values(svg, "<path class=\"series\"", "d");
  ASSERT_EQ(paths.size(), 1u);
  const auto subpaths = parse_path(paths[0]);
  ASSERT_EQ(subpaths.size(), 1u);
  const auto& points = subpaths[0];
  ASSERT_EQ(points.size(), 5u);
  for (size_t i = 0; i < points.size(); ++i) {
    const auto [px, py] = points[i];
    EXPECT_GE(px, rect.left - 0.01);
    EXPECT_LE(px, rect.right + 0.01);
    EXPECT_GE(py, rect.top - 0.01);
    EXPECT_LE(py, rect.bottom + 0.01);
    if (i > 0) {
      EXPECT_GT(px, points[i - 1].first);   // x increases left to right
      EXPECT_LT(py, points[i - 1].second);  // larger y is higher up
    }
  }
  EXPECT_NEAR(points.front().first, rect.left, 0.01);
  EXPECT_NEAR(points.front().second, rect.bottom, 0.01);
  EXPECT_NEAR(points.back().first, rect.right, 0.01);
  EXPECT_NEAR(points.back().second, rect.top, 0.01);
  // x = 0.1 lies a tenth of the way across.
  EXPECT_NEAR(points[1].first, rect.left + 0.1 * (rect.right - rect.left), 0.02);

  EXPECT_EQ(count(svg, "class=\"reference\""), 1u);
  EXPECT_EQ(count(svg, "class=\"legend\""), 0u);  // one series: no legend
  EXPECT_TRUE(tags_balanced(svg));
}

TEST(SvgChartLine, StartsWithTheSvgRootAndHasOneTitle) {
  LineChartSpec spec;
  spec.title = "Loss";
  spec.series.push_back(series_of("train", {1, 2, 3}, {3, 2, 1.5}));
  const std::string svg = line_chart_svg(spec);
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" role=\"img\" "
                      "viewBox=\"0 0 640 360\"",
                      0),
            0u);
  EXPECT_EQ(count(svg, "<svg"), 1u);
  EXPECT_EQ(count(svg, "</svg>"), 1u);
  EXPECT_NE(svg.find("<title>Loss</title>"), std::string::npos);
  EXPECT_NE(svg.find(">Loss</text>"), std::string::npos);  // visible heading
}

TEST(SvgChartLine, NonFinitePointsBreakTheLine) {
  LineChartSpec spec;
  spec.series.push_back(
      series_of("s", {0, 1, 2, 3, 4, 5, 6}, {0.1, 0.5, kNaN, 0.7, 0.9, kInf, 0.2}));
  const std::string svg = line_chart_svg(spec);
  const auto paths = attribute_values(svg, "<path class=\"series\"", "d");
  ASSERT_EQ(paths.size(), 1u);
  const auto subpaths = parse_path(paths[0]);
  ASSERT_EQ(subpaths.size(), 3u);
  EXPECT_EQ(subpaths[0].size(), 2u);
  EXPECT_EQ(subpaths[1].size(), 2u);
  EXPECT_EQ(subpaths[2].size(), 1u);
  // The lone last point draws no segment, so it gets a marker.
  EXPECT_EQ(count(svg, "<circle class=\"marker\""), 1u);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
}

TEST(SvgChartLine, LogAxisHasDecadeTicksAndSkipsNonPositiveValues) {
  LineChartSpec spec;
  spec.x.log_scale = true;
  spec.x.label = "rank";
  spec.series.push_back(series_of("s", {0, 1, 10, 100, 1000}, {0.9, 0.5, 0.3, 0.2, 0.1}));
  const std::string svg = line_chart_svg(spec);
  for (const char* label : {">1</text>", ">10</text>", ">100</text>", ">1000</text>"}) {
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  }
  // x = 0 cannot sit on a log axis: only 4 points drawn, in one run.
  const auto subpaths = parse_path(attribute_values(svg, "<path class=\"series\"", "d").at(0));
  ASSERT_EQ(subpaths.size(), 1u);
  ASSERT_EQ(subpaths[0].size(), 4u);
  // Decades are equally far apart on a log axis.
  const double step1 = subpaths[0][1].first - subpaths[0][0].first;
  const double step2 = subpaths[0][2].first - subpaths[0][1].first;
  EXPECT_NEAR(step1, step2, 0.02);
}

TEST(SvgChartLine, PercentAxisLabels) {
  LineChartSpec spec;
  spec.y.percent = true;
  spec.y.min = 0.0;
  spec.series.push_back(series_of("s", {1, 2, 3}, {0.1, 0.3, 0.5}));
  const std::string svg = line_chart_svg(spec);
  EXPECT_NE(svg.find(">0%</text>"), std::string::npos);
  EXPECT_NE(svg.find(">50%</text>"), std::string::npos);
}

TEST(SvgChartLine, BandsMarkersAndLegend) {
  LineChartSpec spec;
  Series with_band = series_of("model", {0, 1, 2}, {0.5, 0.6, 0.7});
  with_band.lo = {0.4, 0.5, 0.6};
  with_band.hi = {0.6, 0.7, 0.8};
  Series with_whiskers = series_of("baseline", {0, 1, 2}, {0.3, 0.35, 0.4});
  with_whiskers.lo = {0.25, 0.3, 0.35};
  with_whiskers.hi = {0.35, 0.4, 0.45};
  with_whiskers.error_bars = true;
  with_whiskers.points = true;
  with_whiskers.dashed = true;
  spec.series = {with_band, with_whiskers};
  const std::string svg = line_chart_svg(spec);
  EXPECT_EQ(count(svg, "<path class=\"band\""), 1u);
  EXPECT_EQ(count(svg, "class=\"err\""), 9u);  // 3 points x (whisker + 2 caps)
  EXPECT_EQ(count(svg, "<circle class=\"marker\""), 3u);
  EXPECT_EQ(count(svg, "class=\"legend\""), 1u);
  EXPECT_NE(svg.find(">model</text>"), std::string::npos);
  EXPECT_NE(svg.find(">baseline</text>"), std::string::npos);
  EXPECT_NE(svg.find("stroke-dasharray"), std::string::npos);
  EXPECT_TRUE(tags_balanced(svg));
}

TEST(SvgChartLine, DegenerateDataDoesNotDivideByZero) {
  LineChartSpec one_point;
  one_point.series.push_back(series_of("s", {3}, {7}));
  LineChartSpec flat;
  flat.series.push_back(series_of("s", {1, 1, 1}, {2, 2, 2}));
  LineChartSpec log_flat;
  log_flat.x.log_scale = log_flat.y.log_scale = true;
  log_flat.series.push_back(series_of("s", {5, 5}, {5, 5}));
  for (const LineChartSpec& spec : {one_point, flat, log_flat}) {
    const std::string svg = line_chart_svg(spec);
    EXPECT_EQ(svg.find("nan"), std::string::npos) << svg;
    EXPECT_EQ(svg.find("inf"), std::string::npos) << svg;
    EXPECT_EQ(svg.find("no data"), std::string::npos);
    EXPECT_TRUE(tags_balanced(svg));
  }
}

TEST(SvgChartLine, NoFinitePointsSaysNoData) {
  LineChartSpec nothing;
  nothing.title = "Empty";
  LineChartSpec all_nan;
  all_nan.series.push_back(series_of("s", {kNaN, 1}, {1, kNaN}));
  LineChartSpec non_positive_on_log;
  non_positive_on_log.y.log_scale = true;
  non_positive_on_log.series.push_back(series_of("s", {1, 2}, {0, -1}));
  for (const LineChartSpec& spec : {nothing, all_nan, non_positive_on_log}) {
    const std::string svg = line_chart_svg(spec);
    EXPECT_EQ(svg.rfind("<svg xmlns=", 0), 0u);
    EXPECT_NE(svg.find(">no data</text>"), std::string::npos);
    EXPECT_EQ(count(svg, "<path"), 0u);
    EXPECT_TRUE(tags_balanced(svg));
  }
}

TEST(SvgChartText, TitlesAndLabelsAreEscaped) {
  const std::string nasty = "a<b & \"c\" 'd'>";
  const std::string escaped = "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;";
  LineChartSpec line;
  line.title = nasty;
  line.x.label = nasty;
  line.series = {series_of(nasty, {0, 1}, {0, 1}), series_of("other", {0, 1}, {1, 0})};
  BarChartSpec bars;
  bars.title = nasty;
  bars.value_label = nasty;
  bars.series_names = {nasty, "x"};
  bars.groups = {{nasty, {1, 2}, {}, {}}};
  for (const std::string& svg : {line_chart_svg(line), bar_chart_svg(bars)}) {
    EXPECT_EQ(svg.find(nasty), std::string::npos);
    EXPECT_NE(svg.find("<title>" + escaped + "</title>"), std::string::npos);
    EXPECT_GE(count(svg, escaped), 3u);
    EXPECT_TRUE(tags_balanced(svg));
  }
}

BarChartSpec two_series_bars() {
  BarChartSpec spec;
  spec.title = "Hit rate by category";
  spec.value_label = "HR@10";
  spec.percent = true;
  spec.series_names = {"model", "popularity"};
  spec.groups = {{"electronics", {0.31, 0.12}, {}, {}},
                 {"appliances", {0.25, kNaN}, {}, {}},
                 {"kids", {0.4, 0.2}, {}, {}}};
  return spec;
}

TEST(SvgChartBar, OneRectPerFiniteValueAndALegend) {
  for (bool horizontal : {false, true}) {
    BarChartSpec spec = two_series_bars();
    spec.horizontal = horizontal;
    const std::string svg = bar_chart_svg(spec);
    EXPECT_EQ(count(svg, "<rect class=\"bar\""), 5u);
    EXPECT_EQ(count(svg, "class=\"err\""), 0u);
    EXPECT_EQ(count(svg, "class=\"legend\""), 1u);
    EXPECT_EQ(count(svg, "<rect class=\"swatch\""), 2u);
    EXPECT_NE(svg.find(">electronics</text>"), std::string::npos);
    EXPECT_NE(svg.find("%</text>"), std::string::npos);
    EXPECT_TRUE(tags_balanced(svg));
  }
}

TEST(SvgChartBar, ErrorBarsOnlyWhenIntervalsGiven) {
  for (bool horizontal : {false, true}) {
    BarChartSpec spec = two_series_bars();
    spec.horizontal = horizontal;
    spec.value_labels = true;
    spec.groups[0].lo = {0.28, 0.1};
    spec.groups[0].hi = {0.34, 0.14};
    spec.groups[1].lo = {0.2, kNaN};
    spec.groups[1].hi = {0.3, kNaN};
    const std::string svg = bar_chart_svg(spec);
    EXPECT_EQ(count(svg, "<rect class=\"bar\""), 5u);
    EXPECT_EQ(count(svg, "class=\"err\""), 3u * 3u);  // three bars with intervals
    EXPECT_EQ(count(svg, "class=\"value-label\""), 5u);
  }
}

TEST(SvgChartBar, BarsGrowFromZero) {
  BarChartSpec spec;
  spec.groups = {{"up", {2}, {}, {}}, {"down", {-1}, {}, {}}};
  const std::string svg = bar_chart_svg(spec);
  const auto ys = attribute_values(svg, "<rect class=\"bar\"", "y");
  const auto heights = attribute_values(svg, "<rect class=\"bar\"", "height");
  ASSERT_EQ(ys.size(), 2u);
  // The positive bar ends where the negative one starts: both touch the zero line.
  EXPECT_NEAR(std::stod(ys[0]) + std::stod(heights[0]), std::stod(ys[1]), 0.02);
  EXPECT_NEAR(std::stod(heights[0]), 2 * std::stod(heights[1]), 0.05);
  EXPECT_EQ(count(svg, "class=\"legend\""), 0u);
}

TEST(SvgChartBar, HorizontalChartGrowsWithTheGroups) {
  BarChartSpec spec;
  spec.horizontal = true;
  for (int i = 0; i < 40; ++i) {
    spec.groups.push_back(
        {"a rather long category name number " + std::to_string(i), {1.0 * i}, {}, {}});
  }
  const std::string svg = bar_chart_svg(spec);
  const std::smatch match = [&] {
    std::smatch m;
    std::regex_search(svg, m, std::regex("viewBox=\"0 0 ([0-9.]+) ([0-9.]+)\""));
    return m;
  }();
  ASSERT_EQ(match.size(), 3u);
  EXPECT_GT(std::stod(match[2]), 40 * 20.0);
  EXPECT_EQ(count(svg, "<rect class=\"bar\""), 40u);
}

TEST(SvgChartBar, NoGroupsOrNoFiniteValuesSaysNoData) {
  BarChartSpec nothing;
  BarChartSpec all_nan;
  all_nan.groups = {{"a", {kNaN}, {}, {}}};
  for (const BarChartSpec& spec : {nothing, all_nan}) {
    const std::string svg = bar_chart_svg(spec);
    EXPECT_NE(svg.find(">no data</text>"), std::string::npos);
    EXPECT_EQ(count(svg, "<rect class=\"bar\""), 0u);
    EXPECT_TRUE(tags_balanced(svg));
  }
}

TEST(SvgChartOutput, SelfContainedAndCoordinatesShort) {
  LineChartSpec line;
  line.title = "Gain";
  line.diagonal = true;
  line.x = {"share of users", false, {}, {}, true};
  line.y = {"share of buyers", false, {}, {}, true};
  line.series = {series_of("model", {0, 1.0 / 3, 2.0 / 3, 1}, {0, 0.55, 0.87, 1}),
                 series_of("random", {0, 1}, {0, 1})};
  LineChartSpec log_line;
  log_line.y.log_scale = true;
  log_line.x.log_scale = true;
  log_line.diagonal = true;
  log_line.series = {series_of("s", {1, 3, 7, 1e3}, {1.0 / 7, 2, 9, 11})};
  BarChartSpec bars = two_series_bars();
  BarChartSpec horizontal = two_series_bars();
  horizontal.horizontal = true;
  const std::string xmlns = "xmlns=\"http://www.w3.org/2000/svg\"";
  const std::regex coordinate_attribute(
      "\\s(x|y|x1|x2|y1|y2|cx|cy|r|width|height|d|viewBox)=\"([^\"]*)\"");
  const std::regex long_decimal("[0-9]\\.[0-9]{3,}");
  for (const std::string& svg : {line_chart_svg(line), line_chart_svg(log_line),
                                 bar_chart_svg(bars), bar_chart_svg(horizontal)}) {
    std::string without_xmlns = svg;
    without_xmlns.erase(without_xmlns.find(xmlns), xmlns.size());
    EXPECT_EQ(without_xmlns.find("http"), std::string::npos);
    EXPECT_EQ(without_xmlns.find("url("), std::string::npos);
    EXPECT_EQ(without_xmlns.find("<script"), std::string::npos);
    EXPECT_EQ(without_xmlns.find("href"), std::string::npos);
    for (auto it = std::sregex_iterator(svg.begin(), svg.end(), coordinate_attribute);
         it != std::sregex_iterator(); ++it) {
      const std::string value = (*it)[2];
      EXPECT_FALSE(std::regex_search(value, long_decimal)) << (*it)[0];
    }
    EXPECT_TRUE(tags_balanced(svg));
  }
}

}  // namespace
}  // namespace cf::report
