// cartformer inspect: placeholder until its implementation lands (see the open issue).
#include "core/error.h"
#include "tools/cli/commands.h"

namespace cf::cli {

int run_inspect(int, char**) { throw UserError("'inspect' is not built yet"); }

}  // namespace cf::cli
