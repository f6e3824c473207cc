#include <iostream>
#include <stdexcept>

#include "daemon.hpp"

int main(int argc, char** argv) {
  homesip::core::CommandLine cmd;
  try {
    cmd = homesip::core::parse_command_line(argc, argv);
  } catch (const std::invalid_argument& e) {
    std::cerr << e.what();
    return homesip::core::kExitUsage;
  }
  return homesip::core::run_daemon(cmd);
}
