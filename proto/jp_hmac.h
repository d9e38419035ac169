/*
 * jp_hmac.h - HMAC-SHA256 signing and constant-time verification of Jupyter messages
 * (messaging spec, "The Wire Protocol": the signature is the lowercase hex HMAC of the
 * four serialized dict frames header, parent_header, metadata, content, in that order;
 * the key is the connection file's `key` string taken as raw bytes; an empty key means
 * no signing and no checking). Also keeps a bounded history of seen signatures so a
 * replayed message is refused, as jupyter_client does. Uses OpenSSL; touches no socket.
 */
#ifndef JP_HMAC_H
#define JP_HMAC_H

#include <stddef.h>

#define JP_SIG_HEX_LEN 64 /* hex characters of an HMAC-SHA256 signature */

struct jp_signer; /* opaque: holds a copy of the key (wiped on free) and the replay history */

/* A signer for `key` (keylen bytes, may be 0: then signing yields "" and any signature is
 * accepted). `history` is how many recent signatures verify remembers to refuse replays
 * (0 disables the check; jupyter_client uses 65536). Returns NULL on out-of-memory, if
 * OpenSSL has no HMAC, or if key is NULL with keylen > 0. sign may run on several threads
 * at once; verify updates the history and must be serialized per signer. */
struct jp_signer *jp_signer_new(const void *key, size_t keylen, size_t history);
/* Wipes the key with OPENSSL_cleanse and frees. NULL-safe. */
void jp_signer_free(struct jp_signer *s);
/* True when the signer has a non-empty key. */
int jp_signer_enabled(const struct jp_signer *s);

/* Sign the four frames parts[0..3] (lengths lens[0..3]). Writes 64 hex characters and a NUL
 * to out (which must hold JP_SIG_HEX_LEN+1), or "" when the key is empty. 0 or JP_ECRYPTO. */
int jp_signer_sign(const struct jp_signer *s, const void *const parts[4], const size_t lens[4],
                   char *out);

/* Verify signature `sig` (siglen bytes, hex, case-insensitive) of the four frames in constant
 * time. Returns 0 when it matches (and records it), JP_EUNSIGNED for an empty signature with a
 * non-empty key, JP_ESIG on mismatch (including anything that is not 64 hex digits),
 * JP_EREPLAY if the same signature was accepted before within the history window, JP_ECRYPTO
 * if OpenSSL fails. Only accepted signatures are recorded. With an empty key always 0. */
int jp_signer_verify(struct jp_signer *s, const void *const parts[4], const size_t lens[4],
                     const char *sig, size_t siglen);

#endif
