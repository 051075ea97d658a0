/*
 * probe: the main process hookinit's benchmark (bench/run.sh) runs under each init.
 * Built static (no dynamic loader) so that its own footprint and start-up stay out of the
 * numbers as much as possible. Every timestamp is CLOCK_MONOTONIC, like the driver's
 * time.monotonic_ns(), so the two sides can be subtracted.
 *
 *   probe rss            print the parent's (the init's) VmHWM and VmRSS in kB, read from
 *                        /proc/PPID/status while the init is supervising us, then exit 0.
 *   probe sig            handle SIGTERM: write the CLOCK_MONOTONIC time (8 bytes, native
 *                        endian) to stdout from the handler, keep running; write "R" once the
 *                        handler is installed; exit 0 when stdin reaches end of file.
 *   probe launch CMD...  fork and exec CMD (the init), wait4 for it, and print its exit status
 *                        and ru_maxrss (kB): the maximum RSS over the init and the children it
 *                        waited for. Launched from this small static process (not from the
 *                        driver, whose own RSS a vfork/posix_spawn child would inherit in its
 *                        accounting), it bounds the init's own peak from above.
 *   probe orphans N      make N orphaned zombies and time their reaping by PID 1 (run it as
 *                        the main process of an init that is PID 1 of a new PID namespace).
 *                        A middle process forks N children that exit at once (zombies, not
 *                        reaped), waits until every one of them has exited, records the time
 *                        and exits: the kernel hands the N zombies to PID 1. The probe then
 *                        checks each pid with kill(pid, 0) (a zombie still answers) until the
 *                        last one is gone. Prints "orphans=N create_ns=... reap_ns=...".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_all(int fd, void *buf, size_t len) {
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (n == 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int do_rss(void) {
    char path[64], buf[8192];
    snprintf(path, sizeof path, "/proc/%d/status", (int)getppid());
    int fd = open(path, O_RDONLY);
    if (fd < 0) { perror(path); return 1; }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) { perror("read"); return 1; }
    buf[n] = 0;
    long hwm = -1, rss = -1;
    char *l = strstr(buf, "VmHWM:");
    if (l) hwm = strtol(l + 6, NULL, 10);
    l = strstr(buf, "VmRSS:");
    if (l) rss = strtol(l + 6, NULL, 10);
    if (hwm < 0 || rss < 0) { fprintf(stderr, "probe: no VmHWM/VmRSS in %s\n", path); return 1; }
    printf("hwm_kb=%ld rss_kb=%ld\n", hwm, rss);
    return 0;
}

static void on_term(int sig) {
    (void)sig;
    uint64_t t = now_ns();
    int saved = errno;
    write_all(1, &t, sizeof t);
    errno = saved;
}

static int do_sig(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGTERM, &sa, NULL) != 0) { perror("sigaction"); return 1; }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    if (write_all(1, "R", 1) != 0) return 1;
    char c;
    for (;;) {
        ssize_t n = read(0, &c, 1);
        if (n == 0) return 0;
        if (n < 0 && errno != EINTR) return 0;
    }
}

static int do_orphans(long n) {
    int p[2];
    if (pipe(p) != 0) { perror("pipe"); return 1; }
    pid_t *pids = calloc((size_t)n, sizeof *pids);
    if (!pids) { perror("calloc"); return 1; }
    uint64_t t_start = now_ns();
    pid_t middle = fork();
    if (middle < 0) { perror("fork"); return 1; }
    if (middle == 0) {
        close(p[0]);
        for (long i = 0; i < n; i++) {
            pid_t c = fork();
            if (c < 0) { perror("fork (orphan)"); _exit(1); }
            if (c == 0) _exit(0);
            pids[i] = c;
        }
        /* Every child has exited (is a zombie) before we let go of them. */
        for (long i = 0; i < n; i++) {
            siginfo_t si;
            while (waitid(P_PID, (id_t)pids[i], &si, WEXITED | WNOWAIT) != 0 && errno == EINTR) {}
        }
        if (write_all(p[1], pids, (size_t)n * sizeof *pids) != 0) _exit(1);
        uint64_t t0 = now_ns();
        if (write_all(p[1], &t0, sizeof t0) != 0) _exit(1);
        _exit(0); /* the N zombies become PID 1's */
    }
    close(p[1]);
    uint64_t t0;
    if (read_all(p[0], pids, (size_t)n * sizeof *pids) != 0 || read_all(p[0], &t0, sizeof t0) != 0) {
        fprintf(stderr, "probe: the middle process failed\n");
        return 1;
    }
    int status;
    while (waitpid(middle, &status, 0) < 0 && errno == EINTR) {}
    struct timespec nap = {0, 20000}; /* 20 us between checks: leave the CPU to PID 1 */
    for (long i = 0; i < n; i++) {
        while (kill(pids[i], 0) == 0) nanosleep(&nap, NULL);
    }
    uint64_t t1 = now_ns();
    printf("orphans=%ld create_ns=%llu reap_ns=%llu\n", n, (unsigned long long)(t0 - t_start),
           (unsigned long long)(t1 - t0));
    return 0;
}

static int do_launch(char **argv) {
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) {
        execv(argv[0], argv);
        perror(argv[0]);
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) { perror("wait4"); return 1; }
    }
    /* stdout is shared with the init's child (probe rss): one line each, ours last. */
    printf("status=%d maxrss_kb=%ld\n", status, ru.ru_maxrss);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "rss") == 0) return do_rss();
    if (argc >= 2 && strcmp(argv[1], "sig") == 0) return do_sig();
    if (argc >= 3 && strcmp(argv[1], "launch") == 0) return do_launch(argv + 2);
    if (argc >= 3 && strcmp(argv[1], "orphans") == 0) {
        long n = strtol(argv[2], NULL, 10);
        if (n <= 0) { fprintf(stderr, "probe: orphans N: N > 0\n"); return 2; }
        return do_orphans(n);
    }
    fprintf(stderr, "usage: probe rss | probe sig | probe launch CMD... | probe orphans N\n");
    return 2;
}
