/*
 * ck_intro.h - knowing the code: is_complete, completion and inspection for C cells, and
 * the harvest of names declared by the session's headers (typedef names for the cell
 * splitter, functions, types and macros for completion and inspection).
 * Pure text processing plus one preprocessor run per include set (ck_names_harvest).
 */
#ifndef CK_INTRO_H
#define CK_INTRO_H

#include <stddef.h>

#include "ck_sess.h"
#include "jp_buf.h"

enum ck_name_kind { CK_NAME_FUNC, CK_NAME_VAR, CK_NAME_TYPE, CK_NAME_MACRO, CK_NAME_CONST };

struct ck_name {
    char *name;
    enum ck_name_kind kind;
    char *decl; /* declaration text, may be "" */
};

/* A sorted table of names (from headers). */
struct ck_names {
    struct ck_name *v;
    size_t n, cap;
};

void ck_names_dispose(struct ck_names *t);
/* Preprocess `includes` (C text with #include lines) with `cc -E -P -dD -I incdir` in dir
 * (incdir holds cnote.h) and collect
 * what the headers declare. typedefs (optional) receives the typedef names as a malloc'd
 * array of malloc'd strings. 0, JP_EIO (the preprocessor failed) or JP_ENOMEM. */
int ck_names_harvest(const char *cc, const char *incdir, const char *includes, const char *dir,
                     struct ck_names *out, char ***typedefs, size_t *n_typedefs);
/* Collect names from preprocessed C text (exposed for tests). */
int ck_names_scan(const char *text, size_t len, struct ck_names *out, char ***typedefs,
                  size_t *n_typedefs);
const struct ck_name *ck_names_find(const struct ck_names *t, const char *name, size_t len);

/* is_complete: "complete", "incomplete" (with indent written to indent, at most 64 bytes) or
 * "invalid". */
const char *ck_is_complete(const char *code, size_t len, char *indent, size_t indentlen);

struct ck_completion {
    char **matches;
    char **types; /* parallel: "function", "variable", "type", "macro", "keyword", "magic" */
    size_t n;
    size_t cursor_start, cursor_end; /* code points */
};
/* Complete at cursor (in code points). 0 or JP_ENOMEM. */
int ck_complete(const struct ck_session *s, const struct ck_names *hdr, const char *code,
                size_t cursor, struct ck_completion *out);
void ck_completion_dispose(struct ck_completion *c);

/* The identifier at or before cursor (code points) into name (NUL-terminated). 0 or
 * JP_ENOENT. */
int ck_word_at(const char *code, size_t cursor, char *name, size_t namelen);
/* Plain-text help for name: declaration from the session or headers, and the first lines of
 * its man page where the system has one (detail > 0: more lines). Returns 1 when something
 * was found, 0 when not, or JP_ENOMEM. */
int ck_inspect(const struct ck_session *s, const struct ck_names *hdr, const char *name, int detail,
               struct jp_buf *out);

#endif
