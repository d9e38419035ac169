/*
 * nbjson.h - notebook JSON exactly as nbformat reads and writes it.
 *
 * Writing: nbformat 5.x writes a v4 notebook as Python's
 * json.dumps(nb, sort_keys=True, indent=1, separators=(",", ": "), ensure_ascii=False) + "\n"
 * after split_lines() and strip_transient() (nbformat/v4/nbjson.py JSONWriter.writes,
 * nbformat/__init__.py write). nbjson_dumps reproduces the json.dumps part byte for byte:
 * keys sorted by code point, one space of indent per level, "," at line ends and ": " after
 * keys, "[]" and "{}" for empty containers, Python's float repr (shortest round-trip digits,
 * exponent form below 1e-4 and from 1e16, "10.0" for integral floats), exact integers, and
 * json's string escapes with ensure_ascii=False (\" \\ \n \r \t \b \f, other C0 controls as
 * \u00xx in lowercase hex, everything else raw UTF-8). Reading: nbformat's rejoin_lines() and
 * strip_transient() (nbformat/v4/rwbase.py), so a notebook model holds one string where the
 * file holds a list of lines.
 *
 * jansson does the parsing (numbers with a fraction or exponent become reals, others
 * integers, which is Python's int/float split). Limits inherited from it: integers outside
 * int64, NaN/Infinity and NUL bytes in object keys cannot be represented, so such notebooks
 * are refused by the reader rather than silently changed. No file I/O here; the contents
 * manager (server/contents.c) is the caller.
 */
#ifndef NBJSON_H
#define NBJSON_H

#include <stddef.h>

#include <jansson.h>

struct jp_buf;

/* Longest output of nbjson_format_double, terminator included. */
#define NBJSON_DOUBLE_LEN 32

/* Python's repr(float) for v: "0.1", "1e-05", "1e+16", "10.0", "-0.0", "NaN", "Infinity".
 * out must hold NBJSON_DOUBLE_LEN bytes. Returns the length written. */
size_t nbjson_format_double(double v, char *out);

/* Append json.dumps(v, sort_keys=True, indent=1, ensure_ascii=False) to out, without the
 * final newline and without any notebook transform. v is borrowed. 0, JP_ENOMEM or
 * JP_ETOOBIG (out's limit); on failure out may hold a partial document. */
int nbjson_dumps(const json_t *v, struct jp_buf *out);

/* nbformat's split_lines, in place: cell sources, attachment bundles and code-cell outputs'
 * text/..., image/svg+xml and application/javascript strings (execute_result, display_data)
 * and stream text become lists of lines cut after every line boundary Python's
 * str.splitlines knows (\n, \r, \r\n, \v, \f, \x1c-\x1e, U+0085, U+2028, U+2029). Parts
 * of the notebook that do not have the expected shape are left alone. 0 or JP_ENOMEM (the
 * notebook may then be partly split). */
int nbjson_split_lines(json_t *nb);

/* nbformat's rejoin_lines, in place: list-valued sources, stream and other outputs' text,
 * and string lists in non-JSON mime bundles (outputs and attachments) are joined into one
 * string. Lists holding anything but strings are left alone. 0 or JP_ENOMEM. */
int nbjson_rejoin_lines(json_t *nb);

/* nbformat's strip_transient, in place: drop metadata.orig_nbformat,
 * metadata.orig_nbformat_minor, metadata.signature and every cell's metadata.trusted. */
void nbjson_strip_transient(json_t *nb);

/* The whole nbformat write: copy nb (borrowed), split lines, strip transient keys, dump,
 * add "\n". 0, JP_ENOMEM or JP_ETOOBIG; out holds the document on success. */
int nbjson_write_notebook(const json_t *nb, struct jp_buf *out);

/* The whole nbformat read of a v4 file: parse len bytes (NUL bytes inside strings allowed,
 * as Python's json allows them), rejoin lines, strip transient keys. 0 and *out (a new
 * reference), or JP_EPARSE (not JSON, or a value jansson cannot hold, or not an object with a
 * "cells" array; err receives a message when errlen > 0) or JP_ENOMEM; *out untouched then. */
int nbjson_read_notebook(const char *data, size_t len, json_t **out, char *err, size_t errlen);

#endif
