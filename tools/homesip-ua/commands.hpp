// The four subcommands of homesip-ua.
#pragma once

#include <memory>

#include "options.hpp"
#include "terminal.hpp"

namespace homesip::ua {

std::unique_ptr<Terminal> make_command(const Options& options);

}  // namespace homesip::ua
