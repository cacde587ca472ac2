#include "data/text/text_pairs.h"

#include <fstream>

#include "core/error.h"
#include "core/json.h"
#include "core/utf8.h"

namespace cf::data::text {
namespace {

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": cannot open for reading");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  if (in.bad()) throw UserError(path + ": read error");
  return lines;
}

[[noreturn]] void fail_at(const std::string& path, int64_t line, const std::string& what) {
  throw UserError(path + ": line " + std::to_string(line) + ": " + what);
}

void require_utf8(const std::string& path, int64_t line, const std::string& text) {
  if (!is_valid_utf8(text)) fail_at(path, line, "not well-formed UTF-8");
  // The corpus stores names and tokenizer pieces as NUL-terminated strings.
  if (text.find('\0') != std::string::npos) fail_at(path, line, "a NUL character (U+0000)");
}

// KOBE's tokenized text: the tokens joined without the spaces between them.
std::string join_tokens(const std::string& line, size_t from) {
  std::string out;
  for (size_t at = from; at < line.size(); ++at)
    if (line[at] != ' ') out += line[at];
  return out;
}

// The KOBE tag at `at` (up to the next space): `<N>` (a user segment, N a non-negative integer:
// the data holds 0..25) when `segment`, else `<a>`, `<b>` or `<c>` (the aspect). Returns the
// inside and moves `at` past the tag and its space.
std::string take_tag(const std::string& line, size_t& at, const std::string& path, int64_t number,
                     bool segment) {
  const size_t end = line.find(' ', at);
  const std::string tag = line.substr(at, end == std::string::npos ? std::string::npos : end - at);
  const std::string inside = tag.size() >= 3 && tag.front() == '<' && tag.back() == '>'
                                 ? tag.substr(1, tag.size() - 2)
                                 : "";
  const bool known = segment ? !inside.empty() && inside.size() <= 4 &&
                                   inside.find_first_not_of("0123456789") == std::string::npos
                             : inside == "a" || inside == "b" || inside == "c";
  if (!known)
    fail_at(path, number,
            segment ? "segment tag '" + tag + "' is not <N> (a user segment number)"
                    : "aspect tag '" + tag + "' is not one of <a> <b> <c>");
  at = end == std::string::npos ? line.size() : end + 1;
  return inside;
}

}  // namespace

std::vector<TextPair> read_kobe_pairs(const std::string& source_path,
                                      const std::string& target_path) {
  const std::vector<std::string> sources = read_lines(source_path);
  const std::vector<std::string> targets = read_lines(target_path);
  if (sources.size() != targets.size())
    throw UserError(source_path + " has " + std::to_string(sources.size()) + " lines but " +
                    target_path + " has " + std::to_string(targets.size()) +
                    ": a title and its text must be on the same line of each");
  std::vector<TextPair> pairs;
  pairs.reserve(sources.size());
  for (size_t i = 0; i < sources.size(); ++i) {
    const int64_t number = int64_t(i) + 1;
    const std::string& src = sources[i];
    require_utf8(source_path, number, src);
    require_utf8(target_path, number, targets[i]);
    TextPair pair;
    pair.line = number;
    size_t at = 0;
    pair.segment = take_tag(src, at, source_path, number, /*segment=*/true);
    pair.aspect = take_tag(src, at, source_path, number, /*segment=*/false);
    pair.title = join_tokens(src, at);
    pair.text = join_tokens(targets[i], 0);
    if (pair.title.empty()) fail_at(source_path, number, "empty title");
    if (pair.text.empty()) fail_at(target_path, number, "empty text");
    pairs.push_back(std::move(pair));
  }
  if (pairs.empty()) throw UserError(source_path + ": no pairs");
  return pairs;
}

std::vector<TextPair> read_jsonl_pairs(const std::string& path) {
  const std::vector<std::string> lines = read_lines(path);
  std::vector<TextPair> pairs;
  for (size_t i = 0; i < lines.size(); ++i) {
    const int64_t number = int64_t(i) + 1;
    const std::string& line = lines[i];
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    require_utf8(path, number, line);
    Json object;
    try {
      object = Json::parse(line);
    } catch (const std::exception&) {
      fail_at(path, number, "not a JSON object");
    }
    if (!object.is_object()) fail_at(path, number, "not a JSON object");
    auto field = [&](const char* key) {
      if (!object.contains(key) || !object[key].is_string())
        fail_at(path, number, std::string("missing string field '") + key + "'");
      return object[key].get<std::string>();
    };
    TextPair pair;
    pair.line = number;
    pair.title = field("title");
    pair.segment = field("segment");
    pair.aspect = field("aspect");
    pair.text = field("text");
    for (const std::string* value : {&pair.title, &pair.segment, &pair.aspect, &pair.text})
      if (value->find('\0') != std::string::npos) fail_at(path, number, "a NUL character (U+0000)");
    if (pair.title.empty()) fail_at(path, number, "empty title");
    if (pair.text.empty()) fail_at(path, number, "empty text");
    if (pair.segment.empty()) fail_at(path, number, "empty segment");
    if (pair.aspect.empty()) fail_at(path, number, "empty aspect");
    pairs.push_back(std::move(pair));
  }
  if (pairs.empty()) throw UserError(path + ": no pairs");
  return pairs;
}

}  // namespace cf::data::text
