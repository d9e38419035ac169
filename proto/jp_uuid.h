/*
 * jp_uuid.h - random (version 4) UUIDs for msg_id and session ids, and random tokens
 * and keys, from getrandom(2). No dependency on libuuid.
 */
#ifndef JP_UUID_H
#define JP_UUID_H

#include <stddef.h>

#define JP_UUID_LEN 37 /* 36 characters and the NUL */

/* Fill out with a lowercase "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx". 0 or JP_EIO. */
int jp_uuid_v4(char out[JP_UUID_LEN]);
/* Fill out with 2*nbytes lowercase hex characters of randomness and a NUL
 * (out must hold 2*nbytes+1). 0 or JP_EIO (then out is "", never a partial secret). */
int jp_random_hex(char *out, size_t nbytes);

#endif
