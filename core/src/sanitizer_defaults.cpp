// Sanitizer defaults for the executables that unload plugins: homesipd and
// core_unit_tests (linked into both; empty in builds without ASan).
#if defined(__SANITIZE_ADDRESS__)
// They dlclose their plugins before they exit, and LeakSanitizer then scans
// the main thread's dynamic TLS as it recorded it when the plugins'
// thread_locals were first used: blocks of modules no longer mapped. Its
// tracer faults on them now and then ("Tracer caught signal 11", "DTLS 8 at
// 0x4a8-0x30000015aa", exit 134 with abort_on_error: 3 of 16 sanitized TCP
// loadgen runs, 0 of 40 with this) and no leak is checked at all. Not
// recording dynamic TLS keeps the check: what only an unloaded plugin's
// thread_local still held is a leak anyway. ASAN_OPTIONS set by whoever runs
// the program still override this.
extern "C" const char* __asan_default_options() { return "intercept_tls_get_addr=0"; }
#endif
