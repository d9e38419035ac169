/*
 * ck_sess.h - the C state of a notebook session as the compiler sees it, and the code
 * generator that turns a cell into a C file against that state.
 *
 * The session holds the prelude (includes, macros, type definitions, extern declarations
 * and static inline functions, in order) and the table of live symbols: every global and
 * function an earlier cell defined, with the assembler label (`f__ck7`) it was compiled
 * under. Each definition gets a fresh label, so no symbol is ever defined twice and a
 * redefinition never clashes; later cells reach the newest one through `__asm__` labels
 * on their extern declarations. Nothing here runs a compiler or touches a process:
 * ck_gen produces text and a new session that the caller commits once the cell loaded.
 */
#ifndef CK_SESS_H
#define CK_SESS_H

#include <stddef.h>

#include "jp_buf.h"

enum ck_item_kind { CK_ITEM_INCLUDE, CK_ITEM_DEFINE, CK_ITEM_TYPE, CK_ITEM_PP, CK_ITEM_EXTERN };
enum ck_sym_kind { CK_SYM_VAR, CK_SYM_FUNC };

struct ck_item {
    enum ck_item_kind kind;
    char *key;   /* identity for replacement: "d:NAME", "t:NAME", "s:TAG", or the text */
    char *text;  /* verbatim C text */
    char *cell;  /* "In[3]" */
    int line;    /* first line in that cell */
    char *names; /* space-separated names it declares (typedefs, tags, enum constants, macro) */
};

struct ck_sym {
    enum ck_sym_kind kind;
    char *name;
    char *label; /* assembler name */
    char *decl;  /* declaration for later cells, with the label */
    char *type;  /* type text without the name: "double *", or the prototype */
    char *text;  /* definition text, to spot identical re-definitions */
    char *cell;
    int line;
    char *refs; /* functions: space-separated identifiers their body uses */
    int stale;  /* its type was redefined after it was compiled: hidden from later cells */
};

struct ck_session {
    struct ck_item *items;
    size_t n_items, cap_items;
    struct ck_sym *syms;
    size_t n_syms, cap_syms;
    /* typedef names known from headers (harvested by the caller): sorted, unique */
    char **hdr_types;
    size_t n_hdr_types;
    unsigned serial; /* increases with every generated cell */
    /* The first pch_items prelude items (all #include lines) and cnote.h are in a
     * precompiled header the compiler is given with -include: ck_gen leaves them out. 0: no
     * precompiled header. Set by the caller; copied by ck_session_clone. */
    size_t pch_items;
};

/* An empty session whose prelude holds the default includes. 0 or JP_ENOMEM. */
int ck_session_init(struct ck_session *s);
void ck_session_dispose(struct ck_session *s);
/* Deep copy of src into dst (dst uninitialised). 0 or JP_ENOMEM (dst then empty). */
int ck_session_clone(struct ck_session *dst, const struct ck_session *src);
/* Replace the header typedef names by n names (copied). 0 or JP_ENOMEM. */
int ck_session_set_hdr_types(struct ck_session *s, char *const *names, size_t n);
/* Non-zero when name is a typedef name from headers or cells. */
int ck_session_is_type(const struct ck_session *s, const char *name, size_t len);
/* The live (not stale) symbol called name, or NULL. */
const struct ck_sym *ck_session_find(const struct ck_session *s, const char *name, size_t len);
/* Make `name` a live function defined outside ck_gen (a %%cuda cell's host function),
 * replacing any symbol of that name: label is its assembler name, decl the declaration
 * later cells get, type the prototype without the label. Strings are copied. 0 or
 * JP_ENOMEM. */
int ck_session_put_func(struct ck_session *s, const char *name, const char *label, const char *decl,
                        const char *type, const char *cell, int line);
/* How many leading prelude items are #include lines (what a precompiled header can hold). */
size_t ck_session_include_prefix(const struct ck_session *s);
/* The text of cnote.h's include and the first n prelude items, for a precompiled header.
 * Caller frees; NULL on out-of-memory. */
char *ck_session_pch_text(const struct ck_session *s, size_t n);
/* The include lines of the prelude, one per line, as a C text (for harvesting). Caller frees. */
char *ck_session_includes(const struct ck_session *s);
/* The same followed by the #include lines of cell text src that the prelude lacks. */
char *ck_session_includes_plus(const struct ck_session *s, const char *src, size_t len);

struct ck_gen {
    struct jp_buf code;     /* the generated C file */
    struct jp_buf warnings; /* notes for the user (redefinitions, stale globals) */
    char fn[48];            /* name of the cell function, "" when there is nothing to run */
    int has_main;           /* the cell defined main(): the cell function calls it */
};

/* Generate the C file for a cell. `src` (len bytes) is the cell text (magic lines blanked),
 * `cell` its name in diagnostics ("In[4]"). `next` must be a clone of the current session:
 * on success it holds the session as it will be once the cell has loaded. g must be
 * zero-initialised; free it with ck_gen_dispose. Returns 0, JP_ENOMEM, or JP_EINVAL with a
 * message in g->warnings when the cell cannot be understood. */
int ck_gen(struct ck_session *next, const char *src, size_t len, const char *cell,
           struct ck_gen *g);
void ck_gen_dispose(struct ck_gen *g);

#endif
