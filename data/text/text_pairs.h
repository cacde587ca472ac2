// Text pairs for copy generation (issue 16): a product title with the user segment and the
// aspect the copy is written for, and the marketing text written for it. Read from
//  - the KOBE/TaoDescribe pair of files: `<U> <A> t i t l e` lines (U a segment tag <N>,
//    A an aspect tag <a> appearance, <b> material, <c> function; one character per
//    space-separated token) and the matching `t e x t` lines, one pair per line number;
//  - or a JSONL file of {"title", "segment", "aspect", "text"} objects, any segment and aspect
//    names.
// Bad input is one UserError naming the file and line: malformed UTF-8, files of different
// line counts, an empty title or text, an unknown tag, a missing field.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cf::data::text {

struct TextPair {
  std::string title;    // UTF-8, the KOBE tokens joined without their separating spaces
  std::string segment;  // "0", "1", ... for KOBE files (the tag's inside), any name from JSONL
  std::string aspect;   // "a", "b", "c" for KOBE files
  std::string text;     // the description
  int64_t line = 0;     // 1-based line of the source (of both files for KOBE)
};

// The KOBE pair: `source_path` (tags + title) and `target_path` (text).
std::vector<TextPair> read_kobe_pairs(const std::string& source_path,
                                      const std::string& target_path);
// One JSON object per line; blank lines are skipped.
std::vector<TextPair> read_jsonl_pairs(const std::string& path);

}  // namespace cf::data::text
