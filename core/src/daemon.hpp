// The homesipd process: config -> logging -> loop -> SIP server -> plugins,
// serving until stopped, then the reverse.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config.hpp"

namespace homesip::core {

struct CommandLine {
  std::string config_file;
  std::vector<std::string> overrides;
  bool check_only = false;
  std::string describe_plugin;
  bool dump_default = false;
};

enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 1,
  kExitConfig = 2,
  kExitPlugin = 3,
  kExitRuntime = 4,
};

// Parses argv into `cmd` (CLI11). Returns an exit code when the process should
// end now: kExitOk after --help (printed on stdout), kExitUsage after a usage
// error (printed on stderr); nothing when `cmd` is ready to run.
std::optional<int> parse_command_line(int argc, char** argv, CommandLine& cmd);

// Runs the daemon; returns the process exit code. Installs SIGTERM/SIGINT handlers.
int run_daemon(const CommandLine& cmd);

}  // namespace homesip::core
