// Helpers for tests that run real processes: free loopback ports, temporary
// directories, child processes stopped by PID, and homesipd itself.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace homesip::test {

// A UDP+TCP port free on 127.0.0.1 right now.
uint16_t free_port();

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

void write_file(const std::filesystem::path& path, const std::string& text);
std::string read_file(const std::filesystem::path& path);

// A child process; killed (SIGKILL) by PID on destruction if still running.
class Process {
 public:
  Process(std::vector<std::string> argv, const std::filesystem::path& log_file);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  pid_t pid() const { return pid_; }
  bool running();
  // Waits for exit; returns the exit status (or 128+signal), -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  void signal(int sig);
  int stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));  // SIGTERM, then wait
  void kill9();

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  bool exited_ = false;
};

// Runs a command to completion; returns its exit code; output goes to `output`.
int run(const std::vector<std::string>& argv, std::string* output = nullptr,
        std::chrono::milliseconds timeout = std::chrono::seconds(60));

// A UDP socket bound to an ephemeral port on 127.0.0.1 (4 MiB receive buffer).
class UdpSocket {
 public:
  UdpSocket();
  ~UdpSocket();
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;
  uint16_t port() const { return port_; }
  void send(uint16_t to, const std::string& text) const;
  // The next datagram, or "" after `timeout`.
  std::string receive(std::chrono::milliseconds timeout) const;
  // The next datagram with the kernel's arrival time (SO_TIMESTAMPNS, ns since
  // the epoch): when it came, whatever the calling thread's scheduling.
  struct Arrival {
    std::string text;
    int64_t arrived_ns = 0;
  };
  std::optional<Arrival> receive_timed(std::chrono::milliseconds timeout) const;

 private:
  int fd_;
  uint16_t port_ = 0;
};

// A TCP connection to 127.0.0.1:port (closed on destruction), for raw SIP over a stream.
class TcpClient {
 public:
  explicit TcpClient(uint16_t port);
  ~TcpClient();
  TcpClient(const TcpClient&) = delete;
  TcpClient& operator=(const TcpClient&) = delete;
  bool connected() const { return connected_; }
  int fd() const { return fd_; }
  uint16_t local_port() const;
  // Sends all of `bytes`, or as much as the peer takes before it closes.
  bool send(const std::string& bytes);
  void shut_down_writing();
  // The next response's head (through the blank line; our responses have no
  // body), "" on timeout or close.
  std::string response(std::chrono::milliseconds timeout = std::chrono::seconds(3));
  // True when the server closes the connection (EOF or reset) before `timeout`.
  bool closed_by_peer(std::chrono::milliseconds timeout);

 private:
  bool read_some(std::chrono::steady_clock::time_point deadline);
  int fd_;
  bool connected_ = false;
  bool eof_ = false;
  std::string buffer_;
};

// Sends one raw SIP message over UDP to 127.0.0.1:port and returns the first
// final response ("" on timeout). "$PORT$" in `message` becomes the local port;
// lines may end in \n (made \r\n here).
std::string udp_exchange(uint16_t port, const std::string& message,
                         std::chrono::milliseconds timeout = std::chrono::seconds(3));
// "SIP/2.0 400 Bad Request\r\n..." -> 400; 0 when not a response.
int status_of(const std::string& response);
// The lines of a message's head (request or status line, then the header
// lines, up to the blank line), without their line ends.
std::vector<std::string> head_lines(const std::string& message);
// The request or status line ("" for none).
std::string start_line(const std::string& message);
// Every value of header `name` (full name only, as written), in order.
std::vector<std::string> header_values(const std::string& message, const std::string& name);
// `text` with every bare \n made \r\n, as the wire wants (a \r\n stays as it is).
std::string crlf(const std::string& text);

// Paths of the build tree, set by CMake.
std::string homesipd_path();
std::string plugin_dir();
std::string scenario_dir();
std::string source_dir();
std::string build_dir();

// The first columns of homesip-loadgen's --tsv line (bench/loadgen/main.cpp).
struct LoadgenLine {
  uint64_t requests = 0, ok = 0, failed = 0, timed_out = 0, retransmissions = 0, challenges_again = 0;
};
LoadgenLine parse_loadgen_tsv(const std::string& out);

// Sends an OPTIONS with SIPp until homesipd answers (or the timeout passes).
bool wait_for_sip(uint16_t port, std::chrono::milliseconds timeout);
// Polls `check` every 50 ms until it holds or `timeout` passed, then once
// more: true as soon as it holds.
bool eventually(const std::function<bool()>& check,
                std::chrono::milliseconds timeout = std::chrono::seconds(15));

// A homesipd on free ports with a config written to a temp dir. The core
// knows no tree: `name` and `domain` only name the config and log files;
// where the server stands goes in a tree block among its plugins
// (tree_plugin_yaml).
struct ServerOptions {
  std::string name = "H1";
  std::string domain = "C1.D1";
  std::string plugins_yaml;  // the "plugins:" list body
  std::string extra_server_yaml;
};

// A "plugins:" list entry for the tree plugin: this server's name and domain
// ("" at the top), the top server's address ("" at the top), then
// `extra_settings` as written ("    keepalive_interval: 1\n").
std::string tree_plugin_yaml(const std::string& name, const std::string& domain, const std::string& top,
                             const std::string& extra_settings = "");

class HomesipServer {
 public:
  HomesipServer(const TempDir& dir, ServerOptions options);
  // Stops homesipd (SIGTERM) unless the test ended it itself (stop(), kill9()),
  // and fails the test when it did not exit with 0: a crash during the test or
  // at shutdown (a use after free, a sanitizer's report) must not pass unseen.
  ~HomesipServer();
  // Put before homesipd's command line at start(), e.g. {"prlimit", "--nofile=64", "--"}.
  void set_command_prefix(std::vector<std::string> prefix) { command_prefix_ = std::move(prefix); }
  // Put after homesipd's own arguments at start(), e.g. {"--set", "server.listen=[...]"}.
  void set_extra_arguments(std::vector<std::string> arguments) { extra_arguments_ = std::move(arguments); }
  void start();
  void kill9();
  int stop();
  uint16_t port() const { return port_; }
  pid_t pid() const;  // -1 when not started
  std::filesystem::path log() const { return log_; }
  std::filesystem::path config() const { return config_; }

 private:
  uint16_t port_;
  std::filesystem::path config_;
  std::filesystem::path log_;
  std::vector<std::string> command_prefix_;
  std::vector<std::string> extra_arguments_;
  std::unique_ptr<Process> process_;
  bool end_checked_by_test_ = false;  // stop() or kill9() was called, or start() threw
};

// Runs a SIPp scenario against 127.0.0.1:port as a UAC; returns SIPp's exit code (0: all calls ok).
struct SippRun {
  SippRun(std::string scenario_file, uint16_t server_port, std::string sipp_transport = "u1")
      : scenario(std::move(scenario_file)), port(server_port), transport(std::move(sipp_transport)) {}
  std::string scenario;  // file name in scenario_dir()
  uint16_t port;
  std::string transport;  // u1, t1
  int calls = 1;
  int rate = 10;
  std::string csv;                          // injection file
  std::map<std::string, std::string> keys;  // -key name value
  std::vector<std::string> extra;
};
int sipp(const SippRun& run, std::string* output = nullptr);

}  // namespace homesip::test
