// homesip-ua: a terminal for the SIP management tree (see README.md here).
#include <cstdio>
#include <exception>

#include "commands.hpp"

int main(int argc, char** argv) {
  using namespace homesip::ua;
  Options options;
  if (const auto code = parse_options(argc, argv, options)) return *code;
  try {
    return make_command(options)->run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "homesip-ua: %s\n", e.what());
    return kExitFailed;
  }
}
