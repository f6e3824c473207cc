// homesip-ua: a terminal for the SIP management tree (see README.md here).
#include <cstdio>
#include <exception>

#include "commands.hpp"

int main(int argc, char** argv) {
  using namespace homesip::ua;
  Options options;
  try {
    options = parse_options(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "homesip-ua: %s\n%s", e.what(), usage().c_str());
    return kExitUsage;
  }
  try {
    return make_command(options)->run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "homesip-ua: %s\n", e.what());
    return kExitFailed;
  }
}
