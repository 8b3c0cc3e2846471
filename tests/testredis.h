/* A real redis-server for the suites that test the Redis store: started on
 * a free loopback port with its own temporary folder, a blocking hiredis
 * client for the test's own checks, stopped and cleaned up. Kept out of
 * testutil.c so that only the suites that use it link libhiredis (meson:
 * suite_deps in tests/meson.build). */
#ifndef MSG91_TESTREDIS_H
#define MSG91_TESTREDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <sys/types.h>

struct testutil_redis {
    pid_t pid;            /* 0: not running */
    unsigned port;        /* 0: chosen at the next start */
    char dir[256];        /* "": made at the next start */
    const char *password; /* NULL: none */
};

/* Starts redis-server ($REDIS_SERVER or /usr/bin/redis-server) with the
 * given password (NULL: none) and returns once it answers PING. Keeps the
 * port and folder of an earlier start (a restart is the same server),
 * otherwise picks a free port and makes a folder. Forks: call it where no
 * other thread runs. Aborts the test when the server exits first. */
void testutil_redis_start(struct testutil_redis *r, const char *password);
/* Stops the server (resuming it first if it was frozen with SIGSTOP) and
 * waits for it; its port and folder stay for a restart. */
void testutil_redis_stop(struct testutil_redis *r);
/* Stops the server, removes its folder and forgets its port. */
void testutil_redis_finish(struct testutil_redis *r);
/* A blocking client, authenticated when the server has a password; NULL
 * when the server does not answer. */
redisContext *testutil_redis_client(const struct testutil_redis *r);
/* Whether the server answers PING with PONG. */
bool testutil_redis_ping(const struct testutil_redis *r);
/* FLUSHALL; aborts the test when it fails. */
void testutil_redis_flush(const struct testutil_redis *r);

#endif
