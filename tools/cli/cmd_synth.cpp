// cartformer synth: placeholder until its implementation lands (see the open issue).
#include "core/error.h"
#include "tools/cli/commands.h"

namespace cf::cli {

int run_synth(int, char**) { throw UserError("'synth' is not built yet"); }

}  // namespace cf::cli
