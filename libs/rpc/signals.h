// Termination signals, taken synchronously so shutdown runs on an ordinary thread.
#pragma once

namespace spine::rpc {

// Blocks SIGTERM and SIGINT and ignores SIGPIPE. Call first in main, before any thread starts,
// so every thread inherits the mask.
void BlockTerminationSignals();

// Waits until SIGTERM or SIGINT arrives; returns the signal number.
int WaitForTerminationSignal();

}  // namespace spine::rpc
