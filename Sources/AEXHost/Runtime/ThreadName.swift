import CLinux

/// The name a thread shows in `ps -L`, `top -H` and `/proc/…/comm` (at most 15 bytes are kept).
enum ThreadName {
    /// Names the calling thread.
    static func set(_ name: String) {
        _ = aex_set_thread_name(name)
    }
}
