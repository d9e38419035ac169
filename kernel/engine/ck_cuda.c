/*
 * ck_cuda.c - %%cuda cells on the compiler side (see ck_cuda.h for the model).
 *
 * The generated .cu file is laid out as:
 *   the default C headers and cnote.h; extern declarations of the earlier cells' symbols
 *   that this cell names and does not define itself (only those whose declaration is
 *   plain C that C++ reads the same way); the labelled prototypes of the host functions
 *   this cell exports; then the cell text verbatim after `#line 1 "In[k]"`, with `main`
 *   renamed when the cell defines it; and `extern "C" void __ck_cell_N(void)`.
 * The prototypes come before the cell text because a function's first declaration fixes
 * its assembler name. The scan that finds host functions is a token walk over file
 * scope, not a C++ parser: it recognises `name(params) {` at brace depth 0 (and inside
 * `extern "C" { }`), skips namespaces, class bodies and templates, and exports only what
 * it fully understands; anything else simply stays private to the cell.
 */
#include "ck_cuda.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ck_cell.h"
#include "ck_lex.h"
#include "jp_err.h"

#define TOK(i) (&t->v[(i)])
#define IS(i, s) ck_tok_is(src, TOK(i), (s))

/* ---- finding the toolkit ---------------------------------------------------------- */

static int is_exec_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* dst = a "/" b when it fits (else dst is left alone). */
static void join_path(char *dst, size_t size, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la + 1 + lb >= size)
        return;
    memcpy(dst, a, la);
    dst[la] = '/';
    memcpy(dst + la + 1, b, lb + 1);
}

/* The include and library directories of toolkit root home (set only when they exist). */
static void tk_dirs(struct ck_cuda_tk *tk, const char *home)
{
    static const char *const inc[] = {"include", "targets/x86_64-linux/include",
                                      "targets/sbsa-linux/include", NULL};
    static const char *const lib[] = {"lib64", "lib", "targets/x86_64-linux/lib",
                                      "targets/sbsa-linux/lib", NULL};
    static const char *const rt[] = {"libcudart.so.13", "libcudart.so.12", "libcudart.so.11",
                                     "libcudart.so", NULL};
    char p[CK_CUDA_PATH + 64];
    char real[PATH_MAX];
    if (!realpath(home, real))
        return;
    if (strlen(real) >= sizeof tk->home)
        return;
    memcpy(tk->home, real, strlen(real) + 1);
    for (int i = 0; inc[i] && !tk->include[0]; i++) {
        snprintf(p, sizeof p, "%s/%s/cuda_runtime.h", real, inc[i]);
        if (is_file(p))
            join_path(tk->include, sizeof tk->include, real, inc[i]);
    }
    for (int i = 0; lib[i] && !tk->libdir[0]; i++)
        for (int j = 0; rt[j] && !tk->libdir[0]; j++) {
            snprintf(p, sizeof p, "%s/%s/%s", real, lib[i], rt[j]);
            if (is_file(p))
                join_path(tk->libdir, sizeof tk->libdir, real, lib[i]);
        }
}

/* nvcc found at path: the root is the directory above its bin/ (symlinks resolved). */
static void tk_from_nvcc(struct ck_cuda_tk *tk, const char *path)
{
    char real[PATH_MAX];
    snprintf(tk->nvcc, sizeof tk->nvcc, "%s", path);
    if (!realpath(path, real))
        return;
    char *slash = strrchr(real, '/');
    if (!slash)
        return;
    *slash = '\0';
    slash = strrchr(real, '/');
    if (!slash)
        return;
    if (slash == real)
        slash[1] = '\0';
    else
        *slash = '\0';
    tk_dirs(tk, real);
}

static int from_home(struct ck_cuda_tk *tk, const char *home)
{
    char p[CK_CUDA_PATH + 16];
    snprintf(p, sizeof p, "%s/bin/nvcc", home);
    if (!is_exec_file(p))
        return 0;
    tk_from_nvcc(tk, p);
    return 1;
}

int ck_cuda_find(struct ck_cuda_tk *tk)
{
    memset(tk, 0, sizeof *tk);
    const char *v = getenv("CNOTE_NVCC");
    if (v && *v) {
        if (!is_exec_file(v)) {
            snprintf(tk->why, sizeof tk->why, "CNOTE_NVCC=%s is not an executable file", v);
            return JP_ENOENT;
        }
        tk_from_nvcc(tk, v);
        return 0;
    }
    v = getenv("CNOTE_CUDA_HOME");
    if (v && *v) {
        if (from_home(tk, v))
            return 0;
        tk_dirs(tk, v); /* headers and libraries may be there without the compiler */
        snprintf(tk->why, sizeof tk->why, "CNOTE_CUDA_HOME=%s has no bin/nvcc", v);
        return JP_ENOENT;
    }
    const char *homes[] = {getenv("CUDA_HOME"), getenv("CUDA_PATH")};
    for (int i = 0; i < 2; i++)
        if (homes[i] && *homes[i] && from_home(tk, homes[i]))
            return 0;
    const char *path = getenv("PATH");
    while (path && *path) {
        size_t n = strcspn(path, ":");
        char p[CK_CUDA_PATH + 8];
        if (n && n < CK_CUDA_PATH) {
            snprintf(p, sizeof p, "%.*s/nvcc", (int)n, path);
            if (is_exec_file(p)) {
                tk_from_nvcc(tk, p);
                return 0;
            }
        }
        path += n;
        if (*path == ':')
            path++;
    }
    if (from_home(tk, "/usr/local/cuda"))
        return 0;
    snprintf(tk->why, sizeof tk->why,
             "not in CNOTE_NVCC, CNOTE_CUDA_HOME, CUDA_HOME, CUDA_PATH, PATH or /usr/local/cuda");
    return JP_ENOENT;
}

/* ---- architectures ---------------------------------------------------------------- */

/* "sm_90", "compute_90", "90", "9.0", "sm_90a" -> digits "90" and suffix "a"; *ptx_only
 * for compute_*. 0 or JP_EINVAL. */
static int parse_arch(const char *w, size_t n, char *num, size_t numlen, int *ptx_only)
{
    char buf[32];
    if (n == 0 || n >= sizeof buf)
        return JP_EINVAL;
    memcpy(buf, w, n);
    buf[n] = '\0';
    const char *p = buf;
    *ptx_only = 0;
    if (strncmp(p, "sm_", 3) == 0) {
        p += 3;
    } else if (strncmp(p, "compute_", 8) == 0) {
        p += 8;
        *ptx_only = 1;
    }
    size_t o = 0;
    for (; *p >= '0' && *p <= '9' && o + 1 < numlen; p++)
        num[o++] = *p;
    if (*p == '.' && o == 1) /* "9.0" */
        for (p++; *p >= '0' && *p <= '9' && o + 1 < numlen; p++)
            num[o++] = *p;
    if (o < 2 || o > 3)
        return JP_EINVAL;
    if ((*p == 'a' || *p == 'f') && o + 1 < numlen)
        num[o++] = *p++;
    num[o] = '\0';
    return *p ? JP_EINVAL : 0;
}

/* "90a" -> 90 */
static int arch_number(const char *num)
{
    int v = 0;
    for (; *num >= '0' && *num <= '9'; num++)
        v = v * 10 + (*num - '0');
    return v;
}

int ck_cuda_arch_flags(const char *spec, char *out, size_t len)
{
    char nums[16][8];
    int ptx[16], n = 0;
    const char *p = spec ? spec : "";
    if (!len)
        return JP_ERANGE;
    out[0] = '\0';
    while (*p) {
        p += strspn(p, ", \t");
        size_t w = strcspn(p, ", \t");
        if (!w)
            break;
        if ((w == 6 && strncmp(p, "native", 6) == 0) || (w == 3 && strncmp(p, "all", 3) == 0) ||
            (w == 9 && strncmp(p, "all-major", 9) == 0)) {
            if (n || p[w + strspn(p + w, ", \t")])
                return JP_EINVAL; /* only alone */
            int k = snprintf(out, len, "-arch=%.*s", (int)w, p);
            return k < 0 || (size_t)k >= len ? JP_ERANGE : 0;
        }
        if (n == 16 || parse_arch(p, w, nums[n], sizeof nums[n], &ptx[n]))
            return JP_EINVAL;
        n++;
        p += w;
    }
    size_t o = 0;
    int k = 0;
    if (n == 1) {
        k = snprintf(out, len, "-arch=%s_%s", ptx[0] ? "compute" : "sm", nums[0]);
        return k < 0 || (size_t)k >= len ? JP_ERANGE : 0;
    }
    int newest = -1;
    for (int i = 0; i < n; i++) {
        k = ptx[i] ? snprintf(out + o, len - o, "%s-gencode=arch=compute_%s,code=compute_%s",
                              o ? " " : "", nums[i], nums[i])
                   : snprintf(out + o, len - o, "%s-gencode=arch=compute_%s,code=sm_%s",
                              o ? " " : "", nums[i], nums[i]);
        if (k < 0 || (size_t)k >= len - o)
            return JP_ERANGE;
        o += (size_t)k;
        if (!ptx[i] && (newest < 0 || arch_number(nums[i]) > arch_number(nums[newest])))
            newest = i;
    }
    if (newest >= 0) {
        /* PTX of the newest too, so a later GPU can JIT it */
        k = snprintf(out + o, len - o, " -gencode=arch=compute_%s,code=compute_%s", nums[newest],
                     nums[newest]);
        if (k < 0 || (size_t)k >= len - o)
            return JP_ERANGE;
    }
    return 0;
}

/* ---- commands --------------------------------------------------------------------- */

static int argv_add(struct ck_argv *a, const char *s, size_t n)
{
    if (a->n + 1 >= (int)(sizeof a->v / sizeof a->v[0]) || a->used + n + 1 > sizeof a->store)
        return JP_ERANGE;
    char *d = a->store + a->used;
    memcpy(d, s, n);
    d[n] = '\0';
    a->used += n + 1;
    a->v[a->n++] = d;
    a->v[a->n] = NULL;
    return 0;
}

static int argv_adds(struct ck_argv *a, const char *s)
{
    return argv_add(a, s, strlen(s));
}

/* Each space-separated word of s. */
static int argv_words(struct ck_argv *a, const char *s)
{
    int rc = 0;
    while (s && *s && !rc) {
        s += strspn(s, " \t\n");
        size_t w = strcspn(s, " \t\n");
        if (w)
            rc = argv_add(a, s, w);
        s += w;
    }
    return rc;
}

int ck_cuda_compile_argv(const struct ck_cuda_tk *tk, const char *arch_flags, const char *incdir,
                         const char *extra, const char *src, const char *obj, struct ck_argv *a)
{
    char inc[CK_CUDA_PATH + 8];
    int rc;
    memset(a, 0, sizeof *a);
    snprintf(inc, sizeof inc, "-I%s", incdir);
    /* -g: host debug info, so a crash names the cell line; device code stays optimised */
    const char *fixed[] = {tk->nvcc,           "-c", "-std=c++17", "-O2", "-g",
                           "-Xcompiler=-fPIC", inc,  NULL};
    for (int i = 0; fixed[i]; i++)
        if ((rc = argv_adds(a, fixed[i])))
            return rc;
    if ((rc = argv_words(a, arch_flags)) || (rc = argv_words(a, extra)))
        return rc;
    if ((rc = argv_adds(a, "-o")) || (rc = argv_adds(a, obj)) || (rc = argv_adds(a, src)))
        return rc;
    return 0;
}

int ck_cuda_link_argv(const char *cc, const char *obj, const char *so, struct ck_argv *a)
{
    const char *v[] = {cc, "-shared", "-Wl,-Bsymbolic", "-o", so, obj, "-lstdc++", NULL};
    memset(a, 0, sizeof *a);
    for (int i = 0; v[i]; i++) {
        int rc = argv_adds(a, v[i]);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- diagnostics ------------------------------------------------------------------ */

/* `FILE(LINE): KIND[ #N-D]: MESSAGE` from the EDG front end: 1 and the parts, else 0. */
static int edg_line(const char *l, size_t n, size_t *file_end, long *line, const char **kind,
                    const char **msg)
{
    static const char *const kinds[] = {"catastrophic error", "error", "warning", "remark", NULL};
    for (size_t i = 0; i + 3 < n; i++) {
        if (l[i] != '(' || l[i + 1] < '0' || l[i + 1] > '9' || i == 0)
            continue;
        size_t j = i + 1;
        long v = 0;
        while (j < n && l[j] >= '0' && l[j] <= '9')
            v = v * 10 + (l[j++] - '0');
        if (j + 3 > n || l[j] != ')' || l[j + 1] != ':' || l[j + 2] != ' ')
            continue;
        const char *k = l + j + 3;
        for (int m = 0; kinds[m]; m++) {
            size_t kl = strlen(kinds[m]);
            if ((size_t)(l + n - k) <= kl || strncmp(k, kinds[m], kl) != 0)
                continue;
            const char *r = k + kl;
            if (*r == ' ' && r[1] == '#') /* " #177-D" */
                r += 2 + strcspn(r + 2, ":\n");
            if (*r != ':')
                continue;
            *file_end = i;
            *line = v;
            *kind = kinds[m];
            *msg = r[1] == ' ' ? r + 2 : r + 1;
            return 1;
        }
    }
    return 0;
}

int ck_cuda_diag(const char *text, struct jp_buf *out)
{
    int rc = 0, in_quote = 0;
    const char *p = text ? text : "";
    while (*p && !rc) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        size_t fe;
        long line;
        const char *kind, *msg;
        if (edg_line(p, n, &fe, &line, &kind, &msg)) {
            const char *k = strcmp(kind, "catastrophic error") == 0 ? "fatal error"
                            : strcmp(kind, "remark") == 0           ? "note"
                                                                    : kind;
            rc = jp_buf_addf(out, "%.*s:%ld: %s: %.*s\n", (int)fe, p, line, k, (int)(p + n - msg),
                             msg);
            in_quote = 1; /* the source line and caret that follow */
        } else if (in_quote && n > 0) {
            /* quoted source and caret: gcc's are switched off too */
        } else if (n == 0) {
            in_quote = 0;
        } else if (strstr(p, " detected in the compilation of ") &&
                   (size_t)(strstr(p, " detected in the compilation of ") - p) < n) {
            /* "1 error detected in the compilation of ..." */
        } else {
            rc = jp_buf_add(out, p, n);
            if (!rc)
                rc = jp_buf_adds(out, "\n");
        }
        p = e ? e + 1 : p + n;
    }
    return rc;
}

/* ---- headers ---------------------------------------------------------------------- */

int ck_cuda_is_header(const char *name)
{
    static const char *const exact[] = {"cuda.h",          "cuComplex.h",    "cudaTypedefs.h",
                                        "library_types.h", "driver_types.h", "vector_types.h",
                                        "nvrtc.h",         "nvml.h",         NULL};
    static const char *const prefix[] = {"cuda_",    "cublas", "cufft", "curand", "cusparse",
                                         "cusolver", "nvtx",   "npp",   NULL};
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    size_t n = strlen(base);
    if (n < 3 || strcmp(base + n - 2, ".h") != 0)
        return 0;
    for (int i = 0; exact[i]; i++)
        if (strcmp(base, exact[i]) == 0)
            return 1;
    for (int i = 0; prefix[i]; i++)
        if (strncmp(base, prefix[i], strlen(prefix[i])) == 0)
            return 1;
    return 0;
}

int ck_cuda_includes_cuda(const char *text)
{
    for (const char *l = text; l && *l;) {
        const char *p = l + strspn(l, " \t");
        if (*p == '#') {
            p += 1 + strspn(p + 1, " \t");
            if (strncmp(p, "include", 7) == 0) {
                p += 7 + strspn(p + 7, " \t");
                char close = *p == '<' ? '>' : *p == '"' ? '"' : 0;
                size_t n = close ? strcspn(p + 1, close == '>' ? ">\n" : "\"\n") : 0;
                char name[256];
                if (close && n && n < sizeof name && p[1 + n] == close) {
                    memcpy(name, p + 1, n);
                    name[n] = '\0';
                    if (ck_cuda_is_header(name))
                        return 1;
                }
            }
        }
        l = strchr(l, '\n');
        if (l)
            l++;
    }
    return 0;
}

/* ---- which declarations both languages read alike --------------------------------- */

enum decl_mode {
    FOR_C,   /* a %%cuda host function, declared to later C cells */
    FOR_CUDA /* an earlier cell's symbol, declared to a %%cuda cell */
};

/* Types every C cell and every CUDA cell has (the default includes). */
static const char *const std_types[] = {"size_t",   "ptrdiff_t", "int8_t",   "int16_t",  "int32_t",
                                        "int64_t",  "uint8_t",   "uint16_t", "uint32_t", "uint64_t",
                                        "intptr_t", "uintptr_t", "FILE",     "bool",     NULL};
/* CUDA runtime types: nvcc includes cuda_runtime.h in every CUDA cell; a C cell has them
 * once it includes a CUDA header. */
static const char *const cuda_types[] = {"cudaError_t", "cudaStream_t", "cudaEvent_t", NULL};

static int word_is(const char *w, size_t n, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (strlen(list[i]) == n && memcmp(list[i], w, n) == 0)
            return 1;
    return 0;
}

static const char *const type_kw[] = {"void",  "char",   "short",  "int",      "long",
                                      "float", "double", "signed", "unsigned", NULL};
static const char *const qual_kw[] = {"const", "volatile", "__restrict__", "__restrict", NULL};

static int known_type(const struct ck_session *s, const char *w, size_t n, enum decl_mode m)
{
    if (word_is(w, n, std_types))
        return 1;
    if (word_is(w, n, cuda_types))
        return m == FOR_CUDA || ck_session_is_type(s, w, n);
    return 0;
}

struct typed {
    int has_type; /* a type keyword or known type name */
    int others;   /* identifiers that are neither: a declarator name, or an unknown type */
};

/* Tokens [a, b) as the specifiers (and pointer declarators) of a declaration: only type
 * and qualifier words, known types, `*` and identifiers (counted). 0 when something else
 * is there. With cuda_specs, CUDA's __host__/__noinline__ and `extern "C"` are allowed. */
static int scan_typed(const char *src, const struct ck_toks *t, size_t a, size_t b,
                      const struct ck_session *s, enum decl_mode m, int cuda_specs,
                      struct typed *ty)
{
    memset(ty, 0, sizeof *ty);
    for (size_t i = a; i < b; i++) {
        const struct ck_tok *k = TOK(i);
        const char *w = src + k->start;
        if (k->kind == CK_TOK_PUNCT && IS(i, "*"))
            continue;
        if (k->kind != CK_TOK_IDENT)
            return 0;
        if (word_is(w, k->len, type_kw) || known_type(s, w, k->len, m))
            ty->has_type = 1;
        else if (word_is(w, k->len, qual_kw))
            continue;
        else if (IS(i, "extern") && (m == FOR_CUDA || cuda_specs)) {
            if (i + 1 < b && TOK(i + 1)->kind == CK_TOK_STRING)
                i++; /* extern "C" */
        } else if (cuda_specs && (IS(i, "__host__") || IS(i, "__noinline__")))
            continue;
        else if (ck_tok_is_keyword(src, k) || (k->len > 1 && w[0] == '_' && w[1] == '_'))
            return 0; /* static, inline, struct, __device__, ... */
        else
            ty->others++;
    }
    return 1;
}

/* A parameter list (tokens between the parentheses): each parameter is known types and
 * words, pointers, at most one name and array bounds that are numbers. */
static int params_ok(const char *src, const struct ck_toks *t, size_t a, size_t b,
                     const struct ck_session *s, enum decl_mode m)
{
    if (a == b || (b == a + 1 && IS(a, "void")))
        return 1;
    size_t p = a;
    while (p < b) {
        size_t e = p, end_decl;
        while (e < b && !IS(e, ","))
            e++;
        end_decl = e;
        for (size_t i = p; i < e; i++)
            if (IS(i, "[")) { /* bounds: numbers only */
                end_decl = i;
                for (size_t j = i; j < e; j++)
                    if (!IS(j, "[") && !IS(j, "]") && TOK(j)->kind != CK_TOK_NUMBER)
                        return 0;
                break;
            }
        struct typed ty;
        if (p == end_decl || !scan_typed(src, t, p, end_decl, s, m, 0, &ty) || !ty.has_type ||
            ty.others > 1)
            return 0;
        /* the one other identifier must be the name: last, after the type */
        if (ty.others == 1 && TOK(end_decl - 1)->kind != CK_TOK_IDENT)
            return 0;
        p = e < b ? e + 1 : e;
    }
    return 1;
}

/* Is the declaration text of an earlier cell's symbol valid C++ that means the same? */
static int decl_for_cuda(const struct ck_session *s, const struct ck_sym *y)
{
    struct ck_toks tk = {0};
    const struct ck_toks *t = &tk;
    const char *src = y->decl;
    int ok = 0;
    if (ck_lex(src, strlen(src), &tk))
        return 0;
    size_t n = tk.n ? tk.n - 1 : 0, asm_at = n, name = n;
    for (size_t i = 0; i < n; i++)
        if (IS(i, "__asm__")) {
            asm_at = i;
            break;
        }
    for (size_t i = 0, depth = 0; i < asm_at; i++) {
        if (IS(i, "(") || IS(i, "["))
            depth++;
        else if (IS(i, ")") || IS(i, "]"))
            depth--;
        else if (!depth && TOK(i)->kind == CK_TOK_IDENT && ck_tok_is(src, TOK(i), y->name)) {
            name = i;
            break;
        }
    }
    struct typed ty;
    if (asm_at == n || name >= asm_at || !scan_typed(src, t, 0, name, s, FOR_CUDA, 0, &ty) ||
        !ty.has_type || ty.others)
        goto out;
    if (name + 1 < asm_at && IS(name + 1, "(")) {
        size_t close = ck_match(src, t, name + 1);
        ok = close + 1 == asm_at && params_ok(src, t, name + 2, close, s, FOR_CUDA);
    } else {
        ok = 1;
        for (size_t i = name + 1; i < asm_at; i++)
            if (!IS(i, "[") && !IS(i, "]") && TOK(i)->kind != CK_TOK_NUMBER)
                ok = 0;
    }
out:
    ck_toks_dispose(&tk);
    return ok;
}

/* ---- the cell's file scope -------------------------------------------------------- */

struct fdef {
    size_t tb;     /* first token of the definition */
    size_t name;   /* the function's name */
    size_t lp, rp; /* its parameter list */
    int externc;   /* in an extern "C" block */
    int exported;  /* a host function C can call: gets a label */
    int note;      /* a host function that stays private because of its types */
};

struct scan {
    struct fdef *f;
    size_t n, cap;
    struct jp_buf defined; /* " name name ... ": what the cell declares at file scope */
    int has_main;
};

static int defined_add(struct scan *sc, const char *w, size_t n)
{
    if (!sc->defined.len && jp_buf_adds(&sc->defined, " "))
        return JP_ENOMEM;
    if (jp_buf_add(&sc->defined, w, n) || jp_buf_adds(&sc->defined, " "))
        return JP_ENOMEM;
    return 0;
}

static int is_defined(const struct scan *sc, const char *w)
{
    char key[300];
    int n = snprintf(key, sizeof key, " %s ", w);
    return n > 0 && (size_t)n < sizeof key && sc->defined.data && strstr(sc->defined.data, key);
}

static int has_word(const char *src, const struct ck_toks *t, size_t a, size_t b, const char *w)
{
    for (size_t i = a; i < b; i++)
        if (TOK(i)->kind == CK_TOK_IDENT && IS(i, w))
            return 1;
    return 0;
}

/* `name(` starts a parameter list rather than a constructor's arguments: `f()`, `f(void)`,
 * `f(int ...`, `f(const ...`. */
static int params_follow(const char *src, const struct ck_toks *t, size_t open)
{
    const struct ck_tok *k = TOK(open + 1);
    if (IS(open + 1, ")"))
        return 1;
    return k->kind == CK_TOK_IDENT &&
           (word_is(src + k->start, k->len, type_kw) || word_is(src + k->start, k->len, qual_kw) ||
            word_is(src + k->start, k->len, std_types));
}

/* Names a file-scope declaration [a, b) defines: identifiers in declarator position (after
 * a type word, `*`, `&`, `>` or `}`, before `(`, `=`, `;`, `,` or `[`), outside
 * parentheses; not those of an `extern` declaration or of a function prototype, which only
 * declare what an earlier cell may define. More names than defined are harmless: they only
 * hide earlier symbols from the cell. */
static int collect_declared(const char *src, const struct ck_toks *t, size_t a, size_t b,
                            struct scan *sc)
{
    int depth = 0;
    if (has_word(src, t, a, b, "extern") && !has_word(src, t, a, b, "="))
        return 0;
    for (size_t i = a; i < b; i++) {
        if (IS(i, "(") || IS(i, "[") || IS(i, "{"))
            depth++;
        else if (IS(i, ")") || IS(i, "]") || IS(i, "}"))
            depth--;
        if (depth || i == a || TOK(i)->kind != CK_TOK_IDENT || ck_tok_is_keyword(src, TOK(i)))
            continue;
        const struct ck_tok *prev = TOK(i - 1);
        int after = prev->kind == CK_TOK_IDENT || IS(i - 1, "*") || IS(i - 1, "&") ||
                    IS(i - 1, ">") || IS(i - 1, "}");
        int before = i + 1 < b ? IS(i + 1, "(") || IS(i + 1, "=") || IS(i + 1, ",") ||
                                     IS(i + 1, "[") || IS(i + 1, ";")
                               : 1;
        if (after && before && IS(i + 1, "(") && params_follow(src, t, i + 1))
            continue; /* a prototype */
        if (after && before && defined_add(sc, src + TOK(i)->start, TOK(i)->len))
            return JP_ENOMEM;
    }
    return 0;
}

static int is_attribute_word(const char *src, const struct ck_tok *k)
{
    static const char *const w[] = {"__attribute__",    "__declspec", "decltype",
                                    "alignas",          "__align__",  "__launch_bounds__",
                                    "__cluster_dims__", "sizeof",     NULL};
    return word_is(src + k->start, k->len, w);
}

/* The tokens [tb, open) before a '{' at file scope: a function definition? Sets the name
 * and parameter list of the first `name(` that is not an attribute. */
static int function_head(const char *src, const struct ck_toks *t, size_t tb, size_t open,
                         size_t *name, size_t *lp, size_t *rp)
{
    for (size_t i = tb; i < open; i++) {
        if (IS(i, "="))
            return 0; /* an initializer: `T x = {...}` or a lambda */
        if (IS(i, "(") && i > tb && TOK(i - 1)->kind == CK_TOK_IDENT &&
            !is_attribute_word(src, TOK(i - 1))) {
            *name = i - 1;
            *lp = i;
            *rp = ck_match(src, t, i);
            return *rp < open;
        }
        if (IS(i, "(") || IS(i, "["))
            i = ck_match(src, t, i);
    }
    return 0;
}

static int scan_cell(const char *src, const struct ck_toks *t, const struct ck_session *s,
                     struct scan *sc)
{
    size_t i = 0, chunk = 0;
    int ext_depth = 0;
    size_t end = t->n ? t->n - 1 : 0; /* the EOF token */
    while (i < end) {
        if (TOK(i)->kind == CK_TOK_DIRECTIVE) {
            chunk = ++i;
            continue;
        }
        if (IS(i, ";")) {
            if (collect_declared(src, t, chunk, i + 1, sc))
                return JP_ENOMEM;
            chunk = ++i;
            continue;
        }
        if (IS(i, "}")) {
            if (ext_depth > 0)
                ext_depth--;
            chunk = ++i;
            continue;
        }
        if (IS(i, "(") || IS(i, "[")) {
            i = ck_match(src, t, i) + 1;
            continue;
        }
        if (!IS(i, "{")) {
            i++;
            continue;
        }
        /* a '{' at file scope */
        if (i >= chunk + 2 && IS(i - 2, "extern") && TOK(i - 1)->kind == CK_TOK_STRING) {
            ext_depth++; /* extern "C" { ... }: its contents are file scope too */
            chunk = ++i;
            continue;
        }
        size_t close = ck_match(src, t, i);
        size_t name, lp, rp;
        if (has_word(src, t, chunk, i, "namespace")) {
            chunk = i = close + 1; /* names inside are not global */
            continue;
        }
        if (!function_head(src, t, chunk, i, &name, &lp, &rp)) {
            i = close + 1; /* a class body or a brace initializer: the chunk goes on */
            continue;
        }
        const char *nm = src + TOK(name)->start;
        size_t nl = TOK(name)->len;
        if (defined_add(sc, nm, nl))
            return JP_ENOMEM;
        if (nl == 4 && memcmp(nm, "main", 4) == 0)
            sc->has_main = 1;
        int special = has_word(src, t, chunk, name, "template") ||
                      has_word(src, t, chunk, name, "__global__") ||
                      has_word(src, t, chunk, name, "__device__") ||
                      has_word(src, t, chunk, name, "static") ||
                      has_word(src, t, chunk, name, "inline") ||
                      has_word(src, t, chunk, name, "__forceinline__") ||
                      has_word(src, t, chunk, name, "constexpr") ||
                      (name > chunk && (IS(name - 1, "::") || IS(name - 1, ":"))) ||
                      (nl > 1 && nm[0] == '_' && nm[1] == '_') ||
                      (nl == 4 && memcmp(nm, "main", 4) == 0) || ck_tok_is_keyword(src, TOK(name));
        if (!special) {
            if (sc->n == sc->cap) {
                size_t cap = sc->cap ? sc->cap * 2 : 16;
                struct fdef *v = realloc(sc->f, cap * sizeof *v);
                if (!v)
                    return JP_ENOMEM;
                sc->f = v;
                sc->cap = cap;
            }
            struct fdef *f = &sc->f[sc->n++];
            struct typed ty;
            memset(f, 0, sizeof *f);
            f->tb = chunk;
            f->name = name;
            f->lp = lp;
            f->rp = rp;
            f->externc = ext_depth > 0;
            f->exported = rp + 1 == i && scan_typed(src, t, chunk, name, s, FOR_C, 1, &ty) &&
                          ty.has_type && !ty.others && params_ok(src, t, lp + 1, rp, s, FOR_C);
            f->note = !f->exported;
        }
        chunk = i = close + 1;
    }
    return 0;
}

/* Tokens [a, b) joined by single spaces (comments and line breaks dropped), leaving out
 * CUDA's host specifiers and `extern "C"` when for_c is set. */
static int join_toks(struct jp_buf *b, const char *src, const struct ck_toks *t, size_t a, size_t e,
                     int for_c)
{
    int rc = 0;
    for (size_t i = a; i < e && !rc; i++) {
        if (for_c && (IS(i, "__host__") || IS(i, "__noinline__")))
            continue;
        if (for_c && IS(i, "extern") && i + 1 < e && TOK(i + 1)->kind == CK_TOK_STRING) {
            i++;
            continue;
        }
        char last = b->len ? b->data[b->len - 1] : ' ';
        if (last != ' ' && last != '(' && last != '*' && !IS(i, ")") && !IS(i, ",") &&
            !IS(i, "(") && !IS(i, "[") && !IS(i, "]"))
            rc = jp_buf_adds(b, " ");
        if (!rc)
            rc = jp_buf_add(b, src + TOK(i)->start, TOK(i)->len);
    }
    return rc;
}

static const char *const default_headers =
    "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <stddef.h>\n"
    "#include <stdint.h>\n#include <stdbool.h>\n#include <cnote.h>\n";

int ck_cuda_gen(struct ck_session *s, const char *src, size_t len, const char *cell,
                struct ck_gen *g)
{
    struct ck_toks tk = {0};
    const struct ck_toks *t = &tk;
    struct scan sc = {0};
    struct jp_buf proto, type;
    int rc = 0;

    jp_buf_init(&g->code, 256 << 20);
    jp_buf_init(&g->warnings, 1 << 20);
    jp_buf_init(&sc.defined, 16 << 20);
    jp_buf_init(&proto, 1 << 20);
    jp_buf_init(&type, 1 << 20);
    g->has_main = 0;
    s->serial++;
    snprintf(g->fn, sizeof g->fn, "__ck_cell_%u", s->serial);
    if ((rc = ck_lex(src, len, &tk)) || (rc = scan_cell(src, t, s, &sc)))
        goto out;
    g->has_main = sc.has_main;

    if ((rc = jp_buf_addf(&g->code, "#line 1 \"<cnote>\"\n%s", default_headers)))
        goto out;
    /* earlier cells' symbols that this cell names and does not define, with C linkage so that
     * the cell may declare them again, `extern "C"` or not (the label stays) */
    rc = jp_buf_adds(&g->code, "extern \"C\" {\n");
    for (size_t i = 0; i < s->n_syms && !rc; i++) {
        const struct ck_sym *y = &s->syms[i];
        if (y->stale || is_defined(&sc, y->name))
            continue;
        int used = 0;
        for (size_t j = 0; j + 1 < tk.n && !used; j++)
            used = TOK(j)->kind == CK_TOK_IDENT && IS(j, y->name) &&
                   !(j > 0 && (IS(j - 1, ".") || IS(j - 1, "->")));
        if (used && decl_for_cuda(s, y))
            rc = jp_buf_addf(&g->code, "%s\n", y->decl);
    }
    if (!rc)
        rc = jp_buf_adds(&g->code, "}\n");
    /* labels for the exported host functions, before their first declaration */
    for (size_t i = 0; i < sc.n && !rc; i++) {
        struct fdef *f = &sc.f[i];
        char label[320];
        const char *nm = src + TOK(f->name)->start;
        int nl = (int)TOK(f->name)->len;
        if (!f->exported)
            continue;
        snprintf(label, sizeof label, "%.*s__ck%u", nl, nm, s->serial);
        jp_buf_reset(&proto);
        rc = jp_buf_adds(&proto, f->externc ? "extern \"C\" " : "");
        if (!rc)
            rc = join_toks(&proto, src, t, f->tb, f->rp + 1, 0);
        if (!rc)
            rc = jp_buf_addf(&g->code, "%s __asm__(\"%s\");\n", proto.data, label);
        /* what C cells see: the same without CUDA's words */
        jp_buf_reset(&type);
        if (!rc)
            rc = join_toks(&type, src, t, f->tb, f->lp + 1, 1);
        if (!rc)
            rc = f->lp + 1 == f->rp ? jp_buf_adds(&type, "void)")
                                    : join_toks(&type, src, t, f->lp + 1, f->rp + 1, 1);
        jp_buf_reset(&proto);
        if (!rc)
            rc = jp_buf_addf(&proto, "%s __asm__(\"%s\");", type.data, label);
        char name[260];
        snprintf(name, sizeof name, "%.*s", nl, nm);
        if (!rc)
            rc = ck_session_put_func(s, name, label, proto.data, type.data, cell, TOK(f->tb)->line);
    }
    for (size_t i = 0; i < sc.n && !rc; i++)
        if (sc.f[i].note)
            rc = jp_buf_addf(&g->warnings,
                             "note: %s:%d: '%.*s' stays inside this cell (later cells cannot "
                             "call it): only host functions whose parameters and result are "
                             "C types (numbers, pointers, size_t, int64_t...) are shared\n",
                             cell, TOK(sc.f[i].name)->line, (int)TOK(sc.f[i].name)->len,
                             src + TOK(sc.f[i].name)->start);
    if (rc)
        goto out;
    if (sc.has_main && (rc = jp_buf_addf(&g->code, "#define main __ck_main_%u\n", s->serial)))
        goto out;
    if ((rc = jp_buf_addf(&g->code, "#line 1 \"%s\"\n", cell)) ||
        (rc = jp_buf_add(&g->code, src, len)) || (rc = jp_buf_adds(&g->code, "\n")))
        goto out;
    if (sc.has_main)
        rc = jp_buf_addf(&g->code,
                         "#undef main\n#line 1 \"<cnote>\"\n"
                         "static char __ck_arg0[] = \"cell\";\n"
                         "static char *__ck_argv[] = {__ck_arg0, 0};\n"
                         "extern \"C\" void %s(void);\n"
                         "extern \"C\" void %s(void)\n{\n"
                         "    __ck_main_returned(((int (*)(int, char **))__ck_main_%u)(1, "
                         "__ck_argv));\n}\n",
                         g->fn, g->fn, s->serial);
    else
        rc = jp_buf_addf(&g->code,
                         "#line 1 \"<cnote>\"\nextern \"C\" void %s(void);\n"
                         "extern \"C\" void %s(void) {}\n",
                         g->fn, g->fn);
out:
    ck_toks_dispose(&tk);
    free(sc.f);
    jp_buf_dispose(&sc.defined);
    jp_buf_dispose(&proto);
    jp_buf_dispose(&type);
    return rc;
}
