/*
 * jp_err.h - the one list of error codes used by proto/, the kernel and the server.
 *
 * Every function in this project that can fail returns int: 0 on success, a negative
 * JP_E* code from the X-macro list below, or a documented non-negative count. The list
 * also generates jp_strerror(). Detail (a parser message, errno) goes in an optional
 * out-parameter of the failing function, never in a global.
 */
#ifndef JP_ERR_H
#define JP_ERR_H

#define JP_ERRORS(X)                                                                               \
    X(NOMEM, 1, "out of memory")                                                                   \
    X(INVAL, 2, "invalid argument")                                                                \
    X(PARSE, 3, "malformed JSON")                                                                  \
    X(PROTO, 4, "protocol violation")                                                              \
    X(SIG, 5, "signature mismatch")                                                                \
    X(UNSIGNED, 6, "message is not signed")                                                        \
    X(REPLAY, 7, "duplicate signature")                                                            \
    X(IO, 8, "input/output error")                                                                 \
    X(RANGE, 9, "value out of range")                                                              \
    X(NOENT, 10, "not found")                                                                      \
    X(TOOBIG, 11, "size limit exceeded")                                                           \
    X(CRYPTO, 12, "cryptographic library failure")                                                 \
    X(TIMEOUT, 13, "timed out")                                                                    \
    X(DEAD, 14, "peer process died")                                                               \
    X(COMPILE, 15, "compilation failed")                                                           \
    X(INTR, 16, "interrupted")

enum {
    JP_OK = 0,
#define JP_ERR_ENUM(name, num, text) JP_E##name = -(num),
    JP_ERRORS(JP_ERR_ENUM)
#undef JP_ERR_ENUM
};

/* Text for an rc from the list above ("success" for 0); "unknown error" for anything else.
 * Never NULL. */
const char *jp_strerror(int rc);

#endif
