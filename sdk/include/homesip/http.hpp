// Pages and JSON a plugin serves on the core's HTTP listener (`server.http`,
// since SDK 3.2): the status page is such a plugin. The core owns the socket,
// its threads and who may ask (the listener's token); it serves `/metrics`
// (Prometheus text) and `/api/...` (every admin command as JSON) itself, and
// hands any other GET to the plugin that claimed the path.
#pragma once

#include <functional>
#include <map>
#include <string>

namespace homesip {

struct HttpRequest {
  std::string method;  // "GET" or "HEAD"
  std::string path;    // as requested, without the query: "/", "/status/app.js"
  // The query's parameters, decoded; a parameter given twice keeps its first value.
  std::map<std::string, std::string, std::less<>> query;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/html; charset=utf-8";
  std::string body;
};

// Answers a request once, from any thread.
using HttpDone = std::function<void(HttpResponse response)>;
// Runs on the main loop thread, after the core checked the requester's token.
using HttpHandler = std::function<void(const HttpRequest& request, HttpDone done)>;

}  // namespace homesip
