#include "libs/rpc/status_probe.h"

#include <malloc.h>
#include <unistd.h>

#include <fstream>

#if defined(__SANITIZE_ADDRESS__)
// The sanitizer allocator's public interface (<sanitizer/allocator_interface.h>, which only
// clang installs; GCC's libasan exports the same function).
extern "C" size_t
__sanitizer_get_current_allocated_bytes();  // NOLINT(bugprone-reserved-identifier)
#endif

#include "libs/core/common_config.h"

namespace spine::rpc {

ProcessMemory ReadProcessMemory() {
  ProcessMemory memory;
  constexpr double kMiB = 1024.0 * 1024.0;
  std::ifstream statm("/proc/self/statm");
  long total_pages = 0;
  long resident_pages = 0;
  if (statm >> total_pages >> resident_pages) {
    memory.rss_mb =
        static_cast<double>(resident_pages) * static_cast<double>(sysconf(_SC_PAGESIZE)) / kMiB;
  }
#if defined(__SANITIZE_ADDRESS__)
  // ASan replaces malloc, so glibc's mallinfo2 sees nothing: ask the allocator that runs.
  memory.heap_used_mb = static_cast<double>(__sanitizer_get_current_allocated_bytes()) / kMiB;
#else
  const struct mallinfo2 info = mallinfo2();
  memory.heap_used_mb = static_cast<double>(info.uordblks + info.hblkhd) / kMiB;
#endif
  return memory;
}

StatusProbeService::StatusProbeService(std::string service, const Clock& clock, Extras extras)
    : service_(std::move(service)),
      clock_(clock),
      started_(clock.MonotonicNow()),
      extras_(std::move(extras)) {}

grpc::ServerUnaryReactor* StatusProbeService::GetServiceStatus(
    grpc::CallbackServerContext* context, const spine::v1::GetServiceStatusRequest* /*request*/,
    spine::v1::ServiceStatus* response) {
  const ProcessMemory memory = ReadProcessMemory();
  response->set_service(service_);
  response->set_up(true);
  response->set_version(kSpineVersion);
  response->set_rss_mb(memory.rss_mb);
  response->set_heap_used_mb(memory.heap_used_mb);
  response->set_uptime_seconds(absl::ToInt64Seconds(clock_.MonotonicNow() - started_));
  if (extras_) extras_(response);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace spine::rpc
