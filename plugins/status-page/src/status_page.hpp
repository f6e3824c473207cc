// The status page's server side: its settings and the answer to a GET. The
// page itself (src/web/) is compiled in and does the rest in the browser: it
// reads the core's /api/ and draws it, so this side needs no store and never
// blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "homesip/http.hpp"
#include "homesip/settings.hpp"

namespace homesip::status_page {

// One file of src/web/, embedded at build time (embed_web.cmake).
struct WebAsset {
  const char* name;  // "app.js": served at /status/app.js
  const char* content_type;
  std::string_view body;
};
extern const WebAsset kWebAssets[];
extern const size_t kWebAssetCount;

struct PageSettings {
  std::string title;  // "" until the plugin fills in the tree name or first listener
  int64_t refresh_ms = 2000;
};

// The settings the plugin declares, for its descriptor.
extern const SettingSpec kPageSettingSpecs[2];

// Reads and checks the settings; throws ConfigError naming the key.
PageSettings read_page_settings(const Settings& settings);

// What the page is told at /status/config.json: {"title": ..., "refresh_ms": ...}.
std::string config_json(const PageSettings& settings);

// The answer to GET `path`: "/" and "/status/" the page, "/status/NAME" an
// embedded file or config.json, anything else 404.
HttpResponse serve(std::string_view path, const PageSettings& settings);

}  // namespace homesip::status_page
