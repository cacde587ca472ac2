// The reader factory and the format names of data/raw_event.h.
#include <array>
#include <utility>

#include "core/error.h"
#include "data/raw_event.h"
#include "data/readers/rees46_reader.h"
#include "data/readers/session_reader.h"
#include "data/readers/taobao_reader.h"
#include "data/readers/trio_reader.h"
#include "data/readers/user_item_reader.h"

namespace cf::data {

namespace {

constexpr std::array<std::pair<RawFormat, const char*>, 7> kFormatNames = {{
    {RawFormat::kTrio, "trio"},
    {RawFormat::kTaobao, "taobao"},
    {RawFormat::kRees46, "rees46"},
    {RawFormat::kUserItem, "user_item"},
    {RawFormat::kUserItems, "user_items"},
    {RawFormat::kYoochoose, "yoochoose"},
    {RawFormat::kDiginetica, "diginetica"},
}};

}  // namespace

RawFormat parse_raw_format(const std::string& name) {
  std::string valid;
  for (const auto& [format, format_name] : kFormatNames) {
    if (name == format_name) return format;
    valid += valid.empty() ? "" : ", ";
    valid += format_name;
  }
  throw UserError("format: unknown raw log format \"" + name + "\" (valid: " + valid + ")");
}

std::string raw_format_name(RawFormat format) {
  for (const auto& [known, format_name] : kFormatNames) {
    if (known == format) return format_name;
  }
  CF_CHECK(false, "raw_format_name: RawFormat value outside the enum");
}

std::unique_ptr<RawLogReader> open_raw_log(const RawSourceSpec& spec, RejectSink rejects) {
  if (spec.path.empty()) {
    throw UserError("path: no input path given for the " + raw_format_name(spec.format) +
                    " format");
  }
  if (!spec.item_attributes.empty() && spec.format != RawFormat::kUserItem &&
      spec.format != RawFormat::kUserItems) {
    throw UserError(spec.item_attributes +
                    ": an item-attributes file is only read with the "
                    "user_item and user_items formats, not " +
                    raw_format_name(spec.format));
  }
  // personal_columns need nothing here: readers look columns up by name and never read others.
  switch (spec.format) {
    case RawFormat::kTrio:
      return std::make_unique<TrioReader>(spec.path, std::move(rejects));
    case RawFormat::kTaobao:
      return std::make_unique<TaobaoReader>(spec.path, std::move(rejects));
    case RawFormat::kRees46:
      return std::make_unique<Rees46Reader>(spec.path, std::move(rejects));
    case RawFormat::kUserItem:
    case RawFormat::kUserItems:
      return std::make_unique<UserItemReader>(spec.path, spec.item_attributes,
                                              spec.format == RawFormat::kUserItems,
                                              std::move(rejects));
    case RawFormat::kYoochoose:
      return std::make_unique<SessionReader>(spec.path, SessionReader::Layout::kYoochoose,
                                             std::move(rejects));
    case RawFormat::kDiginetica:
      return std::make_unique<SessionReader>(spec.path, SessionReader::Layout::kDiginetica,
                                             std::move(rejects));
  }
  CF_CHECK(false, "open_raw_log: RawFormat value outside the enum");
}

}  // namespace cf::data
