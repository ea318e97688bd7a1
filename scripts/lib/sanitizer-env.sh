# Sourced: sanitizer_env DIR exports the options that make a sanitizer build (the asan and tsan
# presets) write every report to a file under DIR (asan.<pid>, ubsan.<pid>, tsan.<pid>), so a
# report from any process — a service a test or a bench started, whose stderr nobody reads — is
# found afterwards by scripts/check-sanitizer-reports. The caller's own options come last and win.
sanitizer_env() {
  local dir=$1
  mkdir -p "$dir"
  # Set once: a script that calls another which calls this again changes nothing.
  case ${ASAN_OPTIONS:-} in *"log_path=$dir/asan"*) return 0 ;; esac
  export ASAN_OPTIONS="log_path=$dir/asan:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
  export UBSAN_OPTIONS="log_path=$dir/ubsan:print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
  export TSAN_OPTIONS="log_path=$dir/tsan${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
}
