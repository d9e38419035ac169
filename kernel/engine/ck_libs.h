/*
 * ck_libs.h - the libraries that a cell's headers imply.
 *
 * `#include <cblas.h>` is a promise to call OpenBLAS, so the kernel loads OpenBLAS into the
 * state process before the cell runs, once per session, instead of asking for `%lib openblas`
 * or linking every cell against it. One table maps a header's file name to the libraries it
 * needs, in load order; each library has the file names it may have on disk (first found
 * wins) and the Debian package that provides it, for the error message when it is missing.
 * Nothing here loads anything: the caller (kernel/kloop.c) sends the paths to the state
 * process, which dlopens them RTLD_GLOBAL like `%lib`.
 */
#ifndef CK_LIBS_H
#define CK_LIBS_H

#include <stddef.h>

#define CK_LIB_MAX_FILES 3

struct ck_lib {
    const char *name;                    /* "openblas", for messages */
    const char *files[CK_LIB_MAX_FILES]; /* sonames to look for, best first (NULL-padded) */
    const char *package;                 /* Debian package that provides it */
    int cuda; /* part of the CUDA toolkit: look in its library directory first (ck_cuda.h) */
};

struct ck_lib_need {
    const struct ck_lib *lib; /* static: never freed */
    const char *header;       /* the table's header name that implied it ("cblas.h") */
};

/* The libraries implied by the #include lines in text (any C text: only lines whose first
 * token is #include count; <a/b.h> and "b.h" both match the table's "b.h"), each once, in
 * load order (a library before those that need it). Writes up to max entries to out and
 * returns how many were found (which may exceed max: then only max were written). */
size_t ck_libs_implied(const char *text, struct ck_lib_need *out, size_t max);

/* The libraries implied by one header name ("cblas.h", "openblas/cblas.h"), or NULL when
 * the header implies none. The array ends with a NULL. */
const struct ck_lib *const *ck_libs_for_header(const char *header);

/* Where to load lib from: the first of its files found in dirs (a NULL-terminated list; the
 * system library directories when dirs is NULL), written to path as "dir/file". When none is
 * found, its first file name alone (so dlopen asks the loader's cache). Returns 1 when a
 * file was found on disk, 0 otherwise. */
int ck_libs_locate(const struct ck_lib *lib, const char *const *dirs, char *path, size_t len);

#endif
