/* The state store benchmark: what one idempotent send adds, a claim and
 * then a complete, one after the other on one loop, for each backend.
 * Prints the median and p99 microseconds per claim+complete. The Redis
 * run starts its own redis-server (REDIS_SERVER, default
 * /usr/bin/redis-server) on a free loopback port, and is skipped when
 * there is none; SQLite works in a mktemp directory.
 *
 * Usage: bench_store [CALLS]   (default 5000 per backend) */
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "store/store.h"

struct run {
    struct store *store;
    unsigned calls, done;
    uint64_t started;
    double *us;
    char key[32];
    int failed;
};

static void next_call(struct run *r);

static void on_complete(void *data, int status)
{
    struct run *r = data;
    if (status != 0) {
        fprintf(stderr, "bench_store: complete: %s\n", store_strerror(status));
        r->failed = 1;
        return;
    }
    r->us[r->done++] = (double)(uv_hrtime() - r->started) / 1e3;
    next_call(r);
}

static void on_claim(void *data, int status, const struct store_claim *c)
{
    struct run *r = data;
    if (status != 0 || c->outcome != STORE_CLAIMED) {
        fprintf(stderr, "bench_store: claim: %s\n",
                status ? store_strerror(status) : "not claimed");
        r->failed = 1;
        return;
    }
    const struct store_key k = {"bench", "send_otp", r->key};
    if (store_idem_complete(r->store, &k, c->token, "{\"type\":\"success\"}", 60000,
                            on_complete, r) != 0)
        r->failed = 1;
}

static void next_call(struct run *r)
{
    if (r->done == r->calls)
        return;
    snprintf(r->key, sizeof r->key, "k-%u-%u", (unsigned)getpid(), r->done);
    const struct store_key k = {"bench", "send_otp", r->key};
    r->started = uv_hrtime();
    if (store_idem_claim(r->store, &k, "fingerprint", 15000, 60000, on_claim, r) != 0)
        r->failed = 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void on_closed(void *data)
{
    *(int *)data = 1;
}

static int bench(const char *label, const char *spec, unsigned calls)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct store_options o = {.spec = spec};
    struct run r = {.calls = calls};
    char err[256];
    if (store_open(&loop, &o, &r.store, err, sizeof err) != 0) {
        fprintf(stderr, "bench_store: %s: %s\n", label, err);
        return -1;
    }
    r.us = calloc(calls, sizeof *r.us);
    next_call(&r);
    while (r.done < calls && !r.failed)
        uv_run(&loop, UV_RUN_ONCE);
    int closed = 0;
    store_close(r.store, on_closed, &closed);
    while (!closed)
        uv_run(&loop, UV_RUN_ONCE);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (!r.failed) {
        qsort(r.us, calls, sizeof *r.us, cmp_double);
        printf("%-7s claim+complete: median %7.1f us  p99 %7.1f us  (%u calls)\n", label,
               r.us[calls / 2], r.us[(size_t)(calls * 0.99)], calls);
    }
    free(r.us);
    return r.failed ? -1 : 0;
}

static unsigned free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* Starts redis-server and waits until it accepts connections. */
static pid_t start_redis(const char *dir, unsigned port)
{
    const char *bin =
        getenv("REDIS_SERVER") ? getenv("REDIS_SERVER") : "/usr/bin/redis-server";
    if (access(bin, X_OK) != 0)
        return 0;
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%u", port);
    pid_t pid = fork();
    if (pid == 0) {
        execl(bin, bin, "--port", port_s, "--bind", "127.0.0.1", "--save", "",
              "--appendonly", "no", "--dir", dir, "--logfile", "redis.log", (char *)NULL);
        _exit(127);
    }
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        if (fd >= 0)
            close(fd);
        if (ok)
            return pid;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return 0;
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
}

int main(int argc, char **argv)
{
    unsigned calls = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 5000;
    if (calls < 100) {
        fprintf(stderr, "usage: bench_store [CALLS >= 100]\n");
        return 2;
    }
    char dir[] = "/tmp/bench-store-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("bench_store: mkdtemp");
        return 1;
    }
    int rc = bench("memory", "memory", calls);
    char spec[512];
    snprintf(spec, sizeof spec, "sqlite:%s/state.db", dir);
    rc |= bench("sqlite", spec, calls);
    unsigned port = free_port();
    pid_t redis = port ? start_redis(dir, port) : 0;
    if (redis > 0) {
        snprintf(spec, sizeof spec, "redis://127.0.0.1:%u/0", port);
        rc |= bench("redis", spec, calls);
        kill(redis, SIGTERM);
        waitpid(redis, NULL, 0);
    } else {
        printf("redis   skipped: no redis-server\n");
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        rc = -1;
    return rc ? 1 : 0;
}
