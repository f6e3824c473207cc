#include "status_page.hpp"

#include <nlohmann/json.hpp>

namespace homesip::status_page {
namespace {

constexpr std::string_view kAssetPrefix = "/status/";

const WebAsset* find_asset(std::string_view name) {
  for (size_t i = 0; i < kWebAssetCount; ++i)
    if (name == kWebAssets[i].name) return &kWebAssets[i];
  return nullptr;
}

HttpResponse asset_response(const WebAsset& asset) {
  return HttpResponse{200, asset.content_type, std::string(asset.body)};
}

}  // namespace

const SettingSpec kPageSettingSpecs[2] = {
    {"title", SettingType::kString, "",
     "the page's heading; empty: the tree's name of this server, or its first listener without the tree"},
    {"refresh_ms", SettingType::kInteger, "2000", "how often the page asks the server again, 500..60000 ms"},
};

PageSettings read_page_settings(const Settings& settings) {
  PageSettings page;
  page.title = settings.get_string("title");
  page.refresh_ms = integer_in_range(settings, "refresh_ms", 500, 60000);
  return page;
}

std::string config_json(const PageSettings& settings) {
  const nlohmann::ordered_json config = {{"title", settings.title}, {"refresh_ms", settings.refresh_ms}};
  // A title with invalid UTF-8 is replaced, never thrown.
  return config.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

HttpResponse serve(std::string_view path, const PageSettings& settings) {
  if (path == "/" || path == kAssetPrefix) return asset_response(*find_asset("index.html"));
  if (path.starts_with(kAssetPrefix)) {
    const std::string_view name = path.substr(kAssetPrefix.size());
    if (name == "config.json") return HttpResponse{200, "application/json", config_json(settings)};
    if (const WebAsset* asset = find_asset(name)) return asset_response(*asset);
  }
  return HttpResponse{404, "text/plain; charset=utf-8",
                      "not found: the status page has no " + std::string(path) + "\n"};
}

}  // namespace homesip::status_page
