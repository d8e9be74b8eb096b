// The subcommands built into `hugeshim`, one file each (cmd_<name>.cpp).
// Each gets the arguments after the subcommand name (argv[0] is the name)
// and returns the process exit status.
#pragma once

#include <string>

namespace hugeshim::collector {

int cmd_run(int argc, char** argv);
int cmd_record(int argc, char** argv);
int cmd_report(int argc, char** argv);
int cmd_config(int argc, char** argv);
int cmd_serve(int argc, char** argv);
int cmd_export(int argc, char** argv);
int cmd_top(int argc, char** argv);

// Directory of the running `hugeshim` executable.
std::string own_directory();

}  // namespace hugeshim::collector
