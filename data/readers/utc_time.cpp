#include "data/readers/utc_time.h"

namespace cf::data {

namespace {

bool is_leap_year(int64_t year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int days_in_month(int64_t year, int month) {
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap_year(year) ? 29 : kDays[month - 1];
}

// Reads exactly `width` ASCII digits at `text[pos]`.
bool read_digits(std::string_view text, size_t pos, size_t width, int& value) {
  if (pos + width > text.size()) return false;
  value = 0;
  for (size_t i = pos; i < pos + width; ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  return true;
}

bool parse_date_prefix(std::string_view text, int64_t& days) {
  int year = 0, month = 0, day = 0;
  if (!read_digits(text, 0, 4, year) || text.size() < 10 || text[4] != '-' ||
      !read_digits(text, 5, 2, month) || text[7] != '-' || !read_digits(text, 8, 2, day)) {
    return false;
  }
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) return false;
  days = days_from_civil(year, month, day);
  return true;
}

}  // namespace

int64_t days_from_civil(int64_t year, int month, int day) {
  // Count in 400-year eras starting on March 1st, so the leap day is the last day of a year.
  year -= month <= 2 ? 1 : 0;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const int64_t year_of_era = year - era * 400;                            // [0, 399]
  const int64_t month_from_march = month > 2 ? month - 3 : month + 9;      // [0, 11]
  const int64_t day_of_year = (153 * month_from_march + 2) / 5 + day - 1;  // [0, 365]
  const int64_t day_of_era =
      year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;  // [0, 146096]
  return era * 146097 + day_of_era - 719468;  // 719468 = days from 0000-03-01 to 1970-01-01
}

bool parse_iso_date(std::string_view text, int64_t& unix_seconds) {
  int64_t days = 0;
  if (text.size() != 10 || !parse_date_prefix(text, days)) return false;
  unix_seconds = days * 86400;
  return true;
}

bool parse_utc_datetime(std::string_view text, int64_t& unix_seconds) {
  int64_t days = 0;
  int hour = 0, minute = 0, second = 0;
  if (text.size() < 19 || !parse_date_prefix(text, days) || (text[10] != ' ' && text[10] != 'T') ||
      !read_digits(text, 11, 2, hour) || text[13] != ':' || !read_digits(text, 14, 2, minute) ||
      text[16] != ':' || !read_digits(text, 17, 2, second)) {
    return false;
  }
  const std::string_view suffix = text.substr(19);
  if (!suffix.empty() && suffix != " UTC" && suffix != "Z") return false;
  if (hour > 23 || minute > 59 || second > 59) return false;
  unix_seconds = days * 86400 + hour * 3600 + minute * 60 + second;
  return true;
}

}  // namespace cf::data
