// `spine-gateway reset-admin-password <username> [--password-file FILE]`: the way back in when
// every admin password is forgotten. Run on the gateway's host with the gateway's configuration
// (environment or .env): it signs a service token with SPINE_JWT_PRIVATE_KEY_FILE and calls
// spine-storage directly, so it works whether or not the gateway is running.
//
// It reads the new password from FILE, or from standard input when no file is given (or FILE is
// "-"), dropping one trailing newline; it never takes it on the command line, where `ps` and the
// shell history would show it. The named user then has that password, is an enabled admin, and
// every refresh-token session of it is revoked; a user that does not exist is created as an
// admin. The act is audited (auth.password.reset, actor "gateway", details via=cli).
#pragma once

namespace spine::gateway {

// Returns the process exit code: 0 done, 1 storage refused or could not be reached, 2 usage or
// configuration error. Messages go to stderr, the outcome to stdout.
int RunResetAdminPasswordCommand(int argc, const char* const* argv);

}  // namespace spine::gateway
