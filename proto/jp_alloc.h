/*
 * jp_alloc.h - the allocator every proto/ file allocates through.
 *
 * proto/ never calls malloc/calloc/realloc/free directly; it calls these wrappers, which go
 * to libc unless a test installed hooks. That lets the unit tests fail the Nth allocation
 * and count live blocks (SQLite-style out-of-memory testing). Memory that proto hands to a
 * caller (jp_buf_take's string, frame data, a connection key) must be released with
 * jp_free. Does not track anything itself; the hooks are for tests, not production.
 */
#ifndef JP_ALLOC_H
#define JP_ALLOC_H

#include <stddef.h>

typedef void *(*jp_malloc_fn)(size_t size);
typedef void *(*jp_calloc_fn)(size_t nmemb, size_t size);
typedef void *(*jp_realloc_fn)(void *ptr, size_t size);
typedef void (*jp_free_fn)(void *ptr);

struct jp_alloc_hooks {
    jp_malloc_fn malloc_fn;
    jp_calloc_fn calloc_fn;
    jp_realloc_fn realloc_fn;
    jp_free_fn free_fn;
};

/* Install hooks (all four must be set), or restore libc with NULL. Not thread-safe: call it
 * before any other thread allocates through proto, and only from tests. Blocks allocated
 * under one set of hooks must be freed under hooks that understand them (the test hooks
 * wrap libc, so mixing with the default is safe). */
void jp_alloc_set_hooks(const struct jp_alloc_hooks *hooks);

void *jp_malloc(size_t size);
void *jp_calloc(size_t nmemb, size_t size);
/* Like realloc, but size 0 is not a free: it is treated as 1 so NULL always means failure. */
void *jp_realloc(void *ptr, size_t size);
/* NULL-safe. */
void jp_free(void *ptr);
/* A heap copy of n bytes (at least 1 byte is allocated, so n == 0 gives a valid pointer);
 * NULL on out-of-memory. */
void *jp_memdup(const void *p, size_t n);

#endif
