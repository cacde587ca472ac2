#include "data/readers/row_rejects.h"

namespace cf::data {

void report_reject(const RejectSink& sink, std::string_view reason, const std::string& file,
                   int64_t line, std::string_view row) {
  if (!sink) return;
  RowReject reject;
  reject.reason = std::string(reason);
  reject.file = file;
  reject.line = line;
  if (row.size() <= kRejectExcerptBytes) {
    reject.excerpt = std::string(row);
  } else {
    size_t cut = kRejectExcerptBytes;
    // Back off continuation bytes (10xxxxxx) so a multi-byte character is never split.
    while (cut > 0 && (static_cast<unsigned char>(row[cut]) & 0xC0) == 0x80) --cut;
    reject.excerpt = std::string(row.substr(0, cut)) + "...";
  }
  sink(reject);
}

}  // namespace cf::data
