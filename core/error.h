// UserError: the one exception type for mistakes a user can fix (bad file, bad config, wrong vocab).
#pragma once
#include <stdexcept>
#include <string>
#include <string_view>

namespace cf {

// Thrown for problems in the user's inputs. The CLI prints what() as one line
// ("cartformer <cmd>: error: <what>") and exits non-zero, so the message must name the file
// (or key) and the problem on its own. Internal invariants use assert / CF_CHECK instead.
class UserError : public std::runtime_error {
 public:
  explicit UserError(const std::string& message) : std::runtime_error(message) {}
};

// `message` with control characters (line breaks included) written as escapes (\n, \r, \t,
// \xNN): what the CLI prints of an error, so a file name or a library's text quoted in it
// cannot break the message over several lines.
std::string single_line(std::string_view message);

// Internal invariant: aborts with file:line; never used for user input.
[[noreturn]] void check_failed(const char* expr, const char* file, int line, const std::string& msg);

}  // namespace cf

#define CF_CHECK(cond, msg)                                                     \
  do {                                                                          \
    if (!(cond)) ::cf::check_failed(#cond, __FILE__, __LINE__, (msg));          \
  } while (0)
