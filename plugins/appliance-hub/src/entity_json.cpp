#include "entity_json.hpp"

#include <ctime>
#include <nlohmann/json.hpp>

namespace homesip::appliance_hub {

using nlohmann::json;
using nlohmann::ordered_json;

namespace {

bool is_id_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

std::string lower_trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace

bool valid_entity_id(std::string_view id) {
  const size_t dot = id.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == id.size() || id.size() > 255) return false;
  for (size_t i = 0; i < id.size(); ++i)
    if (i != dot && !is_id_char(id[i])) return false;
  return true;
}

std::string iso8601_ms(int64_t unix_ms) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  const size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03dZ", static_cast<int>(unix_ms % 1000));
  return std::string(text, n) + millis;
}

std::string state_json(const EntityState& state, std::string_view friendly_name) {
  json attributes = json::parse(state.attributes_json, nullptr, false);
  if (!attributes.is_object()) attributes = json::object();
  if (!friendly_name.empty() && !attributes.contains("friendly_name"))
    attributes["friendly_name"] = std::string(friendly_name);
  ordered_json out;
  out["entity_id"] = state.entity_id;
  out["state"] = state.state;
  out["attributes"] = attributes;
  out["last_changed"] = state.last_changed_ms > 0 ? json(iso8601_ms(state.last_changed_ms)) : json(nullptr);
  return out.dump();
}

std::string error_json(std::string_view code, std::string_view message) {
  ordered_json out;
  out["error"] = std::string(code);
  out["message"] = std::string(message);
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool same_attributes(const std::string& a, const std::string& b) {
  if (a == b) return true;
  return json::parse(a, nullptr, false) == json::parse(b, nullptr, false);
}

bool is_json_content_type(std::string_view content_type) {
  return lower_trimmed(content_type.substr(0, content_type.find(';'))) == "application/json";
}

bool accepts_json(std::string_view accept) {
  while (!accept.empty()) {
    const size_t comma = accept.find(',');
    const std::string type = lower_trimmed(accept.substr(0, accept.substr(0, comma).find(';')));
    if (type == "application/json" || type == "application/*" || type == "*/*") return true;
    if (comma == std::string_view::npos) break;
    accept.remove_prefix(comma + 1);
  }
  return false;
}

std::optional<MessageBody> parse_message_body(std::string_view body, std::string& problem) {
  if (body.empty()) return MessageBody{};  // an empty body reads the state, as {} does
  const json parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded()) {
    problem = "the body is not JSON";
    return std::nullopt;
  }
  if (!parsed.is_object()) {
    problem = "the body must be a JSON object";
    return std::nullopt;
  }
  MessageBody out;
  if (const auto service = parsed.find("service"); service != parsed.end()) {
    if (!service->is_string() || service->get<std::string>().empty()) {
      problem = "service must be a non-empty string";
      return std::nullopt;
    }
    out.service = service->get<std::string>();
  }
  if (const auto data = parsed.find("data"); data != parsed.end()) {
    if (!data->is_object()) {
      problem = "data must be a JSON object";
      return std::nullopt;
    }
    out.data_json = data->dump();
  }
  return out;
}

std::optional<PublishBody> parse_publish_body(std::string_view body, std::string& problem) {
  const json parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    problem = "the body must be a JSON object";
    return std::nullopt;
  }
  PublishBody out;
  const auto state = parsed.find("state");
  if (state == parsed.end() || !(state->is_string() || state->is_number() || state->is_boolean())) {
    problem = "state must be a string (or a number)";
    return std::nullopt;
  }
  out.state = state->is_string() ? state->get<std::string>() : state->dump();
  if (out.state.empty()) {
    problem = "state must not be empty";
    return std::nullopt;
  }
  if (const auto attributes = parsed.find("attributes"); attributes != parsed.end()) {
    if (!attributes->is_object()) {
      problem = "attributes must be a JSON object";
      return std::nullopt;
    }
    out.attributes_json = attributes->dump();
  }
  return out;
}

}  // namespace homesip::appliance_hub
