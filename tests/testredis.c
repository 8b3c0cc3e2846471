/* A real redis-server for the Redis store's suites (testredis.h). */
#include "tests/testredis.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/testutil.h"

static const char *redis_server_path(void)
{
    const char *p = getenv("REDIS_SERVER");
    return p ? p : "/usr/bin/redis-server";
}

redisContext *testutil_redis_client(const struct testutil_redis *r)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", (int)r->port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    if (r->password) {
        redisReply *rep = redisCommand(c, "AUTH %s", r->password);
        bool ok = rep && rep->type == REDIS_REPLY_STATUS;
        if (rep)
            freeReplyObject(rep);
        if (!ok) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

bool testutil_redis_ping(const struct testutil_redis *r)
{
    redisContext *c = testutil_redis_client(r);
    if (!c)
        return false;
    redisReply *rep = redisCommand(c, "PING");
    bool ok = rep && rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "PONG") == 0;
    if (rep)
        freeReplyObject(rep);
    redisFree(c);
    return ok;
}

void testutil_redis_flush(const struct testutil_redis *r)
{
    redisContext *c = testutil_redis_client(r);
    ck_assert_ptr_nonnull(c);
    redisReply *rep = redisCommand(c, "FLUSHALL");
    ck_assert_ptr_nonnull(rep);
    freeReplyObject(rep);
    redisFree(c);
}

void testutil_redis_start(struct testutil_redis *r, const char *password)
{
    r->password = password;
    if (!r->port)
        r->port = testutil_closed_port();
    if (!r->dir[0]) {
        snprintf(r->dir, sizeof r->dir, "/tmp/test-redis-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(r->dir));
    }
    char port[16];
    snprintf(port, sizeof port, "%u", r->port);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        const char *argv[20] = {redis_server_path(),
                                "--port",
                                port,
                                "--bind",
                                "127.0.0.1",
                                "--save",
                                "",
                                "--appendonly",
                                "no",
                                "--dir",
                                r->dir,
                                "--logfile",
                                "redis.log",
                                "--daemonize",
                                "no"};
        int n = 15;
        if (password) {
            argv[n++] = "--requirepass";
            argv[n++] = password;
        }
        argv[n] = NULL;
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    r->pid = pid;
    /* Ready when it answers; it may not have bound the port yet. */
    while (!testutil_redis_ping(r)) {
        int status;
        ck_assert_msg(waitpid(pid, &status, WNOHANG) == 0, "redis-server exited early");
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
}

void testutil_redis_stop(struct testutil_redis *r)
{
    if (r->pid <= 0)
        return;
    kill(r->pid, SIGCONT);
    kill(r->pid, SIGTERM);
    waitpid(r->pid, NULL, 0);
    r->pid = 0;
}

void testutil_redis_finish(struct testutil_redis *r)
{
    testutil_redis_stop(r);
    if (r->dir[0]) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
        ck_assert_int_eq(system(cmd), 0);
    }
    r->dir[0] = '\0';
    r->port = 0;
}
