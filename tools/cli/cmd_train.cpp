// cartformer train: placeholder until its implementation lands (see the open issue).
#include "core/error.h"
#include "tools/cli/commands.h"

namespace cf::cli {

int run_train(int, char**) { throw UserError("'train' is not built yet"); }

}  // namespace cf::cli
