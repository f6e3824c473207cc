// The tree plugin's one block: where this server stands (name, domain, the
// top server's address) and how it keeps its place (registration upward,
// keepalives to its children, the resolver's cache). Read and checked once;
// every wrong value is a ConfigError naming its key.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "homesip/plugin.hpp"
#include "homesip/settings.hpp"
#include "homesip/tree.hpp"
#include "redirect_rules.hpp"

namespace homesip::tree {

struct TreeSettings {
  ServerIdentity me;  // name "H1", domain "C1.D1"; domain "" at the top
  std::string top;    // the top server's URI; empty at the top
  uint32_t register_expires = 120;
  std::string contact;  // how the parent reaches us; empty: PluginContext::contact_uri(name)
  std::chrono::seconds keepalive_interval{5};  // 0: no keepalives
  int keepalive_misses = 3;
  std::vector<std::string> redirect_methods;
  size_t resolver_cache_entries = 1024;
  std::chrono::seconds resolver_cache_seconds{60};
  std::string password_file;  // this server's password at its parent (digest); empty: none
  std::string password;       // its first line, read when the settings are

  bool is_top() const { return me.domain.empty(); }
  redirect::RedirectPolicy redirect_policy() const { return {top, redirect_methods}; }
};

// The declared settings (the descriptor's list).
StaticList<SettingSpec> tree_setting_specs();

// Reads and checks every setting (and reads password_file); throws
// ConfigError naming the key.
TreeSettings read_tree_settings(const Settings& settings);

}  // namespace homesip::tree
