#include "test_support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace homesip::test {
namespace fs = std::filesystem;

// The kernel's ephemeral ports: any process that binds port 0 or connects
// may take one of them between our check and homesipd's bind.
std::pair<int, int> ephemeral_port_range() {
  int low = 32768, high = 60999;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> low >> high;
  return {low, high};
}

namespace {

// Claims `port` for this test process until it exits: a lock on a file per
// port that every test process's free_port() takes, so two test binaries
// running at once (ctest -j) never hand out the same port, which the bind
// check alone cannot promise (the first may not have bound it yet). The lock
// goes with the process, whatever way it ends.
bool claim_for_this_process(uint16_t port) {
  static const std::string directory = "/tmp/homesip-test-ports";
  ::mkdir(directory.c_str(), 01777);
  const std::string path = directory + "/" + std::to_string(port);
  const int opened = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (opened < 0) return true;  // no lock to be had: the bind check alone, as before
  // Kept high: tests hand low descriptors to children by number ("3<&7" in
  // sh -c, which dash refuses above 9).
  const int fd = ::fcntl(opened, F_DUPFD_CLOEXEC, 512);
  ::close(opened);
  if (fd < 0) return true;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return false;  // another test process holds it
  }
  return true;  // fd stays open (and locked) for the rest of the process
}

}  // namespace

uint16_t free_port() {
  // Random, so parallel test binaries rarely race for the same port, and
  // outside the ephemeral range, where clients started meanwhile pick theirs.
  static std::mt19937 rng(static_cast<unsigned>(getpid()) ^ static_cast<unsigned>(time(nullptr)));
  const auto [low, high] = ephemeral_port_range();
  const bool below = low - 10000 >= 65535 - high;  // the larger free span
  const int first = below ? 10000 : high + 1;
  const int span = below ? low - 10000 : 65535 - high;
  if (span < 100) throw std::runtime_error("the ephemeral port range leaves no ports for tests");
  for (int attempt = 0; attempt < 200; ++attempt) {
    const uint16_t port =
        static_cast<uint16_t>(first + static_cast<int>(rng() % static_cast<unsigned>(span)));
    bool ok = true;
    for (int type : {SOCK_DGRAM, SOCK_STREAM}) {
      const int fd = socket(AF_INET, type, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      ok = ok && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      close(fd);
    }
    if (ok && claim_for_this_process(port)) return port;
  }
  throw std::runtime_error("no free port");
}

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "homesip-test-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  if (getenv("HOMESIP_KEEP_TEST_DIRS")) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Process::Process(std::vector<std::string> argv, const fs::path& log_file) {
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    const int fd = open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::fprintf(stderr, "exec %s failed: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
}

Process::~Process() {
  if (running()) kill9();
}

bool Process::running() {
  if (exited_ || pid_ <= 0) return false;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exited_ = true;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return true;
}

int Process::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return status_;
}

void Process::signal(int sig) {
  if (running()) ::kill(pid_, sig);
}

int Process::stop(std::chrono::milliseconds timeout) {
  signal(SIGTERM);
  const int rc = wait(timeout);
  if (rc == -1) kill9();
  return rc;
}

void Process::kill9() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  wait(std::chrono::seconds(10));
}

int run(const std::vector<std::string>& argv, std::string* output, std::chrono::milliseconds timeout) {
  TempDir dir;
  const auto log = dir / "out.txt";
  Process p(argv, log);
  int rc = p.wait(timeout);
  if (rc == -1) {
    p.kill9();
    rc = -1;
  }
  if (output) *output = read_file(log);
  return rc;
}

UdpSocket::UdpSocket() : fd_(socket(AF_INET, SOCK_DGRAM, 0)) {
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local);
  socklen_t len = sizeof local;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &len);
  port_ = ntohs(local.sin_port);
  int size = 4 * 1024 * 1024;
  setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  const int one = 1;
  setsockopt(fd_, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
}

UdpSocket::~UdpSocket() { close(fd_); }

void UdpSocket::send(uint16_t to, const std::string& text) const {
  sockaddr_in server{};
  server.sin_family = AF_INET;
  server.sin_port = htons(to);
  server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sendto(fd_, text.data(), text.size(), 0, reinterpret_cast<sockaddr*>(&server), sizeof server);
}

std::string UdpSocket::receive(std::chrono::milliseconds timeout) const {
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string buffer(65536, '\0');
  const ssize_t n = recv(fd_, buffer.data(), buffer.size(), 0);
  buffer.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return buffer;
}

std::optional<UdpSocket::Arrival> UdpSocket::receive_timed(std::chrono::milliseconds timeout) const {
  pollfd ready{fd_, POLLIN, 0};
  if (poll(&ready, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
  Arrival arrival;
  arrival.text.resize(65536);
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
  iovec vector{arrival.text.data(), arrival.text.size()};
  msghdr header{};
  header.msg_iov = &vector;
  header.msg_iovlen = 1;
  header.msg_control = control;
  header.msg_controllen = sizeof control;
  const ssize_t n = recvmsg(fd_, &header, 0);
  if (n < 0) return std::nullopt;
  arrival.text.resize(static_cast<size_t>(n));
  for (cmsghdr* c = CMSG_FIRSTHDR(&header); c; c = CMSG_NXTHDR(&header, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      timespec stamp{};
      std::memcpy(&stamp, CMSG_DATA(c), sizeof stamp);
      arrival.arrived_ns = stamp.tv_sec * 1'000'000'000LL + stamp.tv_nsec;
    }
  return arrival;
}

std::string udp_exchange(uint16_t port, const std::string& message, std::chrono::milliseconds timeout) {
  UdpSocket socket;
  std::string text;
  for (size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\n' && (i == 0 || message[i - 1] != '\r')) text += '\r';
    text += message[i];
  }
  for (size_t pos; (pos = text.find("$PORT$")) != std::string::npos;)
    text.replace(pos, 6, std::to_string(socket.port()));
  socket.send(port, text);
  std::string response;
  for (int i = 0; i < 10; ++i) {
    std::string datagram = socket.receive(timeout);
    if (datagram.empty()) break;
    response = std::move(datagram);
    if (status_of(response) >= 200) break;
  }
  return status_of(response) >= 200 ? response : std::string();
}

TcpClient::TcpClient(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0;
}

TcpClient::~TcpClient() { ::close(fd_); }

uint16_t TcpClient::local_port() const {
  sockaddr_in local{};
  socklen_t length = sizeof local;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &length);
  return ntohs(local.sin_port);
}

bool TcpClient::send(const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

void TcpClient::shut_down_writing() { ::shutdown(fd_, SHUT_WR); }

std::string TcpClient::response(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto end = buffer_.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::string head = buffer_.substr(0, end + 4);
      buffer_.erase(0, end + 4);
      return head;
    }
    if (!read_some(deadline)) return "";
  }
}

bool TcpClient::closed_by_peer(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (read_some(deadline)) buffer_.clear();
  return eof_;
}

bool TcpClient::read_some(std::chrono::steady_clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0 || eof_) return false;
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
  char chunk[65536];
  const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
  if (n <= 0) {
    eof_ = true;
    return false;
  }
  buffer_.append(chunk, static_cast<size_t>(n));
  return true;
}

std::string crlf(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n' && (out.empty() || out.back() != '\r')) out += '\r';
    out += c;
  }
  return out;
}

std::vector<std::string> head_lines(const std::string& message) {
  std::vector<std::string> lines;
  std::istringstream in(message);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) break;  // the blank line before the body
    lines.push_back(line);
  }
  return lines;
}

std::string start_line(const std::string& message) {
  const auto lines = head_lines(message);
  return lines.empty() ? "" : lines.front();
}

std::vector<std::string> header_values(const std::string& message, const std::string& name) {
  std::vector<std::string> values;
  for (const auto& line : head_lines(message))
    if (line.size() > name.size() && line.compare(0, name.size() + 1, name + ":") == 0)
      values.push_back(line.substr(line.find_first_not_of(' ', name.size() + 1)));
  return values;
}

int status_of(const std::string& response) {
  if (response.rfind("SIP/2.0 ", 0) != 0 || response.size() < 11) return 0;
  return std::atoi(response.substr(8, 3).c_str());
}

std::string homesipd_path() { return HOMESIP_TEST_HOMESIPD; }
std::string plugin_dir() { return HOMESIP_TEST_PLUGIN_DIR; }
std::string scenario_dir() { return HOMESIP_TEST_SCENARIO_DIR; }
std::string source_dir() { return HOMESIP_TEST_SOURCE_DIR; }
std::string build_dir() { return HOMESIP_TEST_BUILD_DIR; }

bool wait_for_sip(uint16_t port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    SippRun r{"options.xml", port};
    r.extra = {"-recv_timeout", "300"};
    if (sipp(r) == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

std::string tree_plugin_yaml(const std::string& name, const std::string& domain, const std::string& top,
                             const std::string& extra_settings) {
  std::string yaml = "  - plugin: tree\n    name: " + name + "\n    domain: \"" + domain + "\"\n";
  if (!top.empty()) yaml += "    top: " + top + "\n";
  return yaml + extra_settings;
}

HomesipServer::HomesipServer(const TempDir& dir, ServerOptions options) : port_(free_port()) {
  static int counter = 0;
  const std::string tag = options.name + "-" + std::to_string(++counter);
  config_ = dir / (tag + ".yaml");
  log_ = dir / (tag + ".log");
  std::ostringstream yaml;
  yaml << "server:\n"
       << "  listen: [udp:127.0.0.1:" << port_ << ", tcp:127.0.0.1:" << port_ << "]\n"
       << "  plugin_dirs: [" << plugin_dir() << "]\n"
       << options.extra_server_yaml << "log:\n  level: debug\n"
       << "plugins:\n"
       << options.plugins_yaml;
  write_file(config_, yaml.str());
}

HomesipServer::~HomesipServer() {
  if (!process_) return;
  const int rc = process_->stop();
  if (end_checked_by_test_ || rc == 0) return;
  const std::string log = read_file(log_);
  constexpr size_t kTail = 4000;
  ADD_FAILURE() << "homesipd (" << config_.string() << ") ended with "
                << (rc == -1 ? std::string("no exit within 10 s of SIGTERM (killed)")
                             : "status " + std::to_string(rc))
                << " at the end of the test; the end of its log:\n"
                << (log.size() > kTail ? log.substr(log.size() - kTail) : log);
}

void HomesipServer::start() {
  end_checked_by_test_ = false;
  std::vector<std::string> argv = command_prefix_;
  argv.insert(argv.end(), {homesipd_path(), "--config", config_.string()});
  argv.insert(argv.end(), extra_arguments_.begin(), extra_arguments_.end());
  process_ = std::make_unique<Process>(argv, log_);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool up = false;
  while (!up && process_->running() && std::chrono::steady_clock::now() < deadline)
    up = wait_for_sip(port_, std::chrono::milliseconds(500));
  if (!up) {
    end_checked_by_test_ = true;  // the exception reports it
    throw std::runtime_error("homesipd did not answer on port " + std::to_string(port_) + "; log:\n" +
                             read_file(log_));
  }
}

pid_t HomesipServer::pid() const { return process_ ? process_->pid() : -1; }

void HomesipServer::kill9() {
  end_checked_by_test_ = true;
  if (process_) process_->kill9();
}

int HomesipServer::stop() {
  end_checked_by_test_ = true;
  return process_ ? process_->stop() : 0;
}

int sipp(const SippRun& r, std::string* output) {
  TempDir dir;
  std::vector<std::string> argv = {"sipp",
                                   "127.0.0.1:" + std::to_string(r.port),
                                   "-sf",
                                   scenario_dir() + "/" + r.scenario,
                                   "-t",
                                   r.transport,
                                   "-i",
                                   "127.0.0.1",
                                   "-p",
                                   std::to_string(free_port()),
                                   "-m",
                                   std::to_string(r.calls),
                                   "-r",
                                   std::to_string(r.rate),
                                   "-nostdin",
                                   "-timeout",
                                   "60s",
                                   "-timeout_error",
                                   "-max_recv_loops",
                                   "1000",
                                   "-trace_err",
                                   "-error_file",
                                   (dir / "errors.log").string(),
                                   "-buff_size",
                                   "4194304"};
  if (!r.csv.empty()) {
    argv.push_back("-inf");
    argv.push_back(r.csv);
  }
  for (const auto& [k, v] : r.keys) {
    argv.push_back("-key");
    argv.push_back(k);
    argv.push_back(v);
  }
  argv.insert(argv.end(), r.extra.begin(), r.extra.end());
  std::string out;
  const int rc = run(argv, &out, std::chrono::seconds(90));
  if (output) *output = out + read_file(dir / "errors.log");
  return rc;
}

bool eventually(const std::function<bool()>& check, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (check()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return check();
}

LoadgenLine parse_loadgen_tsv(const std::string& out) {
  LoadgenLine line;
  std::istringstream in(out);
  in >> line.requests >> line.ok >> line.failed >> line.timed_out >> line.retransmissions >>
      line.challenges_again;
  return line;
}

}  // namespace homesip::test
