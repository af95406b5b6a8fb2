#include "web/certificate.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <memory>
#include <stdexcept>

namespace portcullis::web {
namespace {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* handle) const {
    Free(handle);
  }
};
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using Certificate = std::unique_ptr<X509, Deleter<X509_free>>;
using Extension = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO_free_all>>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("cannot make the console's certificate: ") + what);
}

bool is_address(const std::string& name) {
  unsigned char binary[16];
  return inet_pton(AF_INET, name.c_str(), binary) == 1 ||
         inet_pton(AF_INET6, name.c_str(), binary) == 1;
}

void add_extension(X509* certificate, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, certificate, certificate, nullptr, nullptr, 0);
  Extension extension(X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str()));
  check(extension != nullptr && X509_add_ext(certificate, extension.get(), -1) == 1, "extension");
}

// The key goes to a file only its owner may read, created so from the start.
void write_key(const std::filesystem::path& file, EVP_PKEY* key) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot create " + file.string());
  FILE* out = ::fdopen(fd, "w");
  if (out == nullptr) {
    ::close(fd);
    throw std::runtime_error("cannot write " + file.string());
  }
  const bool written = PEM_write_PrivateKey(out, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  const bool closed = std::fclose(out) == 0;
  if (!written || !closed) throw std::runtime_error("cannot write " + file.string());
}

}  // namespace

std::string create_self_signed_certificate(const std::filesystem::path& cert_file,
                                           const std::filesystem::path& key_file,
                                           const std::vector<std::string>& names) {
  Key key(EVP_EC_gen("P-256"));
  check(key != nullptr, "P-256 key");
  Certificate certificate(X509_new());
  check(certificate != nullptr && X509_set_version(certificate.get(), 2) == 1, "version");
  unsigned char serial[16];
  check(RAND_bytes(serial, sizeof serial) == 1, "serial");
  serial[0] &= 0x7f;  // a positive number
  BIGNUM* number = BN_bin2bn(serial, sizeof serial, nullptr);
  check(number != nullptr && BN_to_ASN1_INTEGER(number, X509_get_serialNumber(certificate.get())),
        "serial");
  BN_free(number);
  check(X509_gmtime_adj(X509_getm_notBefore(certificate.get()), -60) != nullptr &&
            X509_gmtime_adj(X509_getm_notAfter(certificate.get()), 365L * 24 * 3600) != nullptr,
        "validity");
  check(X509_set_pubkey(certificate.get(), key.get()) == 1, "public key");
  X509_NAME* subject = X509_get_subject_name(certificate.get());
  const std::string common_name = names.empty() ? "portcullis" : names.front();
  check(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                   -1, 0) == 1 &&
            X509_set_issuer_name(certificate.get(), subject) == 1,
        "subject");
  std::string alternatives;
  for (const std::string& name : names) {
    alternatives +=
        (alternatives.empty() ? "" : ",") + std::string(is_address(name) ? "IP:" : "DNS:") + name;
  }
  if (!alternatives.empty()) add_extension(certificate.get(), NID_subject_alt_name, alternatives);
  add_extension(certificate.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(certificate.get(), NID_ext_key_usage, "serverAuth");
  check(X509_sign(certificate.get(), key.get(), EVP_sha256()) > 0, "signature");

  write_key(key_file, key.get());
  Bio out(BIO_new_file(cert_file.c_str(), "w"));
  check(out != nullptr && PEM_write_bio_X509(out.get(), certificate.get()) == 1,
        "certificate file");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  check(X509_digest(certificate.get(), EVP_sha256(), digest, &length) == 1, "fingerprint");
  std::string fingerprint;
  for (unsigned int i = 0; i < length; ++i) {
    char hex[4];
    std::snprintf(hex, sizeof hex, i == 0 ? "%02X" : ":%02X", digest[i]);
    fingerprint += hex;
  }
  return fingerprint;
}

}  // namespace portcullis::web
