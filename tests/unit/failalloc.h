/*
 * failalloc.h - out-of-memory testing for the unit tests (SQLite's "fail the Nth
 * allocation"): counting allocators for proto's jp_alloc hooks and for jansson.
 *
 * failalloc_install() routes proto's and jansson's allocations through counters; then
 * failalloc_arm(n, scope) makes the nth allocation from now that falls in `scope` (proto's,
 * jansson's or both) return NULL, once, and failalloc_live() tells how many blocks are
 * outstanding. A test loops n = 1, 2, ... until an iteration no longer hits the failure,
 * checking each failing iteration for a clean error and an unchanged live count.
 *
 * Known limit: jansson 2.14's lexer ignores a failed growth of its token buffer (lex_save
 * drops the return of strbuffer_append_byte, akheron/jansson#362): the parse then silently
 * loses a byte of a string or number, or writes past a heap block when the byte lost is a
 * closing quote. The buffer starts at 16 bytes, so failing jansson's allocations is only
 * safe while parsing JSON whose tokens (a string with its quotes, a number) are at most 15
 * bytes. Tests that parse longer tokens arm FAILALLOC_JP only.
 *
 * Header-only (static functions) so each test binary has its own state. Does not intercept
 * OpenSSL or libc-internal allocations; ASan's leak check covers those. Not thread-safe.
 */
#ifndef FAILALLOC_H
#define FAILALLOC_H

#include <stdlib.h>

#include <jansson.h>

#include "jp_alloc.h"

enum { FAILALLOC_JP = 1, FAILALLOC_JSON = 2, FAILALLOC_ALL = 3 };

static struct {
    int scope;    /* which allocations count towards fail_at */
    long count;   /* allocations in scope since failalloc_arm */
    long fail_at; /* 1-based index of the allocation to fail; 0 = never */
    long failed;  /* allocations failed since failalloc_arm */
    long live;    /* blocks currently allocated through the hooks */
} failalloc_state;

static inline int failalloc_should_fail(int source)
{
    if (!(failalloc_state.scope & source))
        return 0;
    failalloc_state.count++;
    if (failalloc_state.fail_at && failalloc_state.count == failalloc_state.fail_at) {
        failalloc_state.failed++;
        return 1;
    }
    return 0;
}

static inline void *failalloc_track(void *p)
{
    if (p)
        failalloc_state.live++;
    return p;
}

static inline void *failalloc_jp_malloc(size_t n)
{
    return failalloc_should_fail(FAILALLOC_JP) ? NULL : failalloc_track(malloc(n));
}

static inline void *failalloc_jp_calloc(size_t nmemb, size_t size)
{
    return failalloc_should_fail(FAILALLOC_JP) ? NULL : failalloc_track(calloc(nmemb, size));
}

static inline void *failalloc_jp_realloc(void *ptr, size_t n)
{
    void *p;

    if (failalloc_should_fail(FAILALLOC_JP))
        return NULL;
    p = realloc(ptr, n);
    return ptr ? p : failalloc_track(p);
}

static inline void failalloc_free(void *p)
{
    if (p) {
        failalloc_state.live--;
        free(p);
    }
}

static inline void *failalloc_json_malloc(size_t n)
{
    return failalloc_should_fail(FAILALLOC_JSON) ? NULL : failalloc_track(malloc(n));
}

/* Route proto's and jansson's allocations through the counters. Call before any jansson
 * value is created (jansson must free with the allocator it allocated with). */
static inline void failalloc_install(void)
{
    static const struct jp_alloc_hooks hooks = {failalloc_jp_malloc, failalloc_jp_calloc,
                                                failalloc_jp_realloc, failalloc_free};

    jp_alloc_set_hooks(&hooks);
    json_set_alloc_funcs(failalloc_json_malloc, failalloc_free);
}

/* Fail the nth allocation in `scope` from now (n >= 1); n == 0 disarms. Resets the counters,
 * not the live count. */
static inline void failalloc_arm(long n, int scope)
{
    failalloc_state.scope = scope;
    failalloc_state.count = 0;
    failalloc_state.failed = 0;
    failalloc_state.fail_at = n;
}

static inline void failalloc_disarm(void)
{
    failalloc_arm(0, 0);
}

static inline long failalloc_live(void)
{
    return failalloc_state.live;
}

/* Did the armed failure happen? */
static inline int failalloc_hit(void)
{
    return failalloc_state.failed > 0;
}

#endif
