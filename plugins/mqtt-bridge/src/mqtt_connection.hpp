// One libmosquitto client with its own network thread (mosquitto_loop_start):
// connects in the background, reconnects with backoff by itself, and reports
// through Events, called on that thread (the plugin posts them to its loop).
#pragma once

#include <functional>
#include <string>

struct mosquitto;
struct mosquitto_message;

namespace homesip::mqtt {

struct BrokerOptions {
  std::string host = "127.0.0.1";
  int port = 1883;
  std::string client_id;
  std::string username;
  std::string password;
  std::string cafile;  // TLS when set
  std::string certfile;
  std::string keyfile;
  int keepalive_s = 30;
  int reconnect_min_s = 1;
  int reconnect_max_s = 30;
};

struct BrokerEvents {
  // CONNACK: `refused` empty when accepted, else the broker's reason.
  std::function<void(const std::string& refused)> connected;
  // The connection went (or a connect attempt failed): why.
  std::function<void(const std::string& why)> disconnected;
  std::function<void(const std::string& topic, const std::string& payload)> message;
  // The network thread stopped for good on an error libmosquitto does not
  // retry (its loop returns on a failed TLS handshake, with no disconnect
  // callback): a new connection must be made. `why` is the first TLS error.
  std::function<void(const std::string& why)> gave_up;
};

class MqttConnection {
 public:
  // Throws std::runtime_error when libmosquitto refuses the options (TLS files).
  MqttConnection(const BrokerOptions& options, BrokerEvents events);
  ~MqttConnection();  // disconnects and joins the network thread
  MqttConnection(const MqttConnection&) = delete;
  MqttConnection& operator=(const MqttConnection&) = delete;

  // Starts connecting in the background; retried with backoff until it works.
  void start();
  // False when not connected (the message is not queued for later).
  bool subscribe(const std::string& topic);
  bool publish(const std::string& topic, const std::string& payload);

 private:
  static void on_connect(mosquitto*, void* self, int rc);
  static void on_disconnect(mosquitto*, void* self, int rc);
  static void on_message(mosquitto*, void* self, const mosquitto_message* message);
  static void on_log(mosquitto*, void* self, int level, const char* text);

  BrokerOptions options_;
  BrokerEvents events_;
  mosquitto* client_ = nullptr;
  bool started_ = false;
};

}  // namespace homesip::mqtt
