// The status page as a person sees it: a real tree on loopback (top C1,
// community D1, family H1, each a homesipd; D1 and H1 load the status-page
// plugin behind an HTTP listener with a token), the page opened in headless
// Chromium from its token link, and what its DOM then says. A child killed
// by PID turns offline on its parent's page; a user registered at the family
// shows on the family's page with the contact. With the family's appliances
// (appliance-hub, appliances-virtual), a page kept open in Chromium (driven
// over the DevTools protocol) shows a light's state, and its new state after
// a MESSAGE turns it on, without a reload. Skipped only without chromium.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "test_support.hpp"

using namespace homesip::test;
namespace fs = std::filesystem;

namespace {

const std::string kToken = "status-page-test-token-5d2f9a";

// chromium on the PATH, or "" when it is not installed.
std::string chromium_path() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (size_t start = 0; start <= dirs.size();) {
    const size_t end = std::min(dirs.find(':', start), dirs.size());
    const fs::path candidate = fs::path(dirs.substr(start, end - start)) / "chromium";
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return {};
}

// A server of the tree: its store, the tree block, the registrar, and with
// `http_yaml` given the status page (refreshing twice a second, so a few
// rounds fit into Chromium's virtual time).
std::string tier_plugins(const TempDir& dir, const std::string& name, const std::string& domain,
                         const std::string& top, bool status_page, const std::string& more_plugins = "") {
  return "  - plugin: location-sqlite\n    path: " + (dir / (name + ".sqlite")).string() + "\n" +
         tree_plugin_yaml(name, domain, top, "    keepalive_interval: 1\n    keepalive_misses: 2\n") +
         "  - plugin: registrar\n    min_expires: 10\n" +
         (status_page ? "  - plugin: status-page\n    refresh_ms: 500\n" : "") + more_plugins;
}

// The family's appliances: the hub and one virtual light, off at start (its brightness null).
const std::string kAppliances =
    "  - plugin: appliance-hub\n"
    "  - plugin: appliances-virtual\n"
    "    entities:\n"
    "      - \"light.kitchen name='Kitchen light' state=off\"\n";

std::string token_link(uint16_t http_port) {
  return "http://127.0.0.1:" + std::to_string(http_port) + "/?token=" + kToken;
}

std::string http_yaml(uint16_t port, const fs::path& token_file) {
  return "  http:\n    listen: 127.0.0.1:" + std::to_string(port) +
         "\n    token_file: " + token_file.string() + "\n";
}

// GET `path` with the token as a bearer; the JSON body, or null.
nlohmann::json api(uint16_t port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2);
  client.set_read_timeout(5);
  const auto answer = client.Get(path, {{"Authorization", "Bearer " + kToken}});
  if (!answer || answer->status != 200) return nullptr;
  return nlohmann::json::parse(answer->body, nullptr, false);
}

bool child_online(uint16_t http_port, const std::string& aor) {
  const nlohmann::json tree = api(http_port, "/api/tree.tree");
  if (!tree.is_object()) return false;
  for (const auto& child : tree.value("children", nlohmann::json::array()))
    if (child.value("aor", "") == aor) return child.value("online", false);
  return false;
}

// The children table's row for `aor` in a DOM dump (from <tr to </tr>), "" when absent.
std::string row_of(const std::string& dom, const std::string& aor) {
  const size_t at = dom.find("data-aor=\"" + aor + "\"");
  if (at == std::string::npos) return {};
  const size_t start = dom.rfind("<tr", at);
  const size_t end = dom.find("</tr>", at);
  if (start == std::string::npos || end == std::string::npos) return {};
  return dom.substr(start, end - start);
}

// The temp dir goes with the test: HOMESIP_KEEP_SCREENSHOTS=DIR keeps a copy
// (how docs/status-page-*.png were made).
void keep_screenshot(const fs::path& shot) {
  const char* keep = std::getenv("HOMESIP_KEEP_SCREENSHOTS");
  if (!keep || !*keep || !fs::exists(shot)) return;
  fs::create_directories(keep);
  fs::copy_file(shot, fs::path(keep) / shot.filename(), fs::copy_options::overwrite_existing);
  std::cout << "kept as " << fs::path(keep) / shot.filename() << "\n";
}

// Chromium driven over the DevTools protocol, to watch one page change
// without reloading it: --remote-debugging-pipe reads commands on fd 3 and
// writes answers and events on fd 4, each a JSON text ended by a NUL. Both are
// one end of a socketpair (sh puts it there), so a write to a Chromium that
// died fails instead of raising SIGPIPE.
class DevToolsBrowser {
 public:
  DevToolsBrowser(const std::string& chromium, const fs::path& home) : log_(home / "chromium.log") {
    fs::create_directories(home);
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) throw std::runtime_error("socketpair failed");
    fd_ = pair[0];
    fcntl(fd_, F_SETFD, FD_CLOEXEC);
    const std::string theirs = std::to_string(pair[1]);
    process_ = std::make_unique<Process>(
        std::vector<std::string>{"sh", "-c", "exec \"$@\" 3<&" + theirs + " 4>&" + theirs, "sh", "env",
                                 "HOME=" + home.string(), chromium, "--headless", "--no-sandbox",
                                 "--disable-gpu", "--no-first-run", "--window-size=1280,900",
                                 "--user-data-dir=" + (home / "profile").string(), "--remote-debugging-pipe",
                                 "about:blank"},
        log_);
    close(pair[1]);
  }
  ~DevToolsBrowser() {
    call("Browser.close", nlohmann::json::object());
    close(fd_);
    process_->stop(std::chrono::seconds(10));
  }
  DevToolsBrowser(const DevToolsBrowser&) = delete;
  DevToolsBrowser& operator=(const DevToolsBrowser&) = delete;

  // A new tab on `url`, the one evaluate() then reads; false when Chromium does not open it.
  bool open(const std::string& url) {
    const nlohmann::json target = call("Target.createTarget", {{"url", url}});
    if (!target.is_object()) return false;
    const std::string target_id = target.value("/result/targetId"_json_pointer, "");
    if (target_id.empty()) return false;
    const nlohmann::json attached =
        call("Target.attachToTarget", {{"targetId", target_id}, {"flatten", true}});
    if (!attached.is_object()) return false;
    session_ = attached.value("/result/sessionId"_json_pointer, "");
    return !session_.empty();
  }

  // A JavaScript expression's value in the page (JSON), null when it throws or Chromium does not answer.
  nlohmann::json evaluate(const std::string& expression) {
    const nlohmann::json answer =
        call("Runtime.evaluate", {{"expression", expression}, {"returnByValue", true}}, session_);
    if (!answer.is_object() || !answer.contains("result") || answer["result"].contains("exceptionDetails"))
      return nullptr;
    return answer.value("/result/result/value"_json_pointer, nlohmann::json());
  }

  // The tab as a PNG in `file`, taken by the browser that has it open: a
  // second Chromium beside this one hung past a minute under the parallel
  // test run (CI), and it would show a new page, not this one.
  bool screenshot(const fs::path& file) {
    const nlohmann::json answer = call("Page.captureScreenshot", {{"format", "png"}}, session_);
    if (!answer.is_object()) return false;
    const std::string base64 = answer.value("/result/data"_json_pointer, "");
    if (base64.empty() || base64.size() % 4 != 0) return false;
    std::string png(base64.size() / 4 * 3, '\0');
    const int decoded = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(png.data()),
                                        reinterpret_cast<const unsigned char*>(base64.data()),
                                        static_cast<int>(base64.size()));
    if (decoded < 0) return false;
    // EVP_DecodeBlock counts the '=' padding as zero bytes.
    png.resize(static_cast<size_t>(decoded) - (base64.ends_with("==") ? 2 : base64.ends_with('=') ? 1 : 0));
    write_file(file, png);
    return true;
  }

  std::string log() const { return read_file(log_); }

 private:
  // The answer to one command (events on the way are skipped), null after 15 s without it.
  nlohmann::json call(const std::string& method, nlohmann::json params, const std::string& session = "") {
    nlohmann::json command = {{"id", ++last_id_}, {"method", method}, {"params", std::move(params)}};
    if (!session.empty()) command["sessionId"] = session;
    const std::string text = command.dump() + '\0';
    if (send(fd_, text.data(), text.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(text.size()))
      return nullptr;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    for (;;) {
      const nlohmann::json message = next_message(deadline);
      if (message.is_null()) return nullptr;
      if (message.value("id", -1) == last_id_) return message;
    }
  }

  nlohmann::json next_message(std::chrono::steady_clock::time_point deadline) {
    for (;;) {
      if (const size_t end = buffer_.find('\0'); end != std::string::npos) {
        const std::string text = buffer_.substr(0, end);
        buffer_.erase(0, end + 1);
        const nlohmann::json message = nlohmann::json::parse(text, nullptr, false);
        if (message.is_object()) return message;
        continue;
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd readable{fd_, POLLIN, 0};
      if (left.count() <= 0 || poll(&readable, 1, static_cast<int>(left.count())) <= 0) return nullptr;
      char chunk[65536];
      const ssize_t got = read(fd_, chunk, sizeof chunk);
      if (got <= 0) return nullptr;
      buffer_.append(chunk, static_cast<size_t>(got));
    }
  }

  fs::path log_;
  int fd_ = -1;
  std::unique_ptr<Process> process_;
  int last_id_ = 0;
  std::string session_;
  std::string buffer_;
};

class StatusPageBrowser : public ::testing::Test {
 protected:
  void SetUp() override {
    chromium_ = chromium_path();
    if (chromium_.empty()) GTEST_SKIP() << "chromium is not installed (apt-get install chromium)";
    token_file_ = dir_ / "http.token";
    write_file(token_file_, kToken + "\n");
    fs::permissions(token_file_, fs::perms::owner_read | fs::perms::owner_write);

    top_ = std::make_unique<HomesipServer>(
        dir_, ServerOptions{"C1", "", tier_plugins(dir_, "C1", "", "", false), ""});
    const std::string top = "sip:127.0.0.1:" + std::to_string(top_->port());
    d1_http_ = free_port();
    d1_ = std::make_unique<HomesipServer>(dir_,
                                          ServerOptions{"D1", "C1", tier_plugins(dir_, "D1", "C1", top, true),
                                                        http_yaml(d1_http_, token_file_)});
    h1_http_ = free_port();
    h1_ = std::make_unique<HomesipServer>(
        dir_, ServerOptions{"H1", "C1.D1", tier_plugins(dir_, "H1", "C1.D1", top, true, h1_more_plugins_),
                            http_yaml(h1_http_, token_file_)});
    top_->start();
    d1_->start();
    h1_->start();
    ASSERT_TRUE(eventually([&] { return child_online(d1_http_, "H1@C1.D1"); }, std::chrono::seconds(15)))
        << "H1 never registered at D1; D1's log:\n"
        << read_file(d1_->log());
  }

  // Chromium with its own HOME and profile in the temp dir, headless, on the
  // page's token link (the core turns it into a cookie and redirects), given
  // 4 s of virtual time to poll; `what` is the dump flag or a screenshot's.
  std::string chromium(uint16_t http_port, const std::vector<std::string>& what) {
    const fs::path home = dir_ / ("chromium-" + std::to_string(++runs_));
    fs::create_directories(home);
    std::vector<std::string> argv = {"env",
                                     "HOME=" + home.string(),
                                     chromium_,
                                     "--headless",
                                     "--no-sandbox",
                                     "--disable-gpu",
                                     "--no-first-run",
                                     "--user-data-dir=" + (home / "profile").string(),
                                     "--virtual-time-budget=4000"};
    argv.insert(argv.end(), what.begin(), what.end());
    argv.push_back(token_link(http_port));
    std::string output;
    const int status = run(argv, &output, std::chrono::seconds(60));
    EXPECT_EQ(status, 0) << output.substr(0, 3000);
    return output;
  }
  std::string dom(uint16_t http_port) { return chromium(http_port, {"--dump-dom"}); }

  TempDir dir_;
  std::string h1_more_plugins_;  // set before SetUp()
  std::string chromium_;
  fs::path token_file_;
  uint16_t d1_http_ = 0;
  uint16_t h1_http_ = 0;
  int runs_ = 0;
  std::unique_ptr<HomesipServer> top_;
  std::unique_ptr<HomesipServer> d1_;
  std::unique_ptr<HomesipServer> h1_;
};

TEST_F(StatusPageBrowser, ChildServerTurnsOfflineOnItsParentsPage) {
  const std::string before = dom(d1_http_);
  EXPECT_NE(before.find("<h1 id=\"title\">D1@C1</h1>"), std::string::npos) << before.substr(0, 3000);
  EXPECT_NE(before.find("<div id=\"banner\" class=\"banner\" role=\"alert\" hidden=\"\">"), std::string::npos)
      << "the page says the connection is lost:\n"
      << before.substr(0, 3000);
  EXPECT_NE(before.find("below C1, serving C1.D1"), std::string::npos) << before.substr(0, 3000);
  EXPECT_NE(before.find("<dd id=\"server-parent\"><span class=\"badge online\">online</span>"),
            std::string::npos)
      << "D1's parent (C1) not shown online";
  const std::string online_row = row_of(before, "H1@C1.D1");
  EXPECT_NE(online_row.find("data-state=\"online\""), std::string::npos) << online_row;
  EXPECT_NE(online_row.find("<span class=\"badge online\">online</span>"), std::string::npos) << online_row;
  EXPECT_NE(before.find("data-counter=\"registrations\""), std::string::npos);
  EXPECT_NE(before.find("id=\"users\" class=\"card wide\" hidden=\"\""), std::string::npos)
      << "a community shows no users";

  const pid_t h1 = h1_->pid();
  h1_->kill9();  // no goodbye: D1 finds out by its keepalives (1 s, 2 misses)
  std::string offline_row;
  const bool offline = eventually(
      [&] {
        offline_row = row_of(dom(d1_http_), "H1@C1.D1");
        return offline_row.find("data-state=\"offline\"") != std::string::npos;
      },
      std::chrono::seconds(30));
  ASSERT_TRUE(offline) << "H1 (pid " << h1 << ") killed, but D1's page still says: " << offline_row;
  EXPECT_NE(offline_row.find("<span class=\"badge offline\">offline</span>"), std::string::npos)
      << offline_row;

  const fs::path shot = dir_ / "status-D1.png";
  chromium(d1_http_, {"--screenshot=" + shot.string(), "--window-size=1280,900"});
  std::cout << "screenshot of D1's page with H1 offline: " << shot << "\n";
  keep_screenshot(shot);
  ASSERT_TRUE(fs::exists(shot));
  EXPECT_GT(fs::file_size(shot), 20000u) << "a blank page?";
  EXPECT_EQ(read_file(shot).substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

TEST_F(StatusPageBrowser, FamilyPageShowsItsUserWithTheContact) {
  const std::string contact = "sip:u1-phone@127.0.0.1:5999";
  const std::string reg =
      "REGISTER sip:C1.D1.H1 SIP/2.0\n"
      "Via: SIP/2.0/UDP 127.0.0.1:$PORT$;branch=z9hG4bKstatus1\n"
      "Max-Forwards: 70\nFrom: <sip:U1@C1.D1.H1>;tag=s1\nTo: <sip:U1@C1.D1.H1>\n"
      "Call-ID: status-page-1\nCSeq: 1 REGISTER\nContact: <" +
      contact + ">\nExpires: 600\nContent-Length: 0\n\n";
  ASSERT_EQ(status_of(udp_exchange(h1_->port(), reg)), 200) << read_file(h1_->log());

  const std::string page = dom(h1_http_);
  EXPECT_NE(page.find("<h1 id=\"title\">H1@C1.D1</h1>"), std::string::npos) << page.substr(0, 3000);
  EXPECT_NE(page.find("id=\"users\" class=\"card wide\">"), std::string::npos) << "users hidden:\n" << page;
  const std::string row = row_of(page, "U1@C1.D1.H1");
  EXPECT_NE(row.find("<strong>U1@C1.D1.H1</strong>"), std::string::npos) << row;
  EXPECT_NE(row.find(contact), std::string::npos) << row;
  EXPECT_NE(row.find("udp:127.0.0.1:"), std::string::npos) << "no source: " << row;
  EXPECT_NE(page.find("id=\"children\" class=\"card wide\" hidden=\"\""), std::string::npos)
      << "a family shows no empty 'servers below'";

  const fs::path shot = dir_ / "status-H1.png";
  chromium(h1_http_, {"--screenshot=" + shot.string(), "--window-size=1280,900"});
  std::cout << "screenshot of H1's page: " << shot << "\n";
  keep_screenshot(shot);
  ASSERT_TRUE(fs::exists(shot));
  EXPECT_GT(fs::file_size(shot), 20000u);
}

// H1 with its appliances: the hub and a virtual light.
class StatusPageEntities : public StatusPageBrowser {
 protected:
  void SetUp() override {
    h1_more_plugins_ = kAppliances;
    StatusPageBrowser::SetUp();
  }
};

// The light's row on the page as {state, text}, null while there is none.
const std::string kLightRow =
    "(() => { const row = document.querySelector('tr[data-entity=\"light.kitchen\"]');"
    " return row && !document.getElementById('entities').hidden"
    " ? {state: row.dataset.state, text: row.innerText} : null; })()";

TEST_F(StatusPageEntities, FamilyPageShowsTheLightAndItsNewStateWithoutReload) {
  DevToolsBrowser browser(chromium_, dir_ / "devtools");
  ASSERT_TRUE(browser.open(token_link(h1_http_))) << browser.log();
  nlohmann::json row;
  const bool shown = eventually(
      [&] {
        row = browser.evaluate(kLightRow);
        return row.is_object();
      },
      std::chrono::seconds(15));
  ASSERT_TRUE(shown) << "no light.kitchen row on H1's page; the page says:\n"
                     << browser.evaluate("document.body.innerText").dump() << "\n"
                     << browser.log();
  EXPECT_EQ(row.value("state", ""), "off") << row.dump();
  const std::string before = row.value("text", "");
  EXPECT_NE(before.find("Kitchen light"), std::string::npos) << before;
  EXPECT_NE(before.find("light.kitchen"), std::string::npos) << before;
  EXPECT_EQ(before.find("brightness"), std::string::npos) << "an off light's brightness is null: " << before;
  // A reload would make a new window without this.
  ASSERT_EQ(browser.evaluate("window.loadedBeforeTheChange = 'yes'"), "yes");

  const std::string turn_on = R"({"service": "turn_on", "data": {"brightness": 77}})";
  const std::string message =
      "MESSAGE sip:light.kitchen@C1.D1.H1 SIP/2.0\n"
      "Via: SIP/2.0/UDP 127.0.0.1:$PORT$;rport;branch=z9hG4bKentities1\n"
      "Max-Forwards: 70\nFrom: <sip:U1@C1.D1.H1>;tag=e1\nTo: <sip:light.kitchen@C1.D1.H1>\n"
      "Call-ID: status-page-entities-1\nCSeq: 1 MESSAGE\nContent-Type: application/json\n"
      "Content-Length: " +
      std::to_string(turn_on.size()) + "\n\n" + turn_on;
  const std::string answer = udp_exchange(h1_->port(), message);
  ASSERT_EQ(status_of(answer), 200) << answer << read_file(h1_->log());
  EXPECT_NE(answer.find(R"("state":"on")"), std::string::npos) << answer;

  const bool changed = eventually(
      [&] {
        row = browser.evaluate(kLightRow);
        return row.is_object() && row.value("state", "") == "on";
      },
      std::chrono::seconds(10));
  ASSERT_TRUE(changed) << "the light is on, but the open page still says: " << row.dump();
  EXPECT_NE(row.value("text", "").find("brightness 77"), std::string::npos) << row.dump();
  EXPECT_EQ(browser.evaluate("window.loadedBeforeTheChange"), "yes") << "the page was reloaded";

  const fs::path shot = dir_ / "status-page-entities.png";
  ASSERT_TRUE(browser.screenshot(shot)) << browser.log();
  std::cout << "screenshot of H1's page with the light on: " << shot << "\n";
  keep_screenshot(shot);
  EXPECT_GT(fs::file_size(shot), 20000u);
  EXPECT_EQ(read_file(shot).substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

}  // namespace
