#include "daemon.hpp"

int main(int argc, char** argv) {
  homesip::core::CommandLine cmd;
  if (const auto code = homesip::core::parse_command_line(argc, argv, cmd)) return *code;
  return homesip::core::run_daemon(cmd);
}
