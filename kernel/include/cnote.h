/*
 * cnote.h - the API a notebook cell can call (it is included in every cell).
 *
 * Rich output goes to the notebook as display_data messages: each display_* call
 * publishes one output with the given MIME type. A display created with an id can later
 * be replaced in place with update_display_*. Text given to the display functions must
 * be UTF-8; binary images are passed as bytes and base64-encoded by the kernel.
 * Everything here is implemented by the cnote executor process that runs the cells;
 * names starting with __ck_ are internal.
 */
#ifndef CNOTE_H
#define CNOTE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Publish one output of MIME type `mime` (e.g. "text/html"); binary data (image/png,
 * image/jpeg, application/octet-stream...) is base64-encoded for you. */
void display_mime(const char *mime, const void *data, size_t len);
void display_text(const char *text);
void display_html(const char *html);
void display_markdown(const char *markdown);
void display_latex(const char *latex);
void display_svg(const char *svg);
void display_json(const char *json); /* a JSON document, sent as application/json */
void display_png(const void *png, size_t len);
void display_jpeg(const void *jpeg, size_t len);
/* printf-style HTML */
void display_htmlf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Displays with an id (any string): update_display_* replaces every output shown with it. */
void display_mime_id(const char *id, const char *mime, const void *data, size_t len);
void display_html_id(const char *id, const char *html);
void display_text_id(const char *id, const char *text);
void update_display_mime(const char *id, const char *mime, const void *data, size_t len);
void update_display_html(const char *id, const char *html);
void update_display_text(const char *id, const char *text);

/* Clear this cell's output; with wait != 0 only when the next output arrives. */
void clear_output(int wait);

/* Non-zero once the user asked to interrupt: long loops may poll it to stop cleanly. */
int cnote_interrupted(void);

/* ---- internal: used by the code the kernel generates ---- */
struct __ck_void {
    char __ck_unused;
};
enum __ck_kind {
    __CK_VOID,
    __CK_BOOL,
    __CK_CHAR,
    __CK_SCHAR,
    __CK_UCHAR,
    __CK_SHORT,
    __CK_USHORT,
    __CK_INT,
    __CK_UINT,
    __CK_LONG,
    __CK_ULONG,
    __CK_LLONG,
    __CK_ULLONG,
    __CK_FLOAT,
    __CK_DOUBLE,
    __CK_LDOUBLE,
    __CK_STR,
    __CK_PTR,
    __CK_STRUCT,
    __CK_UNION,
    __CK_OTHER
};
#define __CK_KIND(v)                                                                               \
    _Generic((v), struct __ck_void: __CK_VOID, _Bool: __CK_BOOL, char: __CK_CHAR,                  \
             signed char: __CK_SCHAR, unsigned char: __CK_UCHAR, short: __CK_SHORT,                \
             unsigned short: __CK_USHORT, int: __CK_INT, unsigned: __CK_UINT, long: __CK_LONG,     \
             unsigned long: __CK_ULONG, long long: __CK_LLONG, unsigned long long: __CK_ULLONG,    \
             float: __CK_FLOAT, double: __CK_DOUBLE, long double: __CK_LDOUBLE,                    \
             char *: __CK_STR, const char *: __CK_STR,                                             \
             default: (__builtin_classify_type(v) == 5    ? __CK_PTR                               \
                       : __builtin_classify_type(v) == 12 ? __CK_STRUCT                            \
                       : __builtin_classify_type(v) == 13 ? __CK_UNION                             \
                                                          : __CK_OTHER))
#define __CK_TNAME(v)                                                                              \
    _Generic((v), void *: "void *", const void *: "const void *", int *: "int *",                  \
             const int *: "const int *", unsigned *: "unsigned int *", long *: "long *",           \
             unsigned long *: "unsigned long *", long long *: "long long *", short *: "short *",   \
             float *: "float *", double *: "double *", const double *: "const double *",           \
             char **: "char **", unsigned char *: "unsigned char *", signed char *: "signed char *",\
             default: (const char *)0)
void __ck_show(int kind, const char *tname, const char *declared, const void *v, size_t size);
void __ck_main_returned(int rc);

#ifdef __cplusplus
}
#endif
#endif
