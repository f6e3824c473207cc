// Names read from requests and config: the tree plugin's names
// (valid_label, valid_domain, classify) and the core's listen addresses
// (parse_listen_address, which may throw std::invalid_argument only).
//
// Input: lines. "AOR" alone classifies it at the server D1@C1; with more
// lines, "NAME\nDOMAIN\nAOR[\nLISTEN]" sets the server too.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"
#include "fuzz_check.hpp"
#include "jurisdiction.hpp"

namespace redirect = homesip::redirect;

namespace {

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (true) {
    const size_t lf = text.find('\n');
    lines.push_back(text.substr(0, lf));
    if (lf == std::string_view::npos) return lines;
    text.remove_prefix(lf + 1);
  }
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

void check_label_and_domain(std::string_view text) {
  const bool label = redirect::valid_label(text);
  const bool domain = redirect::valid_domain(text);
  if (label) FUZZ_CHECK(domain, "a valid label is no valid domain");
  if (domain) {
    FUZZ_CHECK(!text.empty() && text.front() != '.' && text.back() != '.', "domain with an empty label");
    size_t start = 0;
    while (true) {
      const size_t dot = text.find('.', start);
      FUZZ_CHECK(redirect::valid_label(text.substr(start, dot == std::string_view::npos ? dot : dot - start)),
                 "a valid domain has an invalid label");
      if (dot == std::string_view::npos) break;
      start = dot + 1;
    }
  }
}

void check_classify(const homesip::ServerIdentity& me, std::string_view aor) {
  const redirect::Jurisdiction j = redirect::classify(me, aor);
  FUZZ_CHECK(redirect::relation_name(j.relation) != nullptr, "unnamed relation");
  const size_t at = aor.find('@');
  if (j.relation != redirect::Relation::kInvalid) {
    FUZZ_CHECK(at != std::string_view::npos, "a name without '@' classified");
    // The user part is labels with dots (an entity id, light.kitchen, is routed as a user).
    FUZZ_CHECK(redirect::valid_domain(aor.substr(0, at)) && redirect::valid_domain(aor.substr(at + 1)),
               "an invalid name classified");
  }
  if (j.relation == redirect::Relation::kInSubtree) {
    const size_t child_at = j.child_aor.find('@');
    FUZZ_CHECK(child_at != std::string::npos, "child AOR without '@'");
    FUZZ_CHECK(redirect::valid_label(std::string_view(j.child_aor).substr(0, child_at)),
               "child AOR with an invalid label: %s", j.child_aor.c_str());
    FUZZ_CHECK(iequals(std::string_view(j.child_aor).substr(child_at + 1), me.child_domain()),
               "child AOR %s outside my child domain", j.child_aor.c_str());
  } else {
    FUZZ_CHECK(j.child_aor.empty(), "child AOR for another relation");
  }
  if (j.relation == redirect::Relation::kSelf) FUZZ_CHECK(iequals(aor, me.aor()), "self is not my AOR");
  // Case never matters.
  std::string upper(aor);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  FUZZ_CHECK(redirect::classify(me, upper).relation == j.relation, "classify depends on case");
}

void check_listen(const std::string& text) {
  homesip::core::ListenAddress address;
  try {
    address = homesip::core::parse_listen_address(text);
  } catch (const std::invalid_argument&) {
    return;  // what the config reports as an error
  }
  FUZZ_CHECK(address.transport == "udp" || address.transport == "tcp" || address.transport == "tls",
             "transport %s", address.transport.c_str());
  FUZZ_CHECK(!address.host.empty(), "empty host");
  FUZZ_CHECK(address.port > 0, "port 0");
  volatile size_t sink = address.text().size() + address.contact_for("D1").size();
  (void)sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;  // names are short; longer inputs only slow the search
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto lines = split_lines(text);
  for (const auto line : lines) check_label_and_domain(line);

  homesip::ServerIdentity me{"D1", "C1"};
  std::string_view aor = lines[0];
  if (lines.size() >= 3) {
    me = homesip::ServerIdentity{std::string(lines[0]), std::string(lines[1])};
    aor = lines[2];
  }
  check_classify(me, aor);
  check_classify(homesip::ServerIdentity{"H1", "C1.D1"}, lines.back());
  check_classify(homesip::ServerIdentity{"C1", ""}, lines.back());

  check_listen(std::string(text));
  if (lines.size() >= 4) check_listen(std::string(lines[3]));
  return 0;
}
