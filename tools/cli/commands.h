// The subcommands of the `cartformer` binary: each is a thin main over library code.
#pragma once

namespace cf::cli {

// Each receives the arguments after the subcommand name and returns the process exit code.
// They throw cf::UserError for user mistakes; main() turns that into one line and exit 1.
int run_synth(int argc, char** argv);     // tools/cli/cmd_synth.cpp
int run_prep(int argc, char** argv);      // tools/cli/cmd_prep.cpp
int run_train(int argc, char** argv);     // tools/cli/cmd_train.cpp
int run_sweep(int argc, char** argv);     // tools/cli/cmd_sweep.cpp
int run_eval(int argc, char** argv);      // tools/cli/cmd_eval.cpp
int run_generate(int argc, char** argv);  // tools/cli/cmd_generate.cpp
int run_inspect(int argc, char** argv);   // tools/cli/cmd_inspect.cpp
int run_report(int argc, char** argv);    // tools/cli/cmd_report.cpp
int run_target(int argc, char** argv);    // tools/cli/cmd_target.cpp
int run_privacy(int argc, char** argv);   // tools/cli/cmd_privacy.cpp
int run_copy(int argc, char** argv);      // tools/cli/cmd_copy.cpp

}  // namespace cf::cli
