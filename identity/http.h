// HTTPS requests to the IdP with libcurl: https only, no redirects followed, 10 s per request,
// answers bounded (1 MiB): the IdP's bytes are outside input like any other.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace portcullis::identity {

struct HttpAnswer {
  long status = 0;
  std::string body;
};

struct HttpRequest {
  std::string url;
  std::optional<std::string> form;  // application/x-www-form-urlencoded body: a POST
  std::string user;                 // HTTP Basic (client_secret_basic), already form-encoded
  std::string password;
  std::filesystem::path ca_file;  // "" = the system's certificates
};

// Throws SignInError("idp_unavailable") when no answer came.
HttpAnswer send(const HttpRequest& request);

// application/x-www-form-urlencoded escaping of one name or value.
std::string form_encode(const std::string& text);

}  // namespace portcullis::identity
