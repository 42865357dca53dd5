// Linux calls that Swift's Glibc module does not export (epoll, eventfd, timerfd, accept4) plus
// a detached spawn. Every function returns what the system call returns (-1 and errno on failure).
#ifndef AEX_CLINUX_H
#define AEX_CLINUX_H

#include <stdint.h>
#include <sys/types.h>

/// One readiness event; `data` is the 64-bit token registered with the descriptor.
typedef struct {
    uint32_t events;
    uint64_t data;
} aex_epoll_event;

extern const uint32_t AEX_EPOLLIN;
extern const uint32_t AEX_EPOLLOUT;
extern const uint32_t AEX_EPOLLERR;
extern const uint32_t AEX_EPOLLHUP;
extern const uint32_t AEX_EPOLLRDHUP;
extern const uint32_t AEX_EPOLLET;
/// Wake one of the epoll sets watching a shared descriptor, not all (registration only; no modify).
extern const uint32_t AEX_EPOLLEXCLUSIVE;

int aex_epoll_create(void);
int aex_epoll_add(int epfd, int fd, uint32_t events, uint64_t data);
int aex_epoll_modify(int epfd, int fd, uint32_t events, uint64_t data);
int aex_epoll_remove(int epfd, int fd);
/// Waits up to `timeout_ms` (-1: forever); fills at most `max_events` entries of `out`.
int aex_epoll_wait(int epfd, aex_epoll_event *out, int max_events, int timeout_ms);

/// Non-blocking, close-on-exec eventfd.
int aex_eventfd(void);
int aex_eventfd_signal(int fd);
int aex_eventfd_drain(int fd);

/// Non-blocking, close-on-exec monotonic timerfd firing every `interval_ms`.
int aex_timerfd_periodic(int interval_ms);
int aex_timerfd_drain(int fd);

/// Non-blocking, close-on-exec monotonic timerfd, disarmed; arm it with aex_timerfd_arm_ms.
int aex_timerfd_oneshot(void);
/// Fires once after `ms` milliseconds (0: as soon as possible); a negative `ms` disarms it.
int aex_timerfd_arm_ms(int fd, long ms);

/// accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC.
int aex_accept(int listen_fd);

/// A non-blocking TCP listener on `host:port` with SO_REUSEADDR (restarts need not wait for old
/// connections in TIME_WAIT) and without SO_REUSEPORT: binding a port on which any socket listens
/// fails with EADDRINUSE, so no other process can share it. `port` 0 picks a free port; read it
/// back with aex_local_port.
int aex_listen_tcp(const char *host, uint16_t port, int backlog);
int aex_local_port(int fd);

/// A blocking TCP connection to `host:port` (IPv4 literal or "localhost"); -1 on failure.
int aex_connect_tcp(const char *host, uint16_t port, int timeout_ms);

/// Sets TCP_NODELAY.
int aex_set_nodelay(int fd);

/// Starts a non-blocking TCP connection (close-on-exec, TCP_NODELAY) to a numeric IPv4 or IPv6
/// address; *in_progress is 1 when it completes later (the socket becomes writable), 0 when it is
/// connected already. -1 with errno on failure (EINVAL for an address that is not numeric).
int aex_connect_start(const char *numeric_address, uint16_t port, int *in_progress);

/// The pending error of a socket (SO_ERROR): 0 once a non-blocking connect has succeeded.
int aex_socket_error(int fd);

/// Starts `argv[0]` (an absolute path) in a new session with stdin from /dev/null and stdout and
/// stderr appended to `log_fd`. Returns the child's pid, or -1 with errno.
pid_t aex_spawn_detached(const char *path, char *const argv[], int log_fd);

/// Ignores SIGPIPE and blocks SIGINT, SIGTERM and SIGHUP in the calling thread (inherited by threads it
/// starts) so that one thread can take them with aex_wait_signal.
int aex_block_daemon_signals(void);
/// Waits for SIGINT, SIGTERM or SIGHUP; returns the signal number.
int aex_wait_signal(void);

/// Names the calling thread (as `ps -L`, `top -H` and /proc/…/comm show it); at most 15 bytes kept.
int aex_set_thread_name(const char *name);

/// A Unix stream socket pair, both ends close-on-exec.
int aex_socketpair(int fds[2]);
/// Starts a tool worker: `channel_fd` becomes its fd 3, stderr goes to `stderr_fd`, stdin and
/// stdout are /dev/null, it leads a new process group, its signal mask is empty and SIGPIPE,
/// SIGINT, SIGTERM, SIGHUP are at their defaults; `envp` is its whole environment.
pid_t aex_spawn_worker(const char *path, char *const argv[], char *const envp[], int channel_fd, int stderr_fd);
/// In a tool worker, before any plugin code runs: no new privileges, SIGKILL when the parent dies,
/// and limits on address space, CPU time, open files, file size, core dumps and new processes.
/// `no_new_processes` 0 leaves the process limit alone (a network tool needs threads).
int aex_worker_harden(uint64_t memory_bytes, uint64_t cpu_seconds, uint64_t open_files, uint64_t file_bytes, int no_new_processes);
int aex_parent_alive(pid_t parent);

// aex run: the supervised child (SPEC §12).
/// Installs handlers that forward SIGINT, SIGTERM and SIGHUP to the child's process group once it
/// is spawned (a signal arriving before that is forwarded as soon as it is).
int aex_run_forward_signals(void);
/// Spawns `file` (searched in PATH) with `argv` and `envp` in a new process group of its own, with
/// no signal blocked and default dispositions, under umask `child_umask`; stdio inherited. When
/// stdin is a terminal whose foreground group is ours, the child's group becomes its foreground.
/// Returns the pid (also the group id) or -1 with errno set.
pid_t aex_run_spawn(const char *file, char *const argv[], char *const envp[], unsigned int child_umask);
/// Waits for the spawned child to end and gives the terminal back. `*exit_code` is its exit
/// status, or -1 when a signal ended it (`*signal_number`, else 0). Returns 0, or -1 with errno.
int aex_run_wait(pid_t pid, int *exit_code, int *signal_number);

#endif
