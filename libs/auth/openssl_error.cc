#include "libs/auth/openssl_error.h"

#include <openssl/err.h>

namespace spine {

std::string TakeOpenSslError() {
  std::string reason;
  unsigned long code = 0;
  while ((code = ERR_get_error()) != 0) {
    if (reason.empty()) {
      char buf[256];
      ERR_error_string_n(code, buf, sizeof(buf));
      reason = buf;
    }
  }
  return reason.empty() ? "no OpenSSL detail" : reason;
}

}  // namespace spine
