/*
 * jp_uuid.c - version 4 UUIDs (RFC 9562 section 5.4) and random hex strings, from the
 * kernel's CSPRNG via getrandom(2).
 *
 * Used for session ids, msg_ids, connection-file keys and tokens, so the randomness must be
 * cryptographic; getrandom blocks only until the pool is first initialised at boot. Does not
 * depend on libuuid and keeps no state. Called by jp_msg.c, the kernel and the server.
 */
#include "jp_uuid.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>

#include "jp_err.h"

static const char hexdig[] = "0123456789abcdef";

/* Fill buf with n random bytes; retries on EINTR and short reads. */
static int fill_random(unsigned char *buf, size_t n)
{
    size_t got = 0;
    ssize_t r;

    while (got < n) {
        r = getrandom(buf + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return JP_EIO;
        }
        got += (size_t)r;
    }
    return 0;
}

int jp_uuid_v4(char out[JP_UUID_LEN])
{
    unsigned char b[16];
    size_t i, o = 0;
    int rc;

    rc = fill_random(b, sizeof b);
    if (rc < 0)
        goto out;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10xx */
    for (i = 0; i < sizeof b; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hexdig[b[i] >> 4];
        out[o++] = hexdig[b[i] & 0x0f];
    }
    out[o] = '\0';
out:
    explicit_bzero(b, sizeof b);
    return rc;
}

int jp_random_hex(char *out, size_t nbytes)
{
    unsigned char b[64];
    size_t done = 0, chunk, i;
    int rc = 0;

    while (done < nbytes) {
        chunk = nbytes - done < sizeof b ? nbytes - done : sizeof b;
        rc = fill_random(b, chunk);
        if (rc < 0)
            goto out;
        for (i = 0; i < chunk; i++) {
            out[2 * (done + i)] = hexdig[b[i] >> 4];
            out[2 * (done + i) + 1] = hexdig[b[i] & 0x0f];
        }
        done += chunk;
    }
    out[2 * nbytes] = '\0';
out:
    if (rc < 0)
        out[0] = '\0'; /* never hand back a half-random secret */
    explicit_bzero(b, sizeof b);
    return rc;
}
