// cartformer eval: placeholder until its implementation lands (see the open issue).
#include "core/error.h"
#include "tools/cli/commands.h"

namespace cf::cli {

int run_eval(int, char**) { throw UserError("'eval' is not built yet"); }

}  // namespace cf::cli
