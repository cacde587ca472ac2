// Calendar date and UTC date-time text -> unix seconds, without time zone libraries.
#pragma once
#include <cstdint>
#include <string_view>

namespace cf::data {

// Days since 1970-01-01 of a proleptic Gregorian date; month 1..12, day 1..31 (not validated).
int64_t days_from_civil(int64_t year, int month, int day);

// "YYYY-MM-DD" -> unix seconds at 00:00:00 UTC of that day. False for anything else,
// including impossible dates (2019-02-30).
bool parse_iso_date(std::string_view text, int64_t& unix_seconds);

// "YYYY-MM-DD HH:MM:SS", optionally followed by " UTC" (REES46) or "Z", with ' ' or 'T'
// between date and time -> unix seconds. Only UTC is understood: other suffixes are rejected.
bool parse_utc_datetime(std::string_view text, int64_t& unix_seconds);

}  // namespace cf::data
