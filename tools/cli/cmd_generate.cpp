// cartformer generate: placeholder until its implementation lands (see the open issue).
#include "core/error.h"
#include "tools/cli/commands.h"

namespace cf::cli {

int run_generate(int, char**) { throw UserError("'generate' is not built yet"); }

}  // namespace cf::cli
