#include "core/progress.h"

#include <cstdio>

namespace cf {

ProgressMeter::ProgressMeter(std::string label, double total, std::string unit, double interval_s,
                             double quiet_s)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), interval_s_(interval_s),
      quiet_s_(quiet_s), start_(std::chrono::steady_clock::now()), last_print_(start_) {}

double ProgressMeter::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressMeter::update(double done, const std::string& extra) {
  auto now = std::chrono::steady_clock::now();
  double since_start = std::chrono::duration<double>(now - start_).count();
  double since_print = std::chrono::duration<double>(now - last_print_).count();
  if (since_start < quiet_s_ || (printed_ && since_print < interval_s_)) return;
  print(done, extra);
  last_print_ = now;
}

void ProgressMeter::finish(double done, const std::string& extra) {
  if (printed_) print(done, extra);
}

void ProgressMeter::print(double done, const std::string& extra) {
  double elapsed = elapsed_seconds();
  double rate = elapsed > 0 ? done / elapsed : 0;
  std::string line = label_;
  if (total_ > 0) {
    char pct[32];
    std::snprintf(pct, sizeof(pct), " %5.1f%%", 100.0 * done / total_);
    line += pct;
    line += " " + human_count(done) + "/" + human_count(total_) + " " + unit_;
  } else {
    line += " " + human_count(done) + " " + unit_;
  }
  line += " " + human_count(rate) + " " + unit_ + "/s";
  if (total_ > 0 && rate > 0 && done < total_) line += " ETA " + human_duration((total_ - done) / rate);
  if (!extra.empty()) line += " " + extra;
  std::fprintf(stderr, "%s\n", line.c_str());
  printed_ = true;
}

std::string human_count(double value) {
  char buf[32];
  if (value >= 1e9) std::snprintf(buf, sizeof(buf), "%.2fG", value / 1e9);
  else if (value >= 1e6) std::snprintf(buf, sizeof(buf), "%.2fM", value / 1e6);
  else if (value >= 1e4) std::snprintf(buf, sizeof(buf), "%.1fk", value / 1e3);
  else std::snprintf(buf, sizeof(buf), "%.0f", value);
  return buf;
}

std::string human_duration(double seconds) {
  char buf[32];
  if (seconds >= 3600) std::snprintf(buf, sizeof(buf), "%dh%02dm", int(seconds / 3600), int(seconds / 60) % 60);
  else if (seconds >= 60) std::snprintf(buf, sizeof(buf), "%dm%02ds", int(seconds / 60), int(seconds) % 60);
  else std::snprintf(buf, sizeof(buf), "%.1fs", seconds);
  return buf;
}

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (bytes >= 1024 && u < 6) {
    bytes /= 1024;
    ++u;
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

}  // namespace cf
