// homesipctl: what a running homesipd says about itself, over its admin
// socket (server.admin_socket): its plugins, the bindings it holds, its
// counters, as a table for people or as JSON for scripts.
//
//   homesipctl --socket /run/homesip/H1.sock bindings U1@C1.D1.H1
//   homesipctl --socket /run/homesip/H1.sock --json tree.tree
//   homesipctl --socket /run/homesip/H1.sock locate U1@C1.D1.H2   (a bare name: tree.locate)
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using nlohmann::json;

// Exit codes: 0 ok, 1 usage, 2 the server answered an error, 3 no server to ask.
constexpr int kServerError = 2;
constexpr int kUnreachable = 3;

class Unreachable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One request, one answer line.
json ask(const std::string& path, const json& request) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) throw Unreachable("socket path too long: " + path);
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    const std::string why = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    throw Unreachable("cannot reach homesipd at " + path + ": " + why +
                      " (is it running, with server.admin_socket set to this path?)");
  }
  const std::string line = request.dump() + "\n";
  ::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);
  std::string answer;
  char chunk[65536];
  for (ssize_t n; (n = ::recv(fd, chunk, sizeof chunk, 0)) > 0;) answer.append(chunk, static_cast<size_t>(n));
  ::close(fd);
  const auto end = answer.find('\n');
  if (end == std::string::npos) throw Unreachable("homesipd at " + path + " closed without an answer");
  return json::parse(answer.substr(0, end));
}

std::string text(const json& value) { return value.is_string() ? value.get<std::string>() : value.dump(); }

void print_bindings(const json& result) {
  if (result.empty()) {
    std::cout << "no bindings\n";
    return;
  }
  std::cout << std::left << std::setw(24) << "AOR" << std::setw(40) << "CONTACT" << std::setw(9) << "EXPIRES"
            << std::setw(5) << "Q" << std::setw(24) << "SOURCE"
            << "USER-AGENT\n";
  for (const auto& [aor, bindings] : result.items()) {
    if (bindings.empty()) std::cout << std::setw(24) << aor << "(none)\n";
    for (const auto& b : bindings)
      std::cout << std::setw(24) << aor << std::setw(40) << text(b["contact"]) << std::setw(9)
                << (std::to_string(b["expires_in"].get<int64_t>()) + "s") << std::setw(5) << text(b["q"])
                << std::setw(24) << text(b["source"]) << text(b["user_agent"]) << "\n";
  }
}

// "a, b" of a list of names (or of objects' "name").
std::string joined(const json& list, const char* field = nullptr) {
  std::string out;
  for (const auto& item : list) out += (out.empty() ? "" : ", ") + text(field ? item[field] : item);
  return out.empty() ? "-" : out;
}

void print_plugins(const json& result) {
  std::cout << std::left << std::setw(18) << "PLUGIN" << std::setw(10) << "VERSION" << std::setw(6) << "SDK"
            << "FILE\n";
  for (const auto& p : result) {
    std::cout << std::setw(18) << text(p["name"]) << std::setw(10) << text(p["version"]) << std::setw(6)
              << text(p["sdk"]) << text(p["path"]) << "\n";
    std::string handlers;
    for (const auto& h : p.value("handlers", json::array()))
      handlers += (handlers.empty() ? "" : ", ") + text(h["name"]) + " (" + text(h["phase"]) + "/" +
                  text(h["order"]) + ")";
    std::cout << "    provides: " << joined(p.value("provides", json::array()))
              << "  requires: " << joined(p.value("requires", json::array()))
              << "  uses: " << joined(p.value("uses", json::array())) << "\n"
              << "    handlers: " << (handlers.empty() ? "-" : handlers) << "\n"
              << "    commands: " << joined(p.value("commands", json::array()), "name") << "\n"
              << "    metrics: " << joined(p.value("metrics", json::array()), "name") << "\n";
  }
}

bool is_table(const json& value) { return value.is_array() && !value.empty() && value.front().is_object(); }

// An array of objects as a table: one column per key of the first object,
// each as wide as its widest cell (at least 20), each line after `indent`.
void print_table(const json& rows, const std::string& indent = "") {
  std::vector<std::string> columns;
  for (const auto& [key, value] : rows.front().items()) columns.push_back(key);
  std::vector<size_t> widths;
  for (const auto& c : columns) {
    size_t width = std::max<size_t>(c.size() + 2, 20);
    for (const auto& row : rows)
      if (row.contains(c)) width = std::max(width, text(row[c]).size() + 2);
    widths.push_back(width);
  }
  std::cout << indent;
  for (size_t i = 0; i < columns.size(); ++i) {
    std::string upper = columns[i];
    for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    std::cout << std::left << std::setw(static_cast<int>(widths[i])) << upper;
  }
  std::cout << "\n";
  for (const auto& row : rows) {
    std::cout << indent;
    for (size_t i = 0; i < columns.size(); ++i)
      std::cout << std::setw(static_cast<int>(widths[i]))
                << (row.contains(columns[i]) ? text(row[columns[i]]) : "");
    std::cout << "\n";
  }
}

void print_readable(const std::string& command, const json& result) {
  if (command == "bindings") return print_bindings(result);
  if (command == "plugins") return print_plugins(result);
  if (result.is_array() && !result.empty() && result.front().is_object()) return print_table(result);
  if (!result.is_object()) {
    std::cout << text(result) << "\n";
    return;
  }
  for (const auto& [key, value] : result.items()) {
    if (is_table(value)) {  // the tree's children: one line each
      std::cout << key << ":\n";
      print_table(value, "  ");
      continue;
    }
    if (value.is_array() && !value.empty()) {  // a path, contacts: one per line
      std::cout << key << ":\n";
      for (const auto& item : value) std::cout << "  " << text(item) << "\n";
      continue;
    }
    if (!value.is_object() || value.empty()) {
      std::cout << key << ": " << text(value) << "\n";
      continue;
    }
    // One line per member (stats' metrics), so a value can be read off with grep.
    std::cout << key << ":\n";
    for (const auto& [name, member] : value.items())
      std::cout << "  " << name << ": " << text(member) << "\n";
  }
}

// A bare name that is no core command ("tree", "locate") names a plugin's
// command when exactly one plugin has it: the server's help lists every
// command, plugin commands as "<plugin>.<name>". Returns the full name or
// throws std::invalid_argument saying what the server has instead.
std::string resolve_bare_command(const std::string& socket_path, const std::string& bare) {
  const json answer = ask(socket_path, {{"command", "help"}, {"args", json::object()}});
  const json& commands = answer.value("result", json::object());
  if (!answer.value("ok", false) || !commands.is_object())
    throw std::invalid_argument("the server did not list its commands");
  if (commands.contains(bare)) return bare;  // a core command this homesipctl has no subcommand for
  std::vector<std::string> matches;
  std::string every;
  for (const auto& [name, help] : commands.items()) {
    every += (every.empty() ? "" : ", ") + name;
    const auto dot = name.find('.');
    if (dot != std::string::npos && name.substr(dot + 1) == bare) matches.push_back(name);
  }
  if (matches.size() == 1) return matches.front();
  if (matches.empty())
    throw std::invalid_argument("no command '" + bare + "' at this server; it has: " + every);
  std::string candidates;
  for (const auto& m : matches) candidates += (candidates.empty() ? "" : ", ") + m;
  throw std::invalid_argument("'" + bare + "' is ambiguous: name one of " + candidates);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"homesipctl: ask a running homesipd (its server.admin_socket)", "homesipctl"};
  std::string socket_path = "/run/homesip/homesipd.sock";
  bool as_json = false;
  app.add_option("-s,--socket", socket_path, "the server's admin socket (server.admin_socket)")
      ->capture_default_str();
  app.add_flag("--json", as_json, "print the server's answer as JSON");
  // Besides the core's commands: a plugin's, "<plugin>.<command> ARG...", or
  // "<command> ARG..." when only one plugin has that command.
  app.require_subcommand(0, 1);
  app.allow_extras();
  std::string aor, domain;
  auto* bindings = app.add_subcommand("bindings", "bindings held by the server's location store");
  bindings->add_option(
      "aor", aor, "one address of record, e.g. U1@C1.D1.H1, or a domain, e.g. C1.D1.H1, for every AOR of it");
  bindings->add_option("--domain", domain, "every AOR of this domain");
  app.add_subcommand("plugins", "the plugins the server loaded, in order");
  app.add_subcommand("stats", "the server's identity, uptime and counters");
  app.add_subcommand("help", "the commands the server answers");
  app.footer(
      "Plugin commands: <plugin>.<command> ARG..., or <command> ARG... when one plugin has it\n"
      "(with the tree plugin: homesipctl tree, homesipctl locate U1@C1.D1.H1).");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }
  json args = json::object();
  std::string command;
  if (!app.get_subcommands().empty()) {
    command = app.get_subcommands().front()->get_name();
  } else {
    const std::vector<std::string> extras = app.remaining();
    if (extras.empty() || extras.front().empty() || extras.front().front() == '-') {
      std::cerr << "homesipctl: name a command: plugins, bindings, stats, help, <plugin>.<command> ARG... "
                   "or a plugin's <command> ARG...\n";
      return 1;
    }
    command = extras.front();
    args["argv"] = std::vector<std::string>(extras.begin() + 1, extras.end());
  }
  try {
    if (command.find('.') == std::string::npos && app.get_subcommands().empty())
      command = resolve_bare_command(socket_path, command);
  } catch (const Unreachable& e) {
    std::cerr << "homesipctl: " << e.what() << "\n";
    return kUnreachable;
  } catch (const std::invalid_argument& e) {
    std::cerr << "homesipctl: " << e.what() << "\n";
    return 1;
  } catch (const json::exception& e) {
    std::cerr << "homesipctl: the answer is not JSON: " << e.what() << "\n";
    return kServerError;
  }
  // A name without '@' is a domain: "bindings C1.D1.H1" lists a family.
  if (!aor.empty() && aor.find('@') == std::string::npos && domain.empty()) std::swap(aor, domain);
  if (!aor.empty()) args["aor"] = aor;
  if (!domain.empty()) args["domain"] = domain;
  try {
    const json answer = ask(socket_path, {{"command", command}, {"args", args}});
    if (!answer.value("ok", false)) {
      std::cerr << "homesipctl: " << answer.value("error", std::string("the server refused")) << "\n";
      return kServerError;
    }
    const json& result = answer["result"];
    if (result.is_object() && result.contains("error") && result.size() == 1) {
      std::cerr << "homesipctl: " << text(result["error"]) << "\n";
      return kServerError;
    }
    if (as_json)
      std::cout << result.dump(2) << "\n";
    else
      print_readable(command, result);
    return 0;
  } catch (const Unreachable& e) {
    std::cerr << "homesipctl: " << e.what() << "\n";
    return kUnreachable;
  } catch (const json::exception& e) {
    std::cerr << "homesipctl: the answer is not JSON: " << e.what() << "\n";
    return kServerError;
  }
}
