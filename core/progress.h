// ProgressMeter: rate-limited progress lines (done/total, rate, ETA) on stderr for long tasks.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace cf {

// Prints "<label> 41.2% 4.1M/10.0M events 1.23M events/s ETA 4.8s [extra]" at most every
// `interval_s` seconds, and only once the task has run for `quiet_s` seconds, so short tasks
// stay silent. total <= 0 means unknown (no percentage or ETA).
class ProgressMeter {
 public:
  ProgressMeter(std::string label, double total, std::string unit, double interval_s = 2.0,
                double quiet_s = 3.0);
  void update(double done, const std::string& extra = "");
  void finish(double done, const std::string& extra = "");  // final line if anything printed
  double elapsed_seconds() const;

 private:
  void print(double done, const std::string& extra);
  std::string label_, unit_;
  double total_, interval_s_, quiet_s_;
  std::chrono::steady_clock::time_point start_, last_print_;
  bool printed_ = false;
};

// "1.23M", "456k", "12" — compact human counts for progress lines.
std::string human_count(double value);
// "1.5 GiB", "12.0 MiB", "512 B" — binary units, for memory sizes in messages.
std::string human_bytes(double bytes);
// "3h02m", "4m05s", "12.3s"
std::string human_duration(double seconds);

}  // namespace cf
