/*
 * jp_alloc.c - allocation wrappers for proto/ with replaceable hooks.
 *
 * Forwards to libc by default. The unit tests install counting, failing hooks through
 * jp_alloc_set_hooks to test every out-of-memory path. Does not pool, align or track
 * memory. Called by every proto/ file that allocates.
 */
#include "jp_alloc.h"

#include <stdlib.h>
#include <string.h>

static const struct jp_alloc_hooks libc_hooks = {malloc, calloc, realloc, free};
static struct jp_alloc_hooks hooks = {malloc, calloc, realloc, free};

void jp_alloc_set_hooks(const struct jp_alloc_hooks *h)
{
    if (h && h->malloc_fn && h->calloc_fn && h->realloc_fn && h->free_fn)
        hooks = *h;
    else
        hooks = libc_hooks;
}

void *jp_malloc(size_t size)
{
    return hooks.malloc_fn(size ? size : 1);
}

void *jp_calloc(size_t nmemb, size_t size)
{
    if (nmemb == 0 || size == 0)
        return hooks.calloc_fn(1, 1);
    return hooks.calloc_fn(nmemb, size);
}

void *jp_realloc(void *ptr, size_t size)
{
    return hooks.realloc_fn(ptr, size ? size : 1);
}

void jp_free(void *ptr)
{
    if (ptr)
        hooks.free_fn(ptr);
}

void *jp_memdup(const void *p, size_t n)
{
    void *q = jp_malloc(n);

    if (q && n)
        memcpy(q, p, n);
    return q;
}
