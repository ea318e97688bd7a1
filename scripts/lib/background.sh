# shellcheck shell=bash
# Background jobs for .ci/run: CPU work a later step needs (clang-tidy over the tree, the fuzz and
# TSan builds) started early at idle priority, so it runs on the CPU the test step leaves unused
# (its integration tests spend much of their time waiting on processes, sockets and deadlines)
# instead of after it, without slowing what the tests time.
#
# Idle priority takes two settings, because Linux schedules sessions as groups (autogroups, on by
# default): CPU is shared between groups first, so a SCHED_IDLE process in a group of its own
# would still get a full group's share. Each job is its own session (setsid, which also gives
# pause/resume/stop one process group to signal) with its autogroup at nice 19 (weight 15 against
# an ordinary group's 1024), and runs SCHED_IDLE (chrt --idle) inside it, which is what counts
# where autogroups are off. Children inherit both.
#
#   background_start NAME CMD...  runs CMD as a job; output to $BACKGROUND_DIR/NAME.log
#   background_pause / background_resume
#                                 SIGSTOP / SIGCONT every running job (around the timed steps)
#   background_wait NAME          raises NAME to ordinary priority (it is now what the run waits
#                                 for), waits for it, prints its log; returns its exit status
#   background_stop               kills what is still running (the caller's EXIT trap)
#
# BACKGROUND_DIR must be set before background_start (a directory of the build).

declare -A background_pids=()

background_start() {
  local name=$1
  shift
  mkdir -p "$BACKGROUND_DIR"
  rm -f "$BACKGROUND_DIR/$name.rc"
  # setsid: its own process group, which pause/resume/stop signal as a whole.
  # shellcheck disable=SC2016 # expanded by the inner shell
  setsid bash -c '{ echo 19 >/proc/self/autogroup; } 2>/dev/null || true
    chrt --idle 0 "$@" >"$0.log" 2>&1; echo $? >"$0.rc"' \
    "$BACKGROUND_DIR/$name" "$@" </dev/null &
  background_pids[$name]=$!
  echo "background: started $name (pid $!, idle priority): $*"
}

background_signal() {
  local signal=$1 name
  for name in "${!background_pids[@]}"; do
    kill "-$signal" -- "-${background_pids[$name]}" 2>/dev/null || true
  done
}

background_pause() { background_signal STOP; }
background_resume() { background_signal CONT; }

background_wait() {
  local name=$1 pid rc started
  pid=${background_pids[$name]:?"background: no job $name"}
  started=$(date +%s)
  # The job's group back to nice 0 and every process of it to the ordinary policy; processes it
  # starts from now on inherit that. (Lowering a nice value needs root; CI runs as root.)
  { echo 0 >"/proc/$pid/autogroup"; } 2>/dev/null || true
  for p in $(pgrep -g "$pid" 2>/dev/null || true); do chrt --other -p 0 "$p" 2>/dev/null || true; done
  wait "$pid" || true
  unset "background_pids[$name]"
  rc=$(cat "$BACKGROUND_DIR/$name.rc" 2>/dev/null || echo 1)
  echo "background: $name ended with exit $rc (waited $(($(date +%s) - started))s for it)"
  cat "$BACKGROUND_DIR/$name.log"
  return "$rc"
}

background_stop() {
  background_signal CONT
  background_signal KILL
}
