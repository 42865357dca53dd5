#define _GNU_SOURCE
#include "CLinux.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/// Closes a descriptor a call has just failed on, keeping that call's errno; returns -1.
static int close_failed(int fd) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

extern char **environ;

const uint32_t AEX_EPOLLIN = EPOLLIN;
const uint32_t AEX_EPOLLOUT = EPOLLOUT;
const uint32_t AEX_EPOLLERR = EPOLLERR;
const uint32_t AEX_EPOLLHUP = EPOLLHUP;
const uint32_t AEX_EPOLLRDHUP = EPOLLRDHUP;
const uint32_t AEX_EPOLLET = EPOLLET;
const uint32_t AEX_EPOLLEXCLUSIVE = EPOLLEXCLUSIVE;

int aex_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

static int epoll_control(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev);
}

int aex_epoll_add(int epfd, int fd, uint32_t events, uint64_t data) {
    return epoll_control(epfd, EPOLL_CTL_ADD, fd, events, data);
}

int aex_epoll_modify(int epfd, int fd, uint32_t events, uint64_t data) {
    return epoll_control(epfd, EPOLL_CTL_MOD, fd, events, data);
}

int aex_epoll_remove(int epfd, int fd) { return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL); }

int aex_epoll_wait(int epfd, aex_epoll_event *out, int max_events, int timeout_ms) {
    struct epoll_event events[256];
    if (max_events > 256) max_events = 256;
    int n = epoll_wait(epfd, events, max_events, timeout_ms);
    for (int i = 0; i < n; i++) {
        out[i].events = events[i].events;
        out[i].data = events[i].data.u64;
    }
    return n;
}

int aex_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

int aex_eventfd_signal(int fd) {
    uint64_t one = 1;
    return (int)write(fd, &one, sizeof one);
}

int aex_eventfd_drain(int fd) {
    uint64_t value;
    return (int)read(fd, &value, sizeof value);
}

int aex_timerfd_periodic(int interval_ms) {
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) return fd;
    struct itimerspec spec;
    spec.it_interval.tv_sec = interval_ms / 1000;
    spec.it_interval.tv_nsec = (long)(interval_ms % 1000) * 1000000L;
    spec.it_value = spec.it_interval;
    if (timerfd_settime(fd, 0, &spec, NULL) < 0) {
        return close_failed(fd);
    }
    return fd;
}

int aex_timerfd_drain(int fd) {
    uint64_t expirations;
    return (int)read(fd, &expirations, sizeof expirations);
}

int aex_timerfd_oneshot(void) { return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC); }

int aex_timerfd_arm_ms(int fd, long ms) {
    struct itimerspec spec;
    memset(&spec, 0, sizeof spec);
    if (ms >= 0) {
        spec.it_value.tv_sec = ms / 1000;
        spec.it_value.tv_nsec = (ms % 1000) * 1000000L;
        if (ms == 0) spec.it_value.tv_nsec = 1000; /* zero would disarm */
    }
    return timerfd_settime(fd, 0, &spec, NULL);
}

int aex_accept(int listen_fd) { return accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC); }

static int resolve_ipv4(const char *host, struct in_addr *out) {
    if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
    return inet_pton(AF_INET, host, out) == 1 ? 0 : -1;
}

int aex_listen_tcp(const char *host, uint16_t port, int backlog) {
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (resolve_ipv4(host, &addr.sin_addr) != 0) {
        errno = EINVAL;
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, backlog) < 0) {
        return close_failed(fd);
    }
    return fd;
}

int aex_local_port(int fd) {
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0) return -1;
    return ntohs(addr.sin_port);
}

int aex_connect_tcp(const char *host, uint16_t port, int timeout_ms) {
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (resolve_ipv4(host, &addr.sin_addr) != 0) {
        errno = EINVAL;
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        if (errno != EINPROGRESS) goto fail;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, timeout_ms) != 1) {
            errno = ETIMEDOUT;
            goto fail;
        }
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            errno = err;
            goto fail;
        }
    }
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
fail:
    return close_failed(fd);
}

int aex_set_nodelay(int fd) {
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int aex_connect_start(const char *numeric_address, uint16_t port, int *in_progress) {
    struct sockaddr_storage storage;
    socklen_t length;
    memset(&storage, 0, sizeof storage);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&storage;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&storage;
    if (inet_pton(AF_INET, numeric_address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        length = sizeof *v4;
    } else if (inet_pton(AF_INET6, numeric_address, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        length = sizeof *v6;
    } else {
        errno = EINVAL;
        return -1;
    }
    int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    *in_progress = 0;
    if (connect(fd, (struct sockaddr *)&storage, length) < 0) {
        if (errno != EINPROGRESS) return close_failed(fd);
        *in_progress = 1;
    }
    return fd;
}

int aex_socket_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    return err;
}

pid_t aex_spawn_detached(const char *path, char *const argv[], int log_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, log_fd, 1);
    posix_spawn_file_actions_adddup2(&actions, log_fd, 2);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, path, &actions, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return pid;
}

static void daemon_signal_set(sigset_t *set) {
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
}

int aex_block_daemon_signals(void) {
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    daemon_signal_set(&set);
    return pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int aex_wait_signal(void) {
    sigset_t set;
    daemon_signal_set(&set);
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {
    }
    return sig;
}

int aex_set_thread_name(const char *name) {
    char truncated[16];
    strncpy(truncated, name, sizeof truncated - 1);
    truncated[sizeof truncated - 1] = '\0';
    return pthread_setname_np(pthread_self(), truncated);
}

/* ---- tool workers ------------------------------------------------------------------------ */

int aex_socketpair(int fds[2]) {
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
}

pid_t aex_spawn_worker(const char *path, char *const argv[], char *const envp[], int channel_fd, int stderr_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2);
    posix_spawn_file_actions_adddup2(&actions, channel_fd, 3);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGHUP);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, path, &actions, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return pid;
}

int aex_worker_harden(uint64_t memory_bytes, uint64_t cpu_seconds, uint64_t open_files, uint64_t file_bytes, int no_new_processes) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) return -1;
    struct rlimit limit;
    limit.rlim_cur = limit.rlim_max = memory_bytes;
    if (setrlimit(RLIMIT_AS, &limit) != 0) return -1;
    limit.rlim_cur = cpu_seconds;
    limit.rlim_max = cpu_seconds + 1;
    if (setrlimit(RLIMIT_CPU, &limit) != 0) return -1;
    limit.rlim_cur = limit.rlim_max = open_files;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
    limit.rlim_cur = limit.rlim_max = file_bytes;
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) return -1;
    limit.rlim_cur = limit.rlim_max = 0;
    if (setrlimit(RLIMIT_CORE, &limit) != 0) return -1;
    /* No new processes (ignored for root, whose workers still lose them to the process group kill). */
    if (no_new_processes) {
        limit.rlim_cur = limit.rlim_max = 0;
        if (setrlimit(RLIMIT_NPROC, &limit) != 0) return -1;
    }
    return 0;
}

int aex_parent_alive(pid_t parent) { return getppid() == parent; }

// MARK: aex run

static volatile sig_atomic_t run_group = 0;
static volatile sig_atomic_t run_pending_signal = 0;
static int run_took_terminal = 0;

static void run_forward(int sig) {
    pid_t group = run_group;
    if (group > 0) {
        int saved = errno;
        kill(-group, sig);
        errno = saved;
    } else {
        run_pending_signal = sig;
    }
}

int aex_run_forward_signals(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = run_forward;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    if (sigaction(SIGINT, &action, NULL) != 0 || sigaction(SIGTERM, &action, NULL) != 0 || sigaction(SIGHUP, &action, NULL) != 0) return -1;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    return pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/// Makes `group` the terminal's foreground process group (SIGTTOU ignored meanwhile: a process
/// not in the foreground may do this only then).
static void run_set_foreground(pid_t group) {
    struct sigaction ignore, old;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGTTOU, &ignore, &old);
    tcsetpgrp(STDIN_FILENO, group);
    sigaction(SIGTTOU, &old, NULL);
}

pid_t aex_run_spawn(const char *file, char *const argv[], char *const envp[], unsigned int child_umask) {
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    int defaulted[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU, SIGCHLD};
    for (size_t i = 0; i < sizeof defaulted / sizeof defaulted[0]; i++) sigaddset(&defaults, defaulted[i]);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int foreground = isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp();
    mode_t previous = umask((mode_t)child_umask);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, file, NULL, &attr, argv, envp);
    umask(previous);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    run_group = pid;
    if (run_pending_signal != 0) kill(-pid, run_pending_signal);
    if (foreground) {
        run_set_foreground(pid);
        run_took_terminal = 1;
    }
    return pid;
}

int aex_run_wait(pid_t pid, int *exit_code, int *signal_number) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    if (run_took_terminal) run_set_foreground(getpgrp());
    if (WIFEXITED(status)) {
        *exit_code = WEXITSTATUS(status);
        *signal_number = 0;
    } else {
        *exit_code = -1;
        *signal_number = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    }
    return 0;
}
