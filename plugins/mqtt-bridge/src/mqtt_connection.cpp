#include "mqtt_connection.hpp"

#include <mosquitto.h>

#include <stdexcept>
#include <string_view>

namespace homesip::mqtt {

MqttConnection::MqttConnection(const BrokerOptions& options, BrokerEvents events)
    : options_(options), events_(std::move(events)) {
  mosquitto_lib_init();  // reference-counted by libmosquitto 2
  client_ = mosquitto_new(options_.client_id.empty() ? nullptr : options_.client_id.c_str(), true, this);
  if (!client_) {
    mosquitto_lib_cleanup();
    throw std::runtime_error("cannot create an MQTT client");
  }
  mosquitto_connect_callback_set(client_, &MqttConnection::on_connect);
  mosquitto_disconnect_callback_set(client_, &MqttConnection::on_disconnect);
  mosquitto_message_callback_set(client_, &MqttConnection::on_message);
  mosquitto_log_callback_set(client_, &MqttConnection::on_log);
  // Exponential backoff from min to max between attempts, done by the network thread.
  mosquitto_reconnect_delay_set(client_, static_cast<unsigned>(options_.reconnect_min_s),
                                static_cast<unsigned>(options_.reconnect_max_s), true);
  int rc = MOSQ_ERR_SUCCESS;
  if (!options_.username.empty())
    rc = mosquitto_username_pw_set(client_, options_.username.c_str(),
                                   options_.password.empty() ? nullptr : options_.password.c_str());
  if (rc == MOSQ_ERR_SUCCESS && !options_.cafile.empty())
    rc = mosquitto_tls_set(client_, options_.cafile.c_str(), nullptr,
                           options_.certfile.empty() ? nullptr : options_.certfile.c_str(),
                           options_.keyfile.empty() ? nullptr : options_.keyfile.c_str(), nullptr);
  if (rc != MOSQ_ERR_SUCCESS) {
    const std::string why = mosquitto_strerror(rc);
    mosquitto_destroy(client_);
    mosquitto_lib_cleanup();
    throw std::runtime_error("MQTT client options refused: " + why);
  }
}

MqttConnection::~MqttConnection() {
  if (started_) {
    mosquitto_disconnect(client_);
    mosquitto_loop_stop(client_, true);  // also wakes a thread sleeping between attempts
  }
  mosquitto_destroy(client_);
  mosquitto_lib_cleanup();
}

void MqttConnection::start() {
  // A first attempt that fails at once (connection refused) is retried by the
  // network thread like a lost connection: connect_async leaves the client in
  // its connecting state.
  // A TLS handshake that failed here was told by on_log (gave_up), with OpenSSL's reason.
  const int rc = mosquitto_connect_async(client_, options_.host.c_str(), options_.port, options_.keepalive_s);
  if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_TLS && events_.disconnected)
    events_.disconnected(mosquitto_strerror(rc));
  if (mosquitto_loop_start(client_) != MOSQ_ERR_SUCCESS)
    throw std::runtime_error("cannot start the MQTT network thread");
  started_ = true;
}

bool MqttConnection::subscribe(const std::string& topic) {
  return mosquitto_subscribe(client_, nullptr, topic.c_str(), 1) == MOSQ_ERR_SUCCESS;
}

bool MqttConnection::publish(const std::string& topic, const std::string& payload) {
  return mosquitto_publish(client_, nullptr, topic.c_str(), static_cast<int>(payload.size()), payload.data(),
                           1, false) == MOSQ_ERR_SUCCESS;
}

void MqttConnection::on_connect(mosquitto*, void* self, int rc) {
  auto* connection = static_cast<MqttConnection*>(self);
  if (connection->events_.connected)
    connection->events_.connected(rc == 0 ? "" : mosquitto_connack_string(rc));
}

void MqttConnection::on_disconnect(mosquitto*, void* self, int rc) {
  auto* connection = static_cast<MqttConnection*>(self);
  if (connection->events_.disconnected)
    connection->events_.disconnected(rc == 0 ? "disconnected" : mosquitto_strerror(rc));
}

void MqttConnection::on_message(mosquitto*, void* self, const mosquitto_message* message) {
  auto* connection = static_cast<MqttConnection*>(self);
  if (!connection->events_.message || !message->topic) return;
  const char* payload = static_cast<const char*>(message->payload);
  connection->events_.message(message->topic,
                              payload ? std::string(payload, static_cast<size_t>(message->payloadlen)) : "");
}

// A failed TLS handshake ends libmosquitto's loop without a callback; its
// log is the only word of it ("OpenSSL Error[0]: ..." first, then more of
// the same failure's error queue).
void MqttConnection::on_log(mosquitto*, void* self, int level, const char* text) {
  constexpr std::string_view kFirstTlsError = "OpenSSL Error[0]: ";
  auto* connection = static_cast<MqttConnection*>(self);
  if (level != MOSQ_LOG_ERR || !text || !connection->events_.gave_up) return;
  const std::string_view line(text);
  if (line.starts_with(kFirstTlsError))
    connection->events_.gave_up("TLS: " + std::string(line.substr(kFirstTlsError.size())));
}

}  // namespace homesip::mqtt
