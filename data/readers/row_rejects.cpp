#include "data/readers/row_rejects.h"

namespace cf::data {

void report_reject(const RejectSink& sink, std::string_view reason, const std::string& file,
                   int64_t line) {
  if (sink) sink(RowReject{std::string(reason), file, line});
}

}  // namespace cf::data
