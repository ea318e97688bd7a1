#include "services/gateway/gateway_http_handler.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "services/gateway/http/error_response.h"

namespace spine::gateway {
namespace {

HttpResponse JsonResponse(int status, const nlohmann::ordered_json& body) {
  HttpResponse response;
  response.status = status;
  response.headers.emplace_back("Content-Type", "application/json");
  response.headers.emplace_back("Cache-Control", "no-store");
  response.body = body.dump();
  return response;
}

HttpResponse MethodNotAllowedResponse(const HttpRequest& request, absl::string_view allow) {
  HttpResponse response = MakeErrorResponse(
      405, absl::StatusCode::kUnimplemented,
      absl::StrCat("method ", request.method, " is not allowed on ", request.path),
      "METHOD_NOT_ALLOWED");
  response.headers.emplace_back("Allow", std::string(allow));
  return response;
}

}  // namespace

void GatewayHttpHandler::Handle(HttpRequest request, HttpReply reply) {
  // Counted and logged under the route template (bounded), never the raw path.
  std::string route;
  for (const char* path : kOperationsPaths) {
    if (request.path == path) route = path;
  }
  if (route.empty() && api_.api != nullptr) route = api_.api->RouteLabel(request);
  request.client_ip = ClientOf(request).ToString();
  std::vector<std::pair<std::string, std::string>> log_fields = {
      {"route", route.empty() ? "unmatched" : route}, {"client", request.client_ip}};
  std::optional<AccessClaims> claims = ClaimsOf(request);
  if (claims) log_fields.emplace_back("user", claims->sub);
  std::optional<HttpRequest> cors_request;
  if (api_.cors != nullptr && !api_.cors->empty()) {
    // Only what Decorate reads: the request itself moves on to the API.
    cors_request.emplace();
    cors_request->method = request.method;
    cors_request->headers = request.headers;
  }
  reply = [reply = std::move(reply), metrics = api_.metrics, route = std::move(route),
           log_fields = std::move(log_fields), method = request.method, start = absl::Now(),
           cors = api_.cors, cors_request = std::move(cors_request)](HttpResponse response) {
    if (cors_request) cors->Decorate(*cors_request, response);
    if (metrics != nullptr) {
      metrics->RecordRequest(route, method, response.status, absl::Now() - start);
    }
    response.access_log.insert(response.access_log.end(), log_fields.begin(), log_fields.end());
    reply(std::move(response));
  };
  if (api_.cors != nullptr) {
    if (std::optional<HttpResponse> preflight = api_.cors->Preflight(request)) {
      return reply(*std::move(preflight));
    }
  }
  // /openapi.json is served here but is not on API.md's exempt list: it is limited like the API.
  const bool limited_operation = request.path == "/openapi.json";
  if (limited_operation && !Admit(request, reply)) return;
  if (HandleOperations(request, reply)) return;
  if (!limited_operation && !Admit(request, reply)) return;
  if (api_.api_keys != nullptr && api_.api != nullptr) {
    const std::optional<std::string> authorization = request.Header("Authorization");
    if (authorization && absl::StartsWith(*authorization, "Bearer ") &&
        IsApiKey(absl::string_view(*authorization).substr(7))) {
      const std::string key = authorization->substr(7);
      return ForwardWithApiKey(std::move(request), key, std::move(reply));
    }
  }
  Forward(std::move(request), std::move(claims), std::move(reply));
}

void GatewayHttpHandler::ForwardWithApiKey(HttpRequest request, const std::string& key,
                                           HttpReply reply) const {
  std::string method = request.method;
  std::string path = request.path;
  api_.api_keys->Resolve(
      key, std::move(method), std::move(path),
      [this, request = std::move(request),
       reply = std::move(reply)](absl::StatusOr<std::string> token) mutable {
        if (!token.ok()) {
          HttpResponse response =
              MakeErrorResponse(token.status(), absl::StatusCodeToString(token.status().code()));
          if (absl::IsUnavailable(token.status())) {
            response.headers.emplace_back("Retry-After", "1");
          }
          return reply(std::move(response));
        }
        for (auto& [name, value] : request.headers) {
          if (absl::EqualsIgnoreCase(name, "Authorization"))
            value = absl::StrCat("Bearer ", *token);
        }
        std::optional<AccessClaims> claims = ClaimsOf(request);
        reply = [reply = std::move(reply),
                 user = claims ? claims->sub : std::string()](HttpResponse response) {
          response.access_log.emplace_back("user", user);
          response.access_log.emplace_back("credential", "api_key");
          reply(std::move(response));
        };
        Forward(std::move(request), std::move(claims), std::move(reply));
      });
}

void GatewayHttpHandler::Forward(HttpRequest request, std::optional<AccessClaims> claims,
                                 HttpReply reply) const {
  if (api_.api == nullptr) {
    return reply(MakeErrorResponse(absl::StatusCode::kNotFound,
                                   absl::StrCat("no route for ", request.path), "ROUTE_NOT_FOUND"));
  }
  // A token that does not verify is left to the service, which refuses it in its own words.
  if (api_.sessions == nullptr || !claims) {
    return api_.api->Handle(std::move(request), std::move(reply));
  }
  api_.sessions->Check(*claims, [api = api_.api, request = std::move(request),
                                 reply = std::move(reply)](const absl::Status& status) mutable {
    if (status.ok()) return api->Handle(std::move(request), std::move(reply));
    HttpResponse response = MakeErrorResponse(status, absl::StatusCodeToString(status.code()));
    if (absl::IsUnavailable(status)) response.headers.emplace_back("Retry-After", "1");
    reply(std::move(response));
  });
}

bool GatewayHttpHandler::HandleOperations(const HttpRequest& request, HttpReply& reply) const {
  const std::string& path = request.path;
  const bool served = path == "/healthz" || path == "/readyz" ||
                      (path == "/status" && api_.status != nullptr) ||
                      (path == "/metrics" && api_.metrics != nullptr) ||
                      (path == "/openapi.json" && api_.openapi_json != nullptr);
  if (!served) return false;
  if (request.method != "GET" && request.method != "HEAD") {
    reply(MethodNotAllowedResponse(request, "GET, HEAD"));
  } else if (path == "/healthz") {
    reply(JsonResponse(200, {{"status", "ok"}}));
  } else if (path == "/readyz") {
    Readyz(std::move(reply));
  } else if (path == "/status") {
    // Answered from the aggregator's thread once the probes are in (or from its cache).
    api_.status->Get([reply = std::move(reply)](std::string json) {
      HttpResponse response;
      response.headers.emplace_back("Content-Type", "application/json");
      response.headers.emplace_back("Cache-Control", "no-store");
      response.body = std::move(json);
      reply(std::move(response));
    });
  } else if (path == "/metrics") {
    std::string own = api_.metrics->RenderPrometheusText();
    auto answer = [reply = std::move(reply)](std::string text) {
      HttpResponse response;
      response.headers.emplace_back("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
      response.headers.emplace_back("Cache-Control", "no-store");
      response.body = std::move(text);
      reply(std::move(response));
    };
    if (api_.status == nullptr) {
      answer(std::move(own));
    } else {
      // The services' part comes from the status probes (cached with /status for a second).
      api_.status->GetMetrics([own = std::move(own), answer = std::move(answer)](
                                  const std::string& services) { answer(own + services); });
    }
  } else {
    HttpResponse response;
    response.headers.emplace_back("Content-Type", "application/json");
    response.body = *api_.openapi_json;
    reply(std::move(response));
  }
  return true;
}

IpAddress GatewayHttpHandler::ClientOf(const HttpRequest& request) const {
  std::vector<std::string> forwarded;
  for (const auto& [name, value] : request.headers) {
    if (absl::EqualsIgnoreCase(name, "X-Forwarded-For")) forwarded.push_back(value);
  }
  // A peer that does not parse (it always should) shares one bucket rather than escaping.
  const IpAddress peer = IpAddress::Parse(request.peer_ip).value_or(IpAddress::V4({0, 0, 0, 0}));
  static const TrustedProxies kNobody;
  return ClientIp(peer, forwarded, api_.trusted_proxies ? *api_.trusted_proxies : kNobody);
}

std::optional<AccessClaims> GatewayHttpHandler::ClaimsOf(const HttpRequest& request) const {
  if (api_.verifier == nullptr) return std::nullopt;
  const std::optional<std::string> authorization = request.Header("Authorization");
  if (!authorization || !absl::StartsWith(*authorization, "Bearer ")) return std::nullopt;
  // The verifier caches verified tokens, so this is one hash for a returning client.
  absl::StatusOr<AccessClaims> claims =
      api_.verifier->Verify(std::string_view(*authorization).substr(7));
  if (!claims.ok()) return std::nullopt;
  return *std::move(claims);
}

bool GatewayHttpHandler::Admit(const HttpRequest& request, HttpReply& reply) const {
  if (api_.limiter == nullptr) return true;
  const RateLimiter::Decision decision = api_.limiter->Admit(ClientKey::For(ClientOf(request)));
  HttpHeaders headers = RateLimitHeaders(api_.limiter->requests_per_minute(), decision);
  if (!decision.allowed) {
    if (api_.metrics != nullptr) api_.metrics->RecordRateLimited();
    HttpResponse response =
        MakeErrorResponse(absl::StatusCode::kResourceExhausted,
                          absl::StrCat("rate limit of ", api_.limiter->requests_per_minute(),
                                       " requests per minute exceeded; retry in ",
                                       decision.retry_after_seconds, " s"),
                          "RATE_LIMITED");
    response.headers.insert(response.headers.end(), headers.begin(), headers.end());
    reply(std::move(response));
    return false;
  }
  reply = [reply = std::move(reply), headers = std::move(headers)](HttpResponse response) {
    response.headers.insert(response.headers.end(), headers.begin(), headers.end());
    reply(std::move(response));
  };
  return true;
}

void GatewayHttpHandler::Readyz(HttpReply reply) const {
  readiness_.CheckAll(readiness_timeout_, [reply = std::move(reply)](const Readiness& readiness) {
    const std::vector<std::string>& not_ready = readiness.not_ready;
    if (not_ready.empty() && readiness.degraded.empty()) {
      return reply(JsonResponse(200, {{"status", "ready"}}));
    }
    if (not_ready.empty()) {
      // Usable, but not all of it: still 200, so the stack is not taken out of service for
      // one model server being down.
      return reply(JsonResponse(200, {{"status", "degraded"}, {"degraded", readiness.degraded}}));
    }
    HttpResponse response = MakeErrorResponse(
        absl::StatusCode::kUnavailable, absl::StrCat("not ready: ", absl::StrJoin(not_ready, ", ")),
        "SERVICES_NOT_READY");
    // The names are also a list, so scripts need not parse the message.
    nlohmann::ordered_json body = nlohmann::ordered_json::parse(response.body);
    body["error"]["details"][0]["metadata"]["services"] = absl::StrJoin(not_ready, ",");
    body["notReady"] = not_ready;
    if (!readiness.degraded.empty()) body["degraded"] = readiness.degraded;
    response.body = body.dump();
    response.headers.emplace_back("Retry-After", "1");
    reply(std::move(response));
  });
}

}  // namespace spine::gateway
