/* Startup to the initialize reply: spawns the real binary N times, writes
 * initialize at once, and times until the reply line is read. Reports the
 * median, 90th percentile and minimum, and the median CPU time (user and
 * system) of the whole process, start to exit: on a busy machine the wall
 * time mostly measures the wait for a core, the CPU time barely.
 * Usage: bench_startup [BINARY] [RUNS] */
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char init_line[] = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\","
                                "\"params\":{\"protocolVersion\":"
                                "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{"
                                "\"name\":\"bench\",\"version\":\"1\"}}}\n";

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double tv_ms(struct timeval tv)
{
    return (double)tv.tv_sec * 1e3 + (double)tv.tv_usec / 1e3;
}

/* One run: returns milliseconds from spawn to a complete reply line, and
 * the process's CPU milliseconds in *cpu. */
static double one_run(const char *binary, double *cpu)
{
    int in[2], out[2];
    if (pipe(in) || pipe(out))
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", 1, 0);
    char *argv[] = {(char *)binary, NULL};
    pid_t pid;
    double t0 = now_ms();
    if (posix_spawn(&pid, binary, &fa, NULL, argv, environ) != 0)
        return -1;
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    if (write(in[1], init_line, sizeof init_line - 1) != (ssize_t)(sizeof init_line - 1))
        return -1;
    char buf[8192];
    size_t got = 0;
    double took = -1;
    while (got < sizeof buf) {
        ssize_t n = read(out[0], buf + got, sizeof buf - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        if (memchr(buf, '\n', got)) {
            took = now_ms() - t0;
            break;
        }
    }
    close(in[1]);
    close(out[0]);
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid)
        return -1;
    *cpu = tv_ms(ru.ru_utime) + tv_ms(ru.ru_stime);
    return took;
}

int main(int argc, char **argv)
{
    const char *binary = argc > 1 ? argv[1] : "./msg91-mcp";
    int runs = argc > 2 ? atoi(argv[2]) : 200;
    signal(SIGPIPE, SIG_IGN);
    if (runs < 1)
        runs = 1;
    double *t = calloc((size_t)runs, sizeof *t);
    double *cpu = calloc((size_t)runs, sizeof *cpu);
    if (!t || !cpu)
        return 1;
    for (int i = 0; i < runs; i++) {
        t[i] = one_run(binary, &cpu[i]);
        if (t[i] < 0) {
            fprintf(stderr, "run %d failed\n", i);
            return 1;
        }
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    qsort(cpu, (size_t)runs, sizeof *cpu, cmp_double);
    printf("startup to initialize reply over %d runs: median %.2f ms, p90 %.2f ms, "
           "min %.2f ms; process CPU median %.2f ms\n",
           runs, t[runs / 2], t[runs * 9 / 10], t[0], cpu[runs / 2]);
    free(t);
    free(cpu);
    return 0;
}
