// The reason behind a failed OpenSSL call, for the status that reports it.
#pragma once

#include <string>

namespace spine {

// Drains OpenSSL's thread-local error queue into a short reason, so a failure here never leaks
// into an unrelated OpenSSL call later on the same thread.
std::string TakeOpenSslError();

}  // namespace spine
