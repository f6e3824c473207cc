// The homesipd process: config -> logging -> loop -> SIP server -> plugins,
// serving until stopped, then the reverse.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config.hpp"

namespace homesip::core {

struct CommandLine {
  std::string config_file;
  std::vector<std::string> overrides;
  bool check_only = false;
  std::string describe_plugin;
};

enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 1,
  kExitConfig = 2,
  kExitPlugin = 3,
  kExitRuntime = 4,
};

// Parses argv; throws std::invalid_argument with a usage text.
CommandLine parse_command_line(int argc, char** argv);

// Runs the daemon; returns the process exit code. Installs SIGTERM/SIGINT handlers.
int run_daemon(const CommandLine& cmd);

}  // namespace homesip::core
