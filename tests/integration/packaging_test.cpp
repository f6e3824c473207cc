// What an operator deploys: `cmake --install` (into a scratch DESTDIR), the
// systemd unit as installed, and the installed homesipd serving an installed
// example config the way the unit starts it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "test_support.hpp"

using namespace homesip::test;
namespace fs = std::filesystem;

namespace {

// The program of the unit's ExecStart= line ("" when there is none).
std::string exec_start_program(const std::string& unit) {
  std::smatch match;
  static const std::regex line(R"(\nExecStart=(\S+))");
  return std::regex_search(unit, match, line) ? match[1].str() : std::string();
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size())
    text.replace(at, from.size(), to);
  return text;
}

class Packaging : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string out;
    ASSERT_EQ(run({"env", "DESTDIR=" + root_.string(), "cmake", "--install", build_dir()}, &out), 0) << out;
    for (const auto& entry : fs::recursive_directory_iterator(root_))
      if (entry.path().filename() == "homesipd@.service") unit_path_ = entry.path();
    ASSERT_FALSE(unit_path_.empty()) << "no homesipd@.service installed under " << root_;
    unit_ = read_file(unit_path_);
    program_ = exec_start_program(unit_);
    ASSERT_FALSE(program_.empty()) << unit_;
    // The unit names the installed binary by its final, absolute path.
    installed_ = root_.string() + program_;
    prefix_ = root_.string() + fs::path(program_).parent_path().parent_path().string();
  }

  TempDir dir_;
  fs::path root_ = dir_ / "root";
  fs::path unit_path_;
  std::string unit_;
  std::string program_;    // as the unit names it, e.g. /usr/local/bin/homesipd
  std::string installed_;  // the same file under DESTDIR
  std::string prefix_;     // the install prefix under DESTDIR
};

TEST_F(Packaging, TheUnitStartsTheInstalledBinaryAndSystemdAcceptsIt) {
  ASSERT_TRUE(fs::path(program_).is_absolute()) << program_;
  EXPECT_TRUE(fs::exists(installed_)) << program_ << " is not where the install put homesipd";
  EXPECT_NE(unit_.find("--check-config"), std::string::npos) << "ExecStartPre should check the config";
  if (run({"sh", "-c", "command -v systemd-analyze"}) != 0) GTEST_SKIP() << "no systemd-analyze here";
  // An instance of the template, pointing into DESTDIR so its programs exist.
  const fs::path instance = dir_ / "homesipd@family.service";
  write_file(instance, replace_all(unit_, program_, installed_));
  std::string out;
  EXPECT_EQ(run({"systemd-analyze", "verify", instance.string()}, &out), 0) << out;
  EXPECT_EQ(out.find("Unknown"), std::string::npos) << out;
}

TEST_F(Packaging, InstalledExamplesPassTheInstalledCheck) {
  const fs::path examples = fs::path(prefix_) / "share/homesip/examples";
  // --check-config opens what a start opens: the deployment's certificates and LDAP password are
  // this test's own here.
  std::string out;
  ASSERT_EQ(run({HOMESIP_TEST_HOMESIPCTL, "pki", "init", (dir_ / "pki").string()}, &out), 0) << out;
  ASSERT_EQ(run({HOMESIP_TEST_HOMESIPCTL, "pki", "issue", (dir_ / "pki").string(), "H1@C1.D1", "--ip",
                 "127.0.0.1", "--out", (dir_ / "tls").string()},
                &out),
            0)
      << out;
  write_file(dir_ / "ldap.secret", "secret\n");
  fs::permissions(dir_ / "ldap.secret", fs::perms::owner_read | fs::perms::owner_write);
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(examples)) {
    if (entry.path().extension() != ".yaml") continue;
    std::vector<std::string> argv{
        installed_,       "--config", entry.path().string(),
        "--check-config", "--set",    "server.tls_certificates=" + (dir_ / "tls").string()};
    if (entry.path().filename() == "family-ldap.yaml")
      argv.insert(argv.end(),
                  {"--set", "plugins.location-ldap.password_file=" + (dir_ / "ldap.secret").string()});
    EXPECT_EQ(run(argv, &out), 0) << entry.path() << ": " << out;
    ++checked;
  }
  EXPECT_GE(checked, 3) << "examples missing under " << examples;
}

TEST_F(Packaging, InstalledServerServesTheInstalledFamilyExample) {
  // As the unit runs it: the installed binary finds its installed plugins by
  // itself; only the port (UDP: no certificate directory here) and the files are
  // this test's. The example is secured: a user's REGISTER is challenged.
  const uint16_t port = free_port();
  Process server(
      {installed_, "--config", (fs::path(prefix_) / "share/homesip/examples/family.yaml").string(), "--set",
       "server.listen=[udp:127.0.0.1:" + std::to_string(port) + "]", "--set",
       "server.tls_certificates=", "--set", "plugins.tree.top=sip:127.0.0.1:" + std::to_string(free_port()),
       "--set", "plugins.location-sqlite.path=" + (dir_ / "h1.sqlite").string(), "--set",
       "plugins.auth-digest.secret_file=" + (dir_ / "h1.nonce-secret").string()},
      dir_ / "server.log");
  ASSERT_TRUE(wait_for_sip(port, std::chrono::seconds(10))) << read_file(dir_ / "server.log");
  const std::string response = udp_exchange(port,
                                            "REGISTER sip:C1.D1.H1 SIP/2.0\n"
                                            "Via: SIP/2.0/UDP 127.0.0.1:$PORT$;branch=z9hG4bKpkg;rport\n"
                                            "From: <sip:U1@C1.D1.H1>;tag=pkg\n"
                                            "To: <sip:U1@C1.D1.H1>\n"
                                            "Call-ID: packaging@test\n"
                                            "CSeq: 1 REGISTER\n"
                                            "Contact: <sip:U1@127.0.0.1:$PORT$>\n"
                                            "Expires: 60\n"
                                            "Content-Length: 0\n\n");
  EXPECT_EQ(status_of(response), 401) << response << read_file(dir_ / "server.log");
  EXPECT_NE(response.find("WWW-Authenticate: Digest realm=\"C1.D1.H1\""), std::string::npos) << response;
  EXPECT_EQ(server.stop(std::chrono::seconds(10)), 0) << read_file(dir_ / "server.log");
}

// `cmake --install --prefix` at install time moves everything, the unit's program included, and
// the installed homesipd finds the installed plugins relative to itself, not in the configured prefix.
TEST(PackagingPrefix, InstallTimePrefixMovesTheBinaryPluginsUnitAndSdkTogether) {
  TempDir dir;
  const fs::path prefix = dir / "opt";
  std::string out;
  ASSERT_EQ(run({"cmake", "--install", build_dir(), "--prefix", prefix.string()}, &out), 0) << out;
  const fs::path unit = prefix / "lib/systemd/system/homesipd@.service";
  ASSERT_TRUE(fs::is_regular_file(unit)) << out;
  EXPECT_EQ(exec_start_program(read_file(unit)), (prefix / "bin/homesipd").string()) << read_file(unit);
  ASSERT_EQ(run({(prefix / "bin/homesipd").string(), "--describe-plugin", "registrar"}, &out), 0) << out;
  EXPECT_NE(out.find("file: " + (prefix / "lib/homesip/plugins/registrar.so").string()), std::string::npos)
      << out;
  // homesip-sdk.pc is relative to where it landed.
  fs::path pc;
  for (const auto& entry : fs::recursive_directory_iterator(prefix))
    if (entry.path().filename() == "homesip-sdk.pc") pc = entry.path();
  ASSERT_FALSE(pc.empty()) << "no homesip-sdk.pc under " << prefix;
  ASSERT_EQ(run({"pkg-config", "--variable=plugindir", pc.string()}, &out), 0) << out;
  out.erase(out.find_last_not_of('\n') + 1);
  EXPECT_EQ(fs::weakly_canonical(out), fs::weakly_canonical(prefix / "lib/homesip/plugins")) << out;
}

}  // namespace
