// The JSON bodies of the appliance protocol (docs/appliances.md): an entity's
// state as MESSAGE's 200 and every NOTIFY carry it, the error body, and the
// bodies a MESSAGE or a PUBLISH brings. Plain functions so the tests read
// them without a hub.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "homesip/appliance.hpp"

namespace homesip::appliance_hub {

// "light.kitchen": a Home Assistant domain and an object id, each of lower
// case letters, digits and '_'.
bool valid_entity_id(std::string_view id);

// 1764472800123 -> "2026-11-30T03:20:00.123Z".
std::string iso8601_ms(int64_t unix_ms);

// {"entity_id", "state", "attributes", "last_changed"}; `friendly_name` goes
// into the attributes when they have none.
std::string state_json(const EntityState& state, std::string_view friendly_name);

// {"error": code, "message": message}.
std::string error_json(std::string_view code, std::string_view message);

// True when two attribute texts hold the same JSON (a text difference in
// spacing is no change to tell watchers about).
bool same_attributes(const std::string& a, const std::string& b);

// True for "application/json", any case, with or without parameters.
bool is_json_content_type(std::string_view content_type);
// True when an Accept header takes JSON (application/json, application/*, */*).
bool accepts_json(std::string_view accept);

// A MESSAGE body: {} reads the state, {"service": S, "data": {...}} calls S.
struct MessageBody {
  std::string service;           // empty: read the state
  std::string data_json = "{}";  // an object
};
// nullopt with `problem` set when the body is not what the protocol says.
std::optional<MessageBody> parse_message_body(std::string_view body, std::string& problem);

// A PUBLISH body: {"state": S, "attributes": {...}}; a number as state is
// taken as its text (a sensor's value).
struct PublishBody {
  std::string state;
  std::string attributes_json = "{}";
};
std::optional<PublishBody> parse_publish_body(std::string_view body, std::string& problem);

}  // namespace homesip::appliance_hub
