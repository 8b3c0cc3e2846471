/* Startup to the initialize reply: spawns the real binary N times, writes
 * initialize at once, and times until the reply line is read. Reports the
 * median, 90th percentile and minimum, and the median CPU time (user and
 * system) of the whole process, start to exit: on a busy machine the wall
 * time mostly measures the wait for a core, the CPU time barely. With
 * "list", it then sends notifications/initialized and tools/list, as a
 * client does next, and times until that reply instead, so that work moved
 * from the start to the first listing shows.
 * Usage: bench_startup [BINARY] [RUNS] [list] */
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
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

static const char list_lines[] =
    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n"
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}\n";

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

/* Reads from fd into buf (holding *got bytes) until it holds `lines`
 * complete lines. Returns 0, or -1 when the output ends first. */
static int read_lines(int fd, char *buf, size_t size, size_t *got, int lines)
{
    for (;;) {
        int seen = 0;
        for (size_t i = 0; i < *got; i++)
            seen += buf[i] == '\n';
        if (seen >= lines)
            return 0;
        if (*got == size)
            return -1;
        ssize_t n = read(fd, buf + *got, size - *got);
        if (n <= 0)
            return -1;
        *got += (size_t)n;
    }
}

/* One run: returns milliseconds from spawn to a complete reply line (the
 * tools/list reply with `list`), and the process's CPU milliseconds in
 * *cpu. */
static double one_run(const char *binary, bool list, double *cpu)
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
    static char buf[1 << 16];
    size_t got = 0;
    double took = -1;
    if (read_lines(out[0], buf, sizeof buf, &got, 1) == 0) {
        took = now_ms() - t0;
        if (list) {
            took = -1;
            if (write(in[1], list_lines, sizeof list_lines - 1) ==
                    (ssize_t)(sizeof list_lines - 1) &&
                read_lines(out[0], buf, sizeof buf, &got, 2) == 0)
                took = now_ms() - t0;
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
    bool list = argc > 3 && strcmp(argv[3], "list") == 0;
    signal(SIGPIPE, SIG_IGN);
    if (runs < 1)
        runs = 1;
    double *t = calloc((size_t)runs, sizeof *t);
    double *cpu = calloc((size_t)runs, sizeof *cpu);
    if (!t || !cpu)
        return 1;
    for (int i = 0; i < runs; i++) {
        t[i] = one_run(binary, list, &cpu[i]);
        if (t[i] < 0) {
            fprintf(stderr, "run %d failed\n", i);
            return 1;
        }
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    qsort(cpu, (size_t)runs, sizeof *cpu, cmp_double);
    printf("startup to %s reply over %d runs: median %.2f ms, p90 %.2f ms, "
           "min %.2f ms; process CPU median %.2f ms\n",
           list ? "tools/list" : "initialize", runs, t[runs / 2], t[runs * 9 / 10], t[0],
           cpu[runs / 2]);
    free(t);
    free(cpu);
    return 0;
}
