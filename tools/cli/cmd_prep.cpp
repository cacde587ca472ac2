// cartformer prep: placeholder until its implementation lands (see the open issue).
#include "core/error.h"
#include "tools/cli/commands.h"

namespace cf::cli {

int run_prep(int, char**) { throw UserError("'prep' is not built yet"); }

}  // namespace cf::cli
