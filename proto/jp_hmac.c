/*
 * jp_hmac.c - HMAC-SHA256 message signatures and replay refusal (messaging spec, "The Wire
 * Protocol"; jupyter_client session.py sign/deserialize).
 *
 * The signature is the lowercase hex HMAC-SHA256, keyed with the raw bytes of the connection
 * file's key, over header, parent_header, metadata and content exactly as they travel. Verify
 * compares the raw 32-byte digests with CRYPTO_memcmp, accepts upper- or lowercase hex, and
 * remembers the last `history` accepted digests in a ring with a small open-addressing hash
 * set beside it, so a replayed message is refused in O(1). Only signatures that verified are
 * remembered: a forged one can neither fill the history nor evict a real one. The key copy is
 * wiped with OPENSSL_cleanse on free. Does not parse JSON or touch sockets. Called by
 * jp_wire.c; the kernel and the server create one signer per connection file.
 */
#include "jp_hmac.h"

#include <stdint.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "jp_alloc.h"
#include "jp_err.h"

#define DIGEST_LEN 32

struct jp_signer {
    unsigned char *key; /* owned copy, wiped on free; NULL when keylen == 0 */
    size_t keylen;
    EVP_MAC *mac; /* fetched once; NULL when keylen == 0 */

    /* replay history: ring[] holds the last `history` accepted digests, oldest at `head`
     * once full; slots[] maps a digest to its ring index + 1 (0 = empty), linear probing */
    size_t history;
    unsigned char (*ring)[DIGEST_LEN];
    size_t head, count;
    size_t *slots;
    size_t mask; /* slot count - 1, a power of two minus one */
};

static const char hexdig[] = "0123456789abcdef";

struct jp_signer *jp_signer_new(const void *key, size_t keylen, size_t history)
{
    struct jp_signer *s = NULL;
    size_t nslots;
    int rc = JP_ENOMEM;

    if (keylen && !key) {
        rc = JP_EINVAL;
        goto out;
    }
    if (history > SIZE_MAX / 4 / sizeof(size_t) || history > SIZE_MAX / DIGEST_LEN)
        goto out;
    s = jp_calloc(1, sizeof *s);
    if (!s)
        goto out;
    if (keylen) {
        s->key = jp_memdup(key, keylen);
        if (!s->key)
            goto out;
        s->keylen = keylen;
        s->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        if (!s->mac) {
            rc = JP_ECRYPTO;
            goto out;
        }
    }
    if (history) {
        /* at most half full, so probe chains stay short */
        for (nslots = 2; nslots < 2 * history; nslots *= 2)
            ;
        s->ring = jp_calloc(history, DIGEST_LEN);
        s->slots = jp_calloc(nslots, sizeof *s->slots);
        if (!s->ring || !s->slots)
            goto out;
        s->history = history;
        s->mask = nslots - 1;
    }
    rc = 0;
out:
    if (rc < 0) {
        jp_signer_free(s);
        s = NULL;
    }
    return s;
}

void jp_signer_free(struct jp_signer *s)
{
    if (!s)
        return;
    if (s->key) {
        OPENSSL_cleanse(s->key, s->keylen);
        jp_free(s->key);
    }
    EVP_MAC_free(s->mac);
    jp_free(s->ring);
    jp_free(s->slots);
    jp_free(s);
}

int jp_signer_enabled(const struct jp_signer *s)
{
    return s && s->keylen > 0;
}

/* HMAC-SHA256 of the concatenated parts. A fresh context per call keeps sign() const and
 * callable from several threads; the cost over duplicating a pre-keyed context is ~0.5 us. */
static int compute(const struct jp_signer *s, const void *const parts[4], const size_t lens[4],
                   unsigned char md[DIGEST_LEN])
{
    EVP_MAC_CTX *ctx = NULL;
    OSSL_PARAM params[2];
    char digest[] = "SHA256";
    size_t mdlen = 0;
    int i, rc = JP_ECRYPTO;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    ctx = EVP_MAC_CTX_new(s->mac);
    if (!ctx || !EVP_MAC_init(ctx, s->key, s->keylen, params))
        goto out;
    for (i = 0; i < 4; i++) {
        if (lens[i] && !EVP_MAC_update(ctx, parts[i], lens[i]))
            goto out;
    }
    if (!EVP_MAC_final(ctx, md, &mdlen, DIGEST_LEN) || mdlen != DIGEST_LEN)
        goto out;
    rc = 0;
out:
    EVP_MAC_CTX_free(ctx);
    return rc;
}

int jp_signer_sign(const struct jp_signer *s, const void *const parts[4], const size_t lens[4],
                   char *out)
{
    unsigned char md[DIGEST_LEN];
    size_t i;
    int rc = 0;

    if (!jp_signer_enabled(s)) {
        out[0] = '\0';
        goto out;
    }
    rc = compute(s, parts, lens, md);
    if (rc < 0)
        goto out;
    for (i = 0; i < DIGEST_LEN; i++) {
        out[2 * i] = hexdig[md[i] >> 4];
        out[2 * i + 1] = hexdig[md[i] & 0x0f];
    }
    out[JP_SIG_HEX_LEN] = '\0';
out:
    return rc;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The received signature is public, so decoding it may branch; only the comparison with the
 * computed digest has to be constant-time. */
static int unhex(const char *sig, size_t siglen, unsigned char out[DIGEST_LEN])
{
    size_t i;
    int hi, lo;

    if (siglen != JP_SIG_HEX_LEN)
        return -1;
    for (i = 0; i < DIGEST_LEN; i++) {
        hi = hexval(sig[2 * i]);
        lo = hexval(sig[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

/* Accepted digests are HMAC outputs an attacker cannot choose, so their first bytes are
 * already a uniform hash. */
static size_t slot_of(const struct jp_signer *s, const unsigned char *d)
{
    uint64_t h;

    memcpy(&h, d, sizeof h);
    return (size_t)h & s->mask;
}

/* Slot index holding digest d, or SIZE_MAX. */
static size_t history_find(const struct jp_signer *s, const unsigned char *d)
{
    size_t i = slot_of(s, d);

    while (s->slots[i]) {
        if (memcmp(s->ring[s->slots[i] - 1], d, DIGEST_LEN) == 0)
            return i;
        i = (i + 1) & s->mask;
    }
    return SIZE_MAX;
}

/* Empty slot i and shift later members of its probe chain back (linear-probing deletion
 * without tombstones). */
static void history_unslot(struct jp_signer *s, size_t i)
{
    size_t j = i, k;

    for (;;) {
        s->slots[i] = 0;
        for (;;) {
            j = (j + 1) & s->mask;
            if (!s->slots[j])
                return;
            k = slot_of(s, s->ring[s->slots[j] - 1]);
            /* the entry at j may stay unless its home k lies cyclically outside (i, j] */
            if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
                continue;
            s->slots[i] = s->slots[j];
            i = j;
            break;
        }
    }
}

static void history_add(struct jp_signer *s, const unsigned char *d)
{
    size_t i;

    if (s->count == s->history) {
        /* full: the oldest entry sits where the next one goes */
        i = history_find(s, s->ring[s->head]);
        if (i != SIZE_MAX)
            history_unslot(s, i);
    } else {
        s->count++;
    }
    memcpy(s->ring[s->head], d, DIGEST_LEN);
    i = slot_of(s, d);
    while (s->slots[i])
        i = (i + 1) & s->mask;
    s->slots[i] = s->head + 1;
    s->head = (s->head + 1) % s->history;
}

int jp_signer_verify(struct jp_signer *s, const void *const parts[4], const size_t lens[4],
                     const char *sig, size_t siglen)
{
    unsigned char want[DIGEST_LEN], got[DIGEST_LEN];
    int rc = 0;

    if (!jp_signer_enabled(s))
        goto out;
    if (siglen == 0) {
        rc = JP_EUNSIGNED;
        goto out;
    }
    if (unhex(sig, siglen, got) < 0) {
        rc = JP_ESIG;
        goto out;
    }
    rc = compute(s, parts, lens, want);
    if (rc < 0)
        goto out;
    if (CRYPTO_memcmp(want, got, DIGEST_LEN) != 0) {
        rc = JP_ESIG;
        goto out;
    }
    if (s->history) {
        if (history_find(s, got) != SIZE_MAX) {
            rc = JP_EREPLAY;
            goto out;
        }
        history_add(s, got);
    }
out:
    return rc;
}
