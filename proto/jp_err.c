/*
 * jp_err.c - text for the error codes of jp_err.h.
 *
 * Generated from the one X-macro list so the codes and their texts cannot drift apart.
 * Does not log or keep state. Called by anyone who reports an rc to a human.
 */
#include "jp_err.h"

const char *jp_strerror(int rc)
{
    switch (rc) {
    case JP_OK:
        return "success";
#define JP_ERR_TEXT(name, num, text)                                                               \
    case JP_E##name:                                                                               \
        return text;
        JP_ERRORS(JP_ERR_TEXT)
#undef JP_ERR_TEXT
    default:
        return "unknown error";
    }
}
