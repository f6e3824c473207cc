// control/state/watch: entities of a family (sip:light.kitchen@C1.D1.H1) reached
// through the tree like users; JSON bodies as docs/appliances.md describes them.
#pragma once

#include <memory>
#include <string>

#include "options.hpp"
#include "terminal.hpp"

namespace homesip::ua {

// A state body as one line: `light.kitchen on {"brightness":128}` (the
// friendly name left out); the text as it came when it is not a state.
std::string state_line(const std::string& body);
// The body as one line of JSON (as it came when it is not JSON).
std::string compact_json(const std::string& body);
// "a\"b" as a JSON string literal.
std::string json_string(const std::string& text);
// A final failure's exit code: a refusal (4xx but 408) kExitFailed; 408, 5xx,
// 6xx and 483 kExitUnreachable.
int appliance_exit_code(int status);

std::unique_ptr<Terminal> make_watch_command(const Options& options);

}  // namespace homesip::ua
