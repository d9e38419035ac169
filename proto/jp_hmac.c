/*
 * jp_hmac.c - HMAC-SHA256 message signatures and replay refusal (messaging spec, "The Wire
 * Protocol"; jupyter_client session.py sign/deserialize).
 *
 * The signature is the lowercase hex HMAC-SHA256, keyed with the raw bytes of the connection
 * file's key, over header, parent_header, metadata and content exactly as they travel. HMAC
 * is built from SHA-256 as RFC 2104 defines it: the key (hashed first when longer than the
 * 64-byte block) padded and XORed with 0x36 and 0x5c is hashed into an inner and an outer
 * SHA-256 state once, when the signer is made; each signature copies those two states instead
 * of keying a new EVP_MAC context (3 us a small message on the test machine; this way 0.8 us).
 * Verify compares the raw 32-byte digests with CRYPTO_memcmp, accepts upper- or lowercase hex,
 * and remembers the last `history` accepted digests in a ring with a small open-addressing
 * hash set beside it, so a replayed message is refused in O(1). Only signatures that verified
 * are remembered: a forged one can neither fill the history nor evict a real one. The padded
 * key is wiped with OPENSSL_cleanse once hashed. Does not parse JSON or touch sockets. Called
 * by jp_wire.c; the kernel and the server create one signer per connection file.
 */
#include "jp_hmac.h"

#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "jp_alloc.h"
#include "jp_err.h"

#define DIGEST_LEN 32
#define BLOCK_LEN 64 /* SHA-256's block */

struct jp_signer {
    int keyed;         /* the key was not empty */
    EVP_MD *md;        /* SHA-256, fetched once; NULL when not keyed */
    EVP_MD_CTX *inner; /* SHA-256 state after (key ^ ipad); read-only once made */
    EVP_MD_CTX *outer; /* SHA-256 state after (key ^ opad) */

    /* replay history: ring[] holds the last `history` accepted digests, oldest at `head`
     * once full; slots[] maps a digest to its ring index + 1 (0 = empty), linear probing */
    size_t history;
    unsigned char (*ring)[DIGEST_LEN];
    size_t head, count;
    size_t *slots;
    size_t mask; /* slot count - 1, a power of two minus one */
};

static const char hexdig[] = "0123456789abcdef";

/* The inner and outer SHA-256 states of HMAC for this key (RFC 2104 section 2). */
static int key_states(struct jp_signer *s, const void *key, size_t keylen)
{
    unsigned char k[BLOCK_LEN] = {0}, pad[BLOCK_LEN];
    unsigned int n = 0;
    int rc = JP_ECRYPTO;

    s->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    s->inner = EVP_MD_CTX_new();
    s->outer = EVP_MD_CTX_new();
    if (!s->md || !s->inner || !s->outer)
        goto out;
    if (keylen > BLOCK_LEN) {
        if (!EVP_Digest(key, keylen, k, &n, s->md, NULL) || n != DIGEST_LEN)
            goto out;
    } else {
        memcpy(k, key, keylen);
    }
    for (size_t i = 0; i < BLOCK_LEN; i++)
        pad[i] = k[i] ^ 0x36;
    if (!EVP_DigestInit_ex2(s->inner, s->md, NULL) || !EVP_DigestUpdate(s->inner, pad, BLOCK_LEN))
        goto out;
    for (size_t i = 0; i < BLOCK_LEN; i++)
        pad[i] = k[i] ^ 0x5c;
    if (!EVP_DigestInit_ex2(s->outer, s->md, NULL) || !EVP_DigestUpdate(s->outer, pad, BLOCK_LEN))
        goto out;
    rc = 0;
out:
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
    return rc;
}

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
        s->keyed = 1;
        rc = key_states(s, key, keylen);
        if (rc < 0)
            goto out;
        rc = JP_ENOMEM;
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
    EVP_MD_CTX_free(s->inner);
    EVP_MD_CTX_free(s->outer);
    EVP_MD_free(s->md);
    jp_free(s->ring);
    jp_free(s->slots);
    jp_free(s);
}

int jp_signer_enabled(const struct jp_signer *s)
{
    return s && s->keyed;
}

/* HMAC-SHA256 of the concatenated parts: the inner hash continues from the keyed inner state,
 * the outer one from the keyed outer state. Each call works on its own context, copied from
 * the signer's (which are only read), so sign() stays callable from several threads. */
static int compute(const struct jp_signer *s, const void *const parts[4], const size_t lens[4],
                   unsigned char md[DIGEST_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char ih[DIGEST_LEN];
    unsigned int n = 0;
    int rc = JP_ECRYPTO;

    if (!ctx || !EVP_MD_CTX_copy_ex(ctx, s->inner))
        goto out;
    for (int i = 0; i < 4; i++) {
        if (lens[i] && !EVP_DigestUpdate(ctx, parts[i], lens[i]))
            goto out;
    }
    if (!EVP_DigestFinal_ex(ctx, ih, &n) || n != DIGEST_LEN)
        goto out;
    if (!EVP_MD_CTX_copy_ex(ctx, s->outer) || !EVP_DigestUpdate(ctx, ih, DIGEST_LEN) ||
        !EVP_DigestFinal_ex(ctx, md, &n) || n != DIGEST_LEN)
        goto out;
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
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
