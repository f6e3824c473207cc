#include "phone.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <regex>
#include <stdexcept>
#include <thread>

#include "test_support.hpp"

namespace homesip::test {

namespace {

// baresip's own clock (-t) ends it should the test hang.
constexpr int kPhoneLifetimeSeconds = 85;

// A range of ten free-looking UDP ports for baresip's RTP, inside 1..65535.
uint16_t rtp_range_start() { return static_cast<uint16_t>(std::min<int>(free_port(), 65500)); }

}  // namespace

PipedProcess::PipedProcess(const std::vector<std::string>& argv,
                           const std::map<std::string, std::string>& environment,
                           const std::filesystem::path& log_file) {
  // A write to a phone that has just gone must fail, not end the test.
  ::signal(SIGPIPE, SIG_IGN);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    // A phone must not outlive the test, even one killed by its timeout.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(pipe_fds[0], 0);
    const int log = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log >= 0) {
      ::dup2(log, 1);
      ::dup2(log, 2);
    }
    for (const auto& [name, value] : environment) ::setenv(name.c_str(), value.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipe_fds[0]);
  stdin_fd_ = pipe_fds[1];
}

PipedProcess::~PipedProcess() {
  if (!exited_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
}

void PipedProcess::send_line(const std::string& line) {
  const std::string text = line + "\n";
  if (stdin_fd_ >= 0 && ::write(stdin_fd_, text.data(), text.size()) < 0) {
    // The phone has gone; what it printed says why.
  }
}

bool PipedProcess::running() {
  if (exited_) return false;
  if (::waitpid(pid_, nullptr, WNOHANG) == pid_) exited_ = true;
  return !exited_;
}

bool PipedProcess::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

void PipedProcess::stop(std::chrono::milliseconds grace) {
  if (!running()) return;
  ::kill(pid_, SIGTERM);
  if (wait(grace)) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  exited_ = true;
}

std::string Phone::output() const { return read_file(log_file()); }

bool Phone::printed(const std::string& text) const { return output().find(text) != std::string::npos; }

bool installed(const std::string& program) { return run({"sh", "-c", "command -v " + program}) == 0; }

// baresip: the SIP trace (-s) and its own messages on stdout; commands of the
// menu module on stdin through the stdio module (which warns that stdin is no
// terminal and reads it anyway).
Baresip::~Baresip() {
  if (process_) process_->stop(std::chrono::seconds(2));
}

void Baresip::start() {
  const auto& dir = setup_.directory;
  std::filesystem::create_directories(dir);
  const uint16_t rtp = rtp_range_start();
  const bool over_tls = setup_.family_tls_port != 0;
  // ausine plays 48 kHz stereo only; without srate/channels the call is torn
  // down at once. net_interface keeps the SDP on loopback.
  write_file(dir / "config",
             "poll_method epoll\n"
             "sip_listen 127.0.0.1:" +
                 std::to_string(free_port()) +
                 "\n"
                 "net_interface 127.0.0.1\n"
                 "module_path /usr/lib/baresip/modules\n" +
                 // The CA baresip loads for its SIP TLS connections (baresip 1.0.0).
                 (over_tls ? "sip_cafile " + setup_.ca_file.string() + "\n" : std::string()) +
                 "audio_player aufile," + (dir / "heard.wav").string() +
                 "\n"
                 "audio_source ausine,440\n"
                 "ausrc_srate 48000\nausrc_channels 2\n"
                 "audio_alert aufile," +
                 (dir / "alert.wav").string() +
                 "\n"
                 "rtp_ports " +
                 std::to_string(rtp) + "-" + std::to_string(rtp + 9) +
                 "\n"
                 "module stdio.so\nmodule g711.so\nmodule ausine.so\nmodule aufile.so\n"
                 "module_tmp account.so\nmodule_app menu.so\n");
  // The account line docs/phones.md gives: the family server is the outbound
  // proxy; with a password (docs/security.md) auth_pass, the user name being
  // the AOR's user part.
  // Over TLS, the outbound proxy is the server's tls: listener with
  // transport=tls (docs/phones.md).
  const std::string outbound =
      over_tls ? "sip:127.0.0.1:" + std::to_string(setup_.family_tls_port) + ";transport=tls"
               : "sip:127.0.0.1:" + std::to_string(setup_.family_port);
  write_file(dir / "accounts", "<sip:" + aor() + ">;regint=60;outbound=\"" + outbound + "\";answermode=auto" +
                                   (setup_.password.empty() ? "" : ";auth_pass=" + setup_.password) + "\n");
  write_file(dir / "contacts", "");
  process_ = std::make_unique<PipedProcess>(
      std::vector<std::string>{"stdbuf", "-oL", "-eL", "baresip", "-f", dir.string(), "-s", "-t",
                               std::to_string(kPhoneLifetimeSeconds)},
      std::map<std::string, std::string>{{"HOME", dir.string()}}, log_file());
}

void Baresip::dial(const std::string& uri) { process_->send_line("/dial " + uri); }
void Baresip::hang_up() { process_->send_line("/hangup"); }

void Baresip::quit() {
  if (!process_) return;
  process_->send_line("/quit");
  if (!process_->wait(std::chrono::seconds(3))) process_->stop(std::chrono::seconds(2));
}

// "U1@C1.D1.H1: {0/TLS/v4} 200 OK (homesip/3.1) [1 binding]": the transport
// it registered over is in the braces.
bool Baresip::registered() const {
  return printed(setup_.family_tls_port != 0 ? "{0/TLS/v4} 200 OK" : "{0/UDP/v4} 200 OK");
}
bool Baresip::established() const { return printed("Call established: "); }
// "Call with <peer> terminated (duration: N secs)" after either side's BYE.
bool Baresip::ended() const { return printed("terminated (duration: "); }
// "session closed: 404 Not Found" and the like (a BYE from the peer shows as
// "session closed: Connection reset by peer").
bool Baresip::failed() const {
  static const std::regex status(R"(session closed: [1-6][0-9][0-9] )");
  return std::regex_search(output(), status);
}
// "reg: sip:U1@C1.D1.H1: 401 Unauthorized (homesip/3.0)" (or 403) when the
// REGISTER answered with credentials is refused (baresip 1.0.0).
bool Baresip::registration_refused() const {
  static const std::regex refused(R"(reg: sip:[^ ]+: 40[13] )");
  return std::regex_search(output(), refused);
}

// linphonec: its messages on stdout, every SIP message in its log (-d 6);
// commands on stdin. It needs a HOME of its own with .local/share/linphone
// (without it the core never listens) and rewrites its rc file on exit, so
// the file is written afresh at each start.
Linphone::~Linphone() {
  if (process_) process_->stop(std::chrono::seconds(2));
}

void Linphone::start() {
  const auto& dir = setup_.directory;
  const auto home = dir / "home";
  std::filesystem::create_directories(home / ".local" / "share" / "linphone");
  const bool over_tls = setup_.family_tls_port != 0;
  // Over TLS: the family server by a name its certificate carries (linphone
  // checks names, and not IP addresses), on its tls: listener; a TLS client
  // port of its own (-1: any).
  const std::string family = over_tls
                                 ? "localhost:" + std::to_string(setup_.family_tls_port) + ";transport=tls"
                                 : "127.0.0.1:" + std::to_string(setup_.family_port);
  write_file(
      dir / "linphonerc",
      "[sip]\nsip_port=" + std::to_string(free_port()) + "\nsip_tcp_port=0\nsip_tls_port=" +
          (over_tls ? "-1" : "0") + "\nbind_address=127.0.0.1\nuse_ipv6=0\n" +
          (over_tls ? "root_ca=" + setup_.ca_file.string() + "\nverify_server_certs=1\nverify_server_cn=1\n"
                    : std::string()) +
          "default_proxy=0\nregister_only_when_network_is_up=0\nkeepalive_period=0\n"
          "ping_with_options=0\ninc_timeout=60\n"
          "[rtp]\naudio_rtp_port=" +
          std::to_string(free_port()) + "\nvideo_rtp_port=" + std::to_string(free_port()) +
          "\ntext_rtp_port=" + std::to_string(free_port()) +
          "\n"
          "[video]\nenabled=0\ncapture=0\ndisplay=0\nautomatically_initiate=0\n"
          "automatically_accept=0\n"
          "[sound]\nechocancellation=0\n"
          // The settings docs/phones.md gives: registrar and outbound proxy.
          "[proxy_0]\nreg_proxy=<sip:" +
          family + ">\nreg_route=<sip:" + family + ";lr>\nreg_identity=\"" + setup_.user +
          "\" <sip:" + aor() + ">\nreg_expires=60\nreg_sendregister=1\npublish=0\ndial_escape_plus=0\n" +
          // The password (docs/security.md): realm is the family's domain.
          (setup_.password.empty() ? std::string()
                                   : "[auth_info_0]\nusername=" + setup_.user +
                                         "\npasswd=" + setup_.password + "\nrealm=" + setup_.domain + "\n"));
  process_ = std::make_unique<PipedProcess>(
      std::vector<std::string>{"stdbuf", "-oL", "-eL", "linphonec", "-a", "-c", (dir / "linphonerc").string(),
                               "-d", "6", "-l", (dir / "linphone.log").string()},
      std::map<std::string, std::string>{{"HOME", home.string()},
                                         {"XDG_DATA_HOME", (home / ".local" / "share").string()},
                                         {"XDG_CONFIG_HOME", (home / ".config").string()}},
      log_file());
  // There is no sound device: play and record files.
  process_->send_line("soundcard use files");
}

void Linphone::dial(const std::string& uri) { process_->send_line("call " + uri); }
void Linphone::hang_up() { process_->send_line("terminate all"); }

void Linphone::quit() {
  if (!process_) return;
  process_->send_line("quit");
  if (!process_->wait(std::chrono::seconds(3))) process_->stop(std::chrono::seconds(2));
}

bool Linphone::registered() const {
  return read_file(setup_.directory / "linphone.log").find("to [LinphoneRegistrationOk]") !=
         std::string::npos;
}
bool Linphone::registration_refused() const {
  return read_file(setup_.directory / "linphone.log").find("to [LinphoneRegistrationFailed]") !=
         std::string::npos;
}
std::string Linphone::sip_trace() const { return read_file(setup_.directory / "linphone.log"); }
// "Call 1 with <peer> connected." then "Media streams established with <peer> ...".
bool Linphone::established() const { return printed("Media streams established with "); }
bool Linphone::ended() const { return printed("ended (No error)."); }
// "Call 1 with <peer> error." (a reason on the line before), or declined or
// busy; a normal end reads "ended (No error)." and matches none of these.
bool Linphone::failed() const {
  static const std::regex failure(R"(Call [0-9]+ (with|to) [^\n]* (error|declined|busy)\.)");
  return std::regex_search(output(), failure);
}

}  // namespace homesip::test
