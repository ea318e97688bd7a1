// login, logout, whoami and users: the gateway's AuthService.
#include <unistd.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "spine/v1/auth.grpc.pb.h"
#include "tools/spinectl/commands.h"
#include "tools/spinectl/context.h"

namespace spine::spinectl {
namespace {

using spine::v1::AuthService;

Table UserTable(const google::protobuf::RepeatedPtrField<spine::v1::User>& users) {
  Table table{{"id", "username", "role", "disabled"}, {}};
  for (const spine::v1::User& user : users) {
    table.rows.push_back(
        {std::to_string(user.id()), user.username(), user.role(), user.disabled() ? "yes" : "no"});
  }
  return table;
}

absl::Status PrintUser(Context& context, const spine::v1::User& user) {
  google::protobuf::RepeatedPtrField<spine::v1::User> one;
  *one.Add() = user;
  return context.printer().Print(user, UserTable(one), {std::to_string(user.id())});
}

absl::Status Login(Context& context, const Args& args) {
  std::string username = args.Get("username").value_or("");
  if (username.empty()) {
    if (isatty(STDIN_FILENO) == 0) return UsageError("--username is required");
    std::cerr << "Username: " << std::flush;
    std::getline(std::cin, username);
  }
  absl::StatusOr<std::string> password =
      ReadPassword(args.Get("password-file"), absl::StrCat("Password for ", username, ": "));
  if (!password.ok()) return password.status();
  spine::v1::LoginRequest request;
  request.set_username(username);
  request.set_password(*password);
  spine::v1::SessionTokens tokens;
  AuthService::Stub stub(context.Channel(Service::kGateway));
  std::unique_ptr<grpc::ClientContext> call = context.NewCall("");
  const grpc::Status status = stub.Login(call.get(), request, &tokens);
  if (!status.ok()) {
    return FromGrpc(status, Service::kGateway, context.settings().address(Service::kGateway));
  }
  if (absl::Status saved = context.SaveSession(username, tokens.access_token(), tokens.expires_in(),
                                               tokens.refresh_token());
      !saved.ok()) {
    return saved;
  }
  if (context.printer().format() == Format::kTable) {
    context.out() << "logged in as " << username << " (session kept in "
                  << context.settings().credentials_path << ")\n";
  } else if (context.printer().format() == Format::kJson) {
    // The tokens stay in the credentials file; scripts get when the session lapses.
    spine::v1::SessionTokens shown;
    shown.set_token_type(tokens.token_type());
    shown.set_expires_in(tokens.expires_in());
    shown.set_refresh_expires_in(tokens.refresh_expires_in());
    return context.printer().Print(shown, {}, {});
  }
  return absl::OkStatus();
}

absl::Status Logout(Context& context, const Args& /*args*/) {
  absl::StatusOr<std::optional<Credentials>> stored =
      ReadCredentials(context.settings().credentials_path);
  if (!stored.ok()) return stored.status();
  if (stored->has_value()) {
    spine::v1::LogoutRequest request;
    request.set_refresh_token((*stored)->refresh_token);
    google::protobuf::Empty empty;
    absl::Status revoked =
        context.Unary(Service::kGateway, &AuthService::Stub::Logout, request, &empty);
    // The local session goes either way; a session the gateway already ended is not an error.
    if (absl::Status removed = RemoveCredentials(context.settings().credentials_path);
        !removed.ok()) {
      return removed;
    }
    if (!revoked.ok() && revoked.code() != absl::StatusCode::kUnauthenticated) return revoked;
  }
  if (context.printer().format() == Format::kTable) context.out() << "logged out\n";
  return absl::OkStatus();
}

absl::Status WhoAmI(Context& context, const Args& /*args*/) {
  spine::v1::User user;
  if (absl::Status status = context.Unary(Service::kGateway, &AuthService::Stub::GetMe,
                                          spine::v1::GetMeRequest(), &user);
      !status.ok()) {
    return status;
  }
  return PrintUser(context, user);
}

absl::Status CreateUser(Context& context, const Args& args) {
  spine::v1::CreateUserRequest request;
  request.set_username(args.positional()[0]);
  request.set_role(args.Get("role").value_or("user"));
  absl::StatusOr<std::string> password = ReadPassword(
      args.Get("password-file"), absl::StrCat("Password for ", request.username(), ": "));
  if (!password.ok()) return password.status();
  request.set_password(*password);
  spine::v1::User user;
  if (absl::Status status =
          context.Unary(Service::kGateway, &AuthService::Stub::CreateUser, request, &user);
      !status.ok()) {
    return status;
  }
  return PrintUser(context, user);
}

absl::Status ListUsers(Context& context, const Args& /*args*/) {
  spine::v1::ListUsersResponse response;
  if (absl::Status status = context.Unary(Service::kGateway, &AuthService::Stub::ListUsers,
                                          spine::v1::ListUsersRequest(), &response);
      !status.ok()) {
    return status;
  }
  std::vector<std::string> ids;
  for (const spine::v1::User& user : response.users()) ids.push_back(std::to_string(user.id()));
  return context.printer().Print(response, UserTable(response.users()), ids);
}

absl::Status SetRole(Context& context, const Args& args) {
  absl::StatusOr<int64_t> id = ParseId(args.positional()[0], "user id");
  if (!id.ok()) return id.status();
  spine::v1::SetUserRoleRequest request;
  request.set_id(*id);
  request.set_role(args.positional()[1]);
  spine::v1::User user;
  if (absl::Status status =
          context.Unary(Service::kGateway, &AuthService::Stub::SetUserRole, request, &user);
      !status.ok()) {
    return status;
  }
  return PrintUser(context, user);
}

absl::Status ResetPassword(Context& context, const Args& args) {
  absl::StatusOr<int64_t> id = ParseId(args.positional()[0], "user id");
  if (!id.ok()) return id.status();
  absl::StatusOr<std::string> password =
      ReadPassword(args.Get("password-file"), absl::StrCat("New password for user ", *id, ": "));
  if (!password.ok()) return password.status();
  spine::v1::ResetPasswordRequest request;
  request.set_id(*id);
  request.set_password(*password);
  google::protobuf::Empty empty;
  if (absl::Status status =
          context.Unary(Service::kGateway, &AuthService::Stub::ResetPassword, request, &empty);
      !status.ok()) {
    return status;
  }
  if (context.printer().format() == Format::kTable) {
    context.out() << "password of user " << *id << " reset; its sessions have ended\n";
  } else {
    return context.printer().Print(empty, {}, {std::to_string(*id)});
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterSessionCommands(Registry& registry) {
  const OptionSpec password_file = {"password-file", "FILE",
                                    "read the password from FILE's first line (- for stdin)"};
  registry.Add({{"login"},
                "",
                "Log in at the gateway and keep the session.\n"
                "The refresh token is kept in $XDG_CONFIG_HOME/spine/credentials (mode 0600).\n"
                "The password comes from --password-file, else a prompt without echo, else\n"
                "stdin's first line.",
                {{"username", "NAME", "who to log in as"}, password_file},
                0,
                0,
                Login});
  registry.Add(
      {{"logout"}, "", "End the session at the gateway and forget it here.", {}, 0, 0, Logout});
  registry.Add({{"whoami"}, "", "Show the logged-in user.", {}, 0, 0, WhoAmI});
  registry.DescribeGroup({"users"}, "Accounts (admin)");
  registry.Add({{"users", "create"},
                "USERNAME",
                "Create a user (admin). The password is read like login's.",
                {{"role", "ROLE", "user (default) or admin"}, password_file},
                1,
                1,
                CreateUser});
  registry.Add({{"users", "list"}, "", "List every user (admin).", {}, 0, 0, ListUsers});
  registry.Add({{"users", "set-role"},
                "ID ROLE",
                "Make a user a \"user\" or an \"admin\" (admin).",
                {},
                2,
                2,
                SetRole});
  registry.Add({{"users", "reset-password"},
                "ID",
                "Set a user's password (admin); every session of that user ends.",
                {password_file},
                1,
                1,
                ResetPassword});
}

}  // namespace spine::spinectl
