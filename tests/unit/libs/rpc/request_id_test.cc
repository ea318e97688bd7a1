#include "libs/rpc/request_id.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/server_builder.h"
#include "libs/rpc/channel.h"
#include "spine/v1/common.grpc.pb.h"

namespace spine::rpc {
namespace {

TEST_CASE("request ids of 1 to 128 allowed characters are valid") {
  CHECK(IsValidRequestId("a"));
  CHECK(IsValidRequestId("0123456789abcdef0123456789abcdef"));
  CHECK(IsValidRequestId("ABCxyz-09_.:"));
  CHECK(IsValidRequestId("req.2024-01-01T00:00:00_x"));
  CHECK(IsValidRequestId(std::string(128, 'x')));
}

TEST_CASE("an empty request id is invalid") { CHECK_FALSE(IsValidRequestId("")); }

TEST_CASE("a request id longer than 128 characters is invalid") {
  CHECK_FALSE(IsValidRequestId(std::string(129, 'x')));
  CHECK_FALSE(IsValidRequestId(std::string(4096, 'a')));
}

TEST_CASE("each of the punctuation characters . _ : - is allowed on its own") {
  const char* id = GENERATE(".", "_", ":", "-");
  CHECK(IsValidRequestId(id));
}

TEST_CASE("request ids with other characters are invalid") {
  const std::string id =
      GENERATE(as<std::string>{}, "has space", "line\nbreak", "tab\there", "cr\r", "semi;colon",
               "slash/", "back\\slash", "quote\"", "comma,", "plus+", "equals=", "at@", "percent%",
               "caf\xC3\xA9", "\xE2\x82\xAC", "trailing ");
  INFO(id);
  CHECK_FALSE(IsValidRequestId(id));
}

TEST_CASE("a request id with an embedded NUL byte is invalid") {
  CHECK_FALSE(IsValidRequestId(absl::string_view("ab\0cd", 5)));
}

TEST_CASE("a new request id is 32 lowercase hex characters and itself valid") {
  const std::string id = NewRequestId();
  INFO(id);
  CHECK(id.size() == 32);
  for (char c : id) CHECK(((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')));
  CHECK(IsValidRequestId(id));
}

TEST_CASE("two new request ids differ") {
  const std::string first = NewRequestId();
  const std::string second = NewRequestId();
  CHECK(first != second);
}

}  // namespace
}  // namespace spine::rpc

namespace spine::rpc {
namespace {

// A StatusService whose handler records the request id it sees and, if given a next hop, calls
// it with a plain MakeClientContext (no Caller), as the services' stores do.
class HopService final : public spine::v1::StatusService::Service {
 public:
  explicit HopService(spine::v1::StatusService::Stub* next) : next_(next) {}

  grpc::Status GetServiceStatus(grpc::ServerContext* context,
                                const spine::v1::GetServiceStatusRequest* /*request*/,
                                spine::v1::ServiceStatus* response) override {
    absl::MutexLock lock(&mu_);
    seen_header_ = RequestIdOf(*context);
    seen_current_ = CurrentRequestId();
    if (next_ != nullptr) {
      spine::v1::ServiceStatus downstream;
      const auto call = MakeClientContext(absl::Seconds(5));
      grpc::Status status = next_->GetServiceStatus(call.get(), {}, &downstream);
      if (!status.ok()) return status;
    }
    response->set_service("hop");
    return grpc::Status::OK;
  }

  std::string seen_header() const {
    absl::MutexLock lock(&mu_);
    return seen_header_;
  }
  std::string seen_current() const {
    absl::MutexLock lock(&mu_);
    return seen_current_;
  }

 private:
  spine::v1::StatusService::Stub* next_;
  mutable absl::Mutex mu_;
  std::string seen_header_ ABSL_GUARDED_BY(mu_);
  std::string seen_current_ ABSL_GUARDED_BY(mu_);
};

struct RunningServer {
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<spine::v1::StatusService::Stub> stub;
};

RunningServer Serve(HopService& service) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<RequestIdInterceptorFactory>());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  RunningServer running;
  running.server = builder.BuildAndStart();
  REQUIRE(running.server != nullptr);
  running.stub = spine::v1::StatusService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  return running;
}

TEST_CASE("the request id travels on every hop, also on calls made without a caller") {
  HopService last(nullptr);
  RunningServer storage = Serve(last);
  HopService first(storage.stub.get());
  RunningServer tasks = Serve(first);

  grpc::ClientContext context;
  context.AddMetadata(kRequestIdHeader, "req-from-the-edge");
  spine::v1::ServiceStatus status;
  REQUIRE(tasks.stub->GetServiceStatus(&context, {}, &status).ok());
  CHECK(first.seen_header() == "req-from-the-edge");
  CHECK(first.seen_current() == "req-from-the-edge");
  CHECK(last.seen_header() == "req-from-the-edge");

  // A call without an id gets a generated one, and the next hop logs that same id.
  grpc::ClientContext bare;
  REQUIRE(tasks.stub->GetServiceStatus(&bare, {}, &status).ok());
  CHECK(IsValidRequestId(first.seen_current()));
  CHECK(first.seen_current() != "req-from-the-edge");
  CHECK(last.seen_header() == first.seen_current());

  tasks.server->Shutdown();
  storage.server->Shutdown();
}

TEST_CASE("a request id scope sets this thread's id and restores the previous one") {
  CHECK(CurrentRequestId().empty());
  {
    const RequestIdScope outer("job-1");
    CHECK(CurrentRequestId() == "job-1");
    {
      const RequestIdScope inner("bad id with spaces");
      CHECK(CurrentRequestId().empty());  // never a client's invalid id
    }
    CHECK(CurrentRequestId() == "job-1");
    std::string elsewhere = "unset";
    std::thread([&elsewhere] { elsewhere = CurrentRequestId(); }).join();
    CHECK(elsewhere.empty());  // other threads are not this work
  }
  CHECK(CurrentRequestId().empty());
}

}  // namespace
}  // namespace spine::rpc
