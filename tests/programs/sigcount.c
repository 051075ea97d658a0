/* Counts the signals it receives, exactly: every signal is blocked and taken with sigwaitinfo, so
 * real-time signals (which queue) are counted one by one. Prints "ready" when set up. On SIGTERM
 * it waits (up to 20 s) until it has seen argv[1] of the real-time signal numbered argv[2], then
 * prints its counts as "rt=N std=M" and exits 0. Used by tests/storms.rs. The number is given,
 * not SIGRTMIN + k, because glibc and musl disagree on SIGRTMIN (34 and 35) and the test and
 * this program need not use the same C library. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
    long expect_rt = argc > 1 ? atol(argv[1]) : 0;
    int rt_signal = argc > 2 ? atoi(argv[2]) : SIGRTMIN + 1;
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    printf("ready\n");
    fflush(stdout);
    long rt = 0, std = 0;
    int stopping = 0;
    struct timespec give_up = {0, 0};
    for (;;) {
        siginfo_t info;
        struct timespec wait = {0, 100 * 1000 * 1000};
        int sig = sigtimedwait(&all, &info, &wait);
        if (sig == rt_signal) {
            rt++;
        } else if (sig == SIGTERM) {
            stopping = 1;
            clock_gettime(CLOCK_MONOTONIC, &give_up);
            give_up.tv_sec += 20;
        } else if (sig > 0) {
            std++;
        }
        if (stopping) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (rt >= expect_rt || now.tv_sec > give_up.tv_sec) {
                printf("rt=%ld std=%ld\n", rt, std);
                return 0;
            }
        }
    }
}
