// homesipctl: what a running homesipd says about itself, over its admin
// socket (server.admin_socket): its plugins, the bindings it holds, its
// counters, as a table for people or as JSON for scripts.
//
//   homesipctl --socket /run/homesip/H1.sock bindings U1@C1.D1.H1
//   homesipctl --socket /run/homesip/H1.sock --json tree.tree
//   homesipctl --socket /run/homesip/H1.sock locate U1@C1.D1.H2   (a bare name: tree.locate)
//   homesipctl --socket /run/homesip/H1.sock user add U1@C1.D1.H1 --role owner
//
// `user add|passwd|del|list` manage the auth-digest plugin's users: the
// password is asked at the terminal (twice, not echoed) or read from a file,
// never taken from the command line; only its HA1 values (MD5 and SHA-256,
// realm = the AOR's domain) leave this program.
//
// `pki init|issue` (pki.hpp) needs no server: a CA and the servers' TLS
// certificates, in the layout server.tls_certificates reads.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "homesip/digest/digest.hpp"
#include "pki.hpp"

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

// ---- user add|passwd|del|list: the auth-digest plugin's users ----

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
class ServerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

constexpr const char* kAuthPlugin = "auth-digest";

// "U1@C1.D1.H1" (a leading "sip:" is dropped): user and domain both given,
// nothing a SIP URI's user part or host would not take.
std::string checked_aor(std::string aor) {
  if (aor.rfind("sip:", 0) == 0) aor.erase(0, 4);
  const size_t at = aor.find('@');
  const bool ok = at != std::string::npos && at > 0 && at + 1 < aor.size() &&
                  aor.find('@', at + 1) == std::string::npos &&
                  std::none_of(aor.begin(), aor.end(), [](unsigned char c) {
                    return std::isspace(c) || std::iscntrl(c) || c == ':' || c == ';' || c == '"' || c == ',';
                  });
  if (!ok) throw UsageError("not an address of record: '" + aor + "' (e.g. U1@C1.D1.H1)");
  return aor;
}

// The terminal's settings while echo is off, put back on Ctrl-C too.
termios saved_terminal{};
volatile std::sig_atomic_t echo_off = 0;

extern "C" void restore_terminal_and_exit(int signal_number) {
  if (echo_off) ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_terminal);
  static const char newline = '\n';
  [[maybe_unused]] const auto written = ::write(STDERR_FILENO, &newline, 1);
  ::_exit(128 + signal_number);
}

// One line typed at the terminal without echo.
std::string ask_hidden(const std::string& prompt) {
  std::cerr << prompt << std::flush;
  if (::tcgetattr(STDIN_FILENO, &saved_terminal) != 0)
    throw UsageError(std::string("cannot read the terminal: ") + std::strerror(errno));
  termios quiet = saved_terminal;
  quiet.c_lflag &= static_cast<tcflag_t>(~ECHO);
  quiet.c_lflag |= ECHONL;
  struct sigaction action {};
  action.sa_handler = restore_terminal_and_exit;
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  echo_off = 1;
  ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  std::string line;
  const bool got = static_cast<bool>(std::getline(std::cin, line));
  ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_terminal);  // keeps what was typed ahead
  echo_off = 0;
  if (!got) throw UsageError("no password typed");
  return line;
}

// The new password: from `file` (its first line; "-": standard input), or
// asked twice at the terminal. Never empty.
std::string read_password(const std::string& file, const std::string& aor) {
  std::string password;
  if (!file.empty()) {
    std::ifstream in;
    std::istream* source = &std::cin;
    if (file != "-") {
      in.open(file);
      if (!in) throw UsageError("cannot read " + file + ": " + std::strerror(errno));
      source = &in;
      struct stat info {};
      if (::stat(file.c_str(), &info) == 0 && (info.st_mode & 077) != 0)
        std::cerr << "homesipctl: warning: " << file << " is open to group or others (chmod 600 " << file
                  << ")\n";
    }
    if (!std::getline(*source, password)) password.clear();
    if (!password.empty() && password.back() == '\r') password.pop_back();
  } else {
    if (!::isatty(STDIN_FILENO))
      throw UsageError(
          "no terminal to ask the password at: give --password-file FILE (- for standard input)");
    password = ask_hidden("Password for " + aor + ": ");
    const std::string again = ask_hidden("Again: ");
    if (again != password) throw UsageError("the two passwords differ; nothing changed");
  }
  if (password.empty()) throw UsageError("the password is empty; nothing changed");
  return password;
}

// Runs auth-digest.<name> with `arguments`; its result, or throws.
json run_plugin_command(const std::string& socket_path, const std::string& name,
                        const std::vector<std::string>& arguments) {
  const json answer =
      ask(socket_path, {{"command", std::string(kAuthPlugin) + "." + name}, {"args", {{"argv", arguments}}}});
  if (!answer.value("ok", false)) {
    std::string why = answer.value("error", std::string("the server refused"));
    if (why.find("unknown command") != std::string::npos)
      why += " (load the auth-digest plugin at this server to keep users)";
    throw ServerError(why);
  }
  const json& result = answer["result"];
  if (result.is_object() && result.contains("error") && result.size() == 1)
    throw ServerError(text(result["error"]));
  return result;
}

// The users of `domain` (the plugin's realm when empty), as the server lists them.
json list_users(const std::string& socket_path, const std::string& domain) {
  return run_plugin_command(socket_path, "user-list",
                            domain.empty() ? std::vector<std::string>{} : std::vector<std::string>{domain});
}

// Creates or replaces `aor` with `role` and both HA1 values of `password`.
json put_user(const std::string& socket_path, const std::string& aor, const std::string& role,
              std::string password) {
  namespace digest = homesip::digest;
  const size_t at = aor.find('@');
  const std::string user = aor.substr(0, at), realm = aor.substr(at + 1);
  std::vector<std::string> arguments{aor, role};
  for (const auto algorithm : {digest::Algorithm::kSha256, digest::Algorithm::kMd5})
    arguments.push_back(std::string(digest::algorithm_name(algorithm)) + ":" +
                        digest::ha1(algorithm, user, realm, password));
  std::fill(password.begin(), password.end(), '\0');
  return run_plugin_command(socket_path, "user-put", arguments);
}

bool same_aor(std::string a, std::string b) {
  auto lower = [](std::string& s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  };
  lower(a);
  lower(b);
  return a == b;
}

void print_users(const json& users) {
  if (!users.is_array() || users.empty()) {
    std::cout << (users.is_array() ? "no users\n" : text(users) + "\n");
    return;
  }
  size_t width = 24;
  for (const auto& u : users) width = std::max(width, text(u.value("aor", json(""))).size() + 2);
  std::cout << std::left << std::setw(static_cast<int>(width)) << "AOR" << std::setw(10) << "ROLE"
            << "ALGORITHMS\n";
  for (const auto& u : users) {
    const json algorithms = u.value("algorithms", json::array());
    std::cout << std::setw(static_cast<int>(width)) << text(u.value("aor", json(""))) << std::setw(10)
              << text(u.value("role", json("")))
              << (algorithms.is_array() ? joined(algorithms) : text(algorithms)) << "\n";
  }
}

struct UserCommand {
  std::string aor, role = "member", password_file, domain;
};

int run_user_command(const std::string& socket_path, const std::string& action, UserCommand user,
                     bool as_json) {
  if (action == "list") {
    const json users = list_users(socket_path, user.domain);
    if (as_json)
      std::cout << users.dump(2) << "\n";
    else
      print_users(users);
    return 0;
  }
  const std::string aor = checked_aor(user.aor);
  json result;
  if (action == "del") {
    result = run_plugin_command(socket_path, "user-del", {aor});
    if (!as_json) std::cout << aor << (result.value("removed", true) ? " removed\n" : " was not there\n");
  } else {
    std::string role = user.role;
    if (action == "passwd") {  // the role stays: read it first
      const json users = list_users(socket_path, aor.substr(aor.find('@') + 1));
      const auto found = std::find_if(users.begin(), users.end(), [&](const json& u) {
        return u.is_object() && same_aor(text(u.value("aor", json(""))), aor);
      });
      if (found == users.end())
        throw ServerError("no user " + aor + " at this server (user add creates one)");
      role = text(found->value("role", json("member")));
    }
    result = put_user(socket_path, aor, role, read_password(user.password_file, aor));
    if (!as_json)
      std::cout << aor << " (" << role << ") " << (action == "add" ? "saved" : "has a new password") << "\n";
  }
  if (as_json) std::cout << result.dump(2) << "\n";
  return 0;
}

// pki init|issue: files only, no server.
int run_pki_command(bool init, const std::string& ca_dir, homesip::pki::IssueRequest issue) {
  try {
    if (init) {
      homesip::pki::init_ca(ca_dir);
      std::cout << "CA made in " << ca_dir << ": ca.key (keep it private), cafile.pem (give it to clients: "
                << "homesip-ua --ca, server.tls_certificates)\n";
      return 0;
    }
    issue.ca_dir = ca_dir;
    const auto out = homesip::pki::issue(issue);
    std::cout << "certificate for " << issue.aor << " in " << out.string()
              << ": agent.pem (key and chain, 0600), cafile.pem; server.tls_certificates: " << out.string()
              << "\n";
    return 0;
  } catch (const homesip::pki::PkiError& e) {
    std::cerr << "homesipctl: pki: " << e.what() << "\n";
    return 1;
  }
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
  // `homesipctl stats --json` as well as `homesipctl --json stats`: these
  // hand --json to the app. Not the others, whose typos must not pass
  // silently into the app's extras (user add ... --rol owner).
  bindings->fallthrough();
  app.add_subcommand("plugins", "the plugins the server loaded, in order")->fallthrough();
  app.add_subcommand("stats", "the server's identity, uptime and counters")->fallthrough();
  app.add_subcommand("help", "the commands the server answers")->fallthrough();
  UserCommand user;
  auto* users = app.add_subcommand("user", "the auth-digest plugin's users (digest credentials, roles)");
  users->require_subcommand(1);
  users->allow_extras(false);  // its subcommands inherit this: no stray word is taken silently
  auto* user_add = users->add_subcommand("add", "creates or replaces a user; asks its password twice");
  user_add->add_option("aor", user.aor, "the user's address of record, e.g. U1@C1.D1.H1 (realm: C1.D1.H1)")
      ->required();
  user_add->add_option("--role", user.role, "owner, member, guest, or server (a child server)")
      ->check(CLI::IsMember({"owner", "member", "guest", "server"}))
      ->capture_default_str();
  auto* user_passwd = users->add_subcommand("passwd", "a new password for a user; the role stays");
  user_passwd->add_option("aor", user.aor, "the user's address of record")->required();
  for (auto* sub : {user_add, user_passwd})
    sub->add_option("--password-file", user.password_file,
                    "read the password from the first line of this file (- for standard input) "
                    "instead of asking at the terminal");
  users->add_subcommand("del", "removes a user")
      ->add_option("aor", user.aor, "the user's address of record")
      ->required();
  users->add_subcommand("list", "the users of a domain: AOR, role, algorithms (never a password or HA1)")
      ->add_option("domain", user.domain, "e.g. C1.D1.H1; default: the plugin's realm");
  homesip::pki::IssueRequest issue;
  std::string ca_dir;
  auto* pki = app.add_subcommand("pki", "a small CA for the tree's TLS: no server needed");
  pki->require_subcommand(1);
  pki->allow_extras(false);
  auto* pki_init =
      pki->add_subcommand("init", "make a CA in DIR: ca.key (EC P-256, 0600) and cafile.pem (10 years)");
  pki_init->add_option("dir", ca_dir, "the CA's directory (made 0700 when missing)")->required();
  auto* pki_issue = pki->add_subcommand(
      "issue", "a server certificate signed by the CA in DIR (2 years): CERTDIR/agent.pem and cafile.pem");
  pki_issue->add_option("dir", ca_dir, "the CA's directory (pki init)")->required();
  pki_issue
      ->add_option(
          "aor", issue.aor,
          "the server's NAME@DOMAIN, e.g. H1@C1.D1 (SAN URI sip:H1@C1.D1); the top's NAME alone (C1)")
      ->required();
  pki_issue->add_option("--ip", issue.ips, "an address clients reach it at (repeatable)");
  pki_issue->add_option("--dns", issue.dns, "a host name clients reach it at (repeatable)");
  pki_issue->add_option("--out", issue.out,
                        "CERTDIR, for server.tls_certificates (default: DIR/NAME@DOMAIN)");
  pki_issue->add_flag(
      "--user", issue.user,
      "a user's terminal (homesip-ua answer --listen tls:): names only its hosts, not the AOR, "
      "so that no server takes it for a server of the tree");
  app.footer(
      "Plugin commands: <plugin>.<command> ARG..., or <command> ARG... when one plugin has it\n"
      "(with the tree plugin: homesipctl tree, homesipctl locate U1@C1.D1.H1).");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }
  if (pki->parsed()) return run_pki_command(pki_init->parsed(), ca_dir, issue);
  if (users->parsed()) {
    try {
      return run_user_command(socket_path, users->get_subcommands().front()->get_name(), user, as_json);
    } catch (const Unreachable& e) {
      std::cerr << "homesipctl: " << e.what() << "\n";
      return kUnreachable;
    } catch (const UsageError& e) {
      std::cerr << "homesipctl: " << e.what() << "\n";
      return 1;
    } catch (const ServerError& e) {
      std::cerr << "homesipctl: " << e.what() << "\n";
      return kServerError;
    } catch (const json::exception& e) {
      std::cerr << "homesipctl: the answer is not JSON: " << e.what() << "\n";
      return kServerError;
    }
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
