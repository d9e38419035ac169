/*
 * contents.c - the contents manager behind /api/contents (see contents.h): Jupyter Server
 * 2.x's FileContentsManager, LargeFileManager and FileCheckpoints on a local directory.
 *
 * Every API path goes through resolve(), the one place that decides whether a path is
 * acceptable and where it lives on disk: it refuses NUL bytes (in body paths; URL paths are
 * the caller's), absolute paths, "." and ".." components, backslashes (a Windows client's
 * separator would otherwise name a different file here), names over NAME_MAX, paths that are
 * not UTF-8, hidden components unless allow_hidden (404 on reads, 400 on writes, as Jupyter),
 * and any component whose realpath leaves the root. The last rule is stricter than Jupyter,
 * which follows symlinks anywhere: here a symlink pointing out of the root is treated as
 * absent (404 "... is outside root contents directory" for every operation, never listed).
 * Writes go to a temporary file in the target's directory, are fsync'ed, renamed over the
 * target and the directory is fsync'ed, so a failed save leaves the old file intact (Jupyter
 * instead backs the old file up and writes in place). Notebooks are serialised by nbjson.c
 * exactly as nbformat does. Deletion is permanent (no trash). Checkpoints are Jupyter's
 * FileCheckpoints layout. Not thread-safe: one thread owns a manager. No HTTP here:
 * server/api_contents.c maps requests to these calls.
 */
#include "contents.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "jp_alloc.h"
#include "jp_buf.h"
#include "jp_err.h"
#include "jp_log.h"
#include "jp_time.h"
#include "jp_uuid.h"
#include "nbjson.h"

#define CP_DIR ".ipynb_checkpoints"
#define CP_ID "checkpoint"
#define DEFAULT_MAX_FILE_BYTES ((size_t)512 * 1024 * 1024)
#define MAX_UNTITLED 10000                                 /* names tried before giving up */
#define COPY_DIR_MAX_BYTES ((unsigned long long)500 << 20) /* Jupyter's max_copy_folder_size_mb */
#define COPY_DIR_MAX_DEPTH 64
#define REPR_MAX 512 /* longest quoted path shown in a message */
#define MSG_MAX 2048

struct contents {
    char root[PATH_MAX]; /* realpath of the root */
    size_t rootlen;
    int allow_hidden;
    size_t max_file_bytes;
    unsigned tmp_seq; /* makes temporary file names unique within the process */
};

/* What resolve() learnt about an API path. */
struct rpath {
    char api[PATH_MAX];   /* canonical API path: components joined by '/', "" for the root */
    const char *name;     /* last component (points into api); "" for the root */
    char dir[PATH_MAX];   /* real path of the parent directory (valid when parent_ok) */
    char entry[PATH_MAX]; /* dir/name: the directory entry itself, perhaps a symlink */
    char real[PATH_MAX];  /* entry with a final symlink resolved (= entry when absent) */
    int is_root;
    int parent_ok;  /* the parent directory exists inside the root */
    int exists;     /* the entry exists and, if a symlink, resolves inside the root */
    int dangling;   /* the entry is a symlink whose target does not exist */
    struct stat st; /* stat of real, when exists */
};

/* ---- small helpers ---------------------------------------------------------------------- */

/* Strict UTF-8 (what Python's decoder accepts): no overlongs, surrogates or > U+10FFFF. */
static int utf8_valid(const char *data, size_t len)
{
    const unsigned char *s = (const unsigned char *)data;
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        unsigned lo = 0x80, hi = 0xbf;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            n = 1;
        else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            if (c == 0xe0)
                lo = 0xa0;
            else if (c == 0xed)
                hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            if (c == 0xf0)
                lo = 0x90;
            else if (c == 0xf4)
                hi = 0x8f;
        } else
            return 0;
        if (len - i <= n)
            return 0;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t k = 2; k <= n; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xbf)
                return 0;
        i += n + 1;
    }
    return 1;
}

/* Replace bytes that are not UTF-8 (a message cut in the middle of a character) by '?'. */
static void utf8_fix(char *s)
{
    size_t len = strlen(s);

    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        size_t n = ch < 0x80 ? 1 : ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : 2;

        if (n > 1 && i + n <= len && utf8_valid(s + i, n))
            i += n - 1;
        else if (n > 1)
            s[i] = '?';
    }
}

/* Python's repr() of a str, for messages that Jupyter formats with %r (truncated past
 * REPR_MAX bytes). */
static const char *repr(const char *s, char *buf, size_t buflen)
{
    char q = (strchr(s, '\'') && !strchr(s, '"')) ? '"' : '\'';
    size_t o = 0;

    buf[o++] = q;
    for (; *s && o + 8 < buflen; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '\\' || c == (unsigned char)q) {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            buf[o++] = '\\';
            buf[o++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(buf + o, buflen - o, "\\x%02x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    if (*s) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = q;
    buf[o] = '\0';
    utf8_fix(buf);
    return buf;
}

/* The error document {"message", "reason"}; returns status. *out is NULL if even that
 * cannot be allocated. */
static int fail(json_t **out, int status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(json_t **out, int status, const char *reason, const char *fmt, ...)
{
    char msg[MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    utf8_fix(msg);
    if (status >= 500)
        jp_log(JP_LOG_ERROR, "contents", "%s status=%d", msg, status);
    json_decref(*out);
    *out = json_pack("{s:s, s:s?}", "message", msg, "reason", reason);
    return status;
}

static int fail_oom(json_t **out)
{
    return fail(out, 500, NULL, "Out of memory");
}

/* Map an errno from a filesystem call on api to a status, as Jupyter's perm_to_403 does. */
static int fail_errno(json_t **out, int err, const char *api, const char *doing)
{
    if (err == EACCES || err == EPERM || err == EROFS)
        return fail(out, 403, NULL, "Permission denied: %s", api);
    if (err == ENAMETOOLONG)
        return fail(out, 400, NULL, "File name too long: %s", api);
    return fail(out, 500, NULL, "Unexpected error while %s: %s %s", doing, api, strerror(err));
}

static int join_path(char *out, const char *dir, const char *name)
{
    size_t dl = strlen(dir);
    int n = snprintf(out, PATH_MAX, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", name);

    return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static int join_api(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, PATH_MAX, "%s%s%s", dir, *dir ? "/" : "", name);

    return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* The directory part of an absolute path ("/" for "/x"). */
static void dir_of(const char *path, char *out)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;

    if (n == 0) {
        memcpy(out, "/", 2);
        return;
    }
    memcpy(out, path, n);
    out[n] = '\0';
}

/* The API parent of a canonical API path ("" for top-level names). */
static void api_parent(const char *api, char *out)
{
    const char *slash = strrchr(api, '/');
    size_t n = slash ? (size_t)(slash - api) : 0;

    memcpy(out, api, n);
    out[n] = '\0';
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);

    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int within_root(const struct contents *c, const char *real)
{
    if (c->rootlen == 1) /* the root is "/" */
        return real[0] == '/';
    return strncmp(real, c->root, c->rootlen) == 0 &&
           (real[c->rootlen] == '\0' || real[c->rootlen] == '/');
}

/* os.path.splitext of a file name: the extension starts at the last dot that is not part
 * of the leading dots. */
static size_t splitext(const char *name)
{
    const char *dot = strrchr(name, '.');
    const char *p = name;

    if (!dot)
        return strlen(name);
    while (*p == '.')
        p++;
    return dot > p ? (size_t)(dot - name) : strlen(name);
}

/* ---- path resolution -------------------------------------------------------------------- */

/* Resolve an API path. verb NULL: a read (hidden -> 404); otherwise the operation named in
 * the 400 for hidden paths ("create", "delete", ...). 0 with rp filled, or an error status
 * with *out set. Never follows a symlink out of the root. */
static int resolve(struct contents *c, const char *path, const char *verb, struct rpath *rp,
                   json_t **out)
{
    char shown[REPR_MAX], cur[PATH_MAX], res[PATH_MAX];
    const char *p = path ? path : "", *s;
    size_t len = strlen(p), alen = 0, ncomp = 0, i;
    int hidden = 0;

    rp->api[0] = rp->dir[0] = rp->entry[0] = rp->real[0] = '\0';
    rp->name = rp->api;
    rp->is_root = rp->parent_ok = rp->exists = rp->dangling = 0;
    if (len >= PATH_MAX)
        return fail(out, 400, NULL, "Path too long: %s", repr(p, shown, sizeof shown));
    if (!utf8_valid(p, len))
        return fail(out, 400, NULL, "Path is not valid UTF-8: %s", repr(p, shown, sizeof shown));
    if (p[0] == '/')
        return fail(out, 400, NULL, "%s is not a relative API path", repr(p, shown, sizeof shown));
    if (strchr(p, '\\'))
        return fail(out, 400, NULL, "Backslashes are not allowed in paths: %s",
                    repr(p, shown, sizeof shown));
    for (s = p; *s;) {
        const char *e = strchr(s, '/');
        size_t clen = e ? (size_t)(e - s) : strlen(s);

        if (clen == 0) { /* "a//b" and a trailing "/" */
            s++;
            continue;
        }
        if ((clen == 1 && s[0] == '.') || (clen == 2 && s[0] == '.' && s[1] == '.'))
            return fail(out, 400, NULL, "'.' and '..' are not allowed in paths: %s",
                        repr(p, shown, sizeof shown));
        if (clen > NAME_MAX)
            return fail(out, 400, NULL, "A name in %s is longer than %d bytes",
                        repr(p, shown, sizeof shown), NAME_MAX);
        if (s[0] == '.')
            hidden = 1;
        if (alen)
            rp->api[alen++] = '/';
        memcpy(rp->api + alen, s, clen);
        alen += clen;
        rp->api[alen] = '\0';
        ncomp++;
        s += clen;
    }
    if (hidden && !c->allow_hidden) {
        if (verb)
            return fail(out, 400, NULL, "Cannot %s file or directory %s", verb,
                        repr(rp->api, shown, sizeof shown));
        return fail(out, 404, NULL, "file or directory %s does not exist",
                    repr(rp->api, shown, sizeof shown));
    }
    rp->name = strrchr(rp->api, '/') ? strrchr(rp->api, '/') + 1 : rp->api;
    memcpy(cur, c->root, c->rootlen + 1);
    if (ncomp == 0) {
        rp->is_root = rp->parent_ok = rp->exists = 1;
        memcpy(rp->dir, c->root, c->rootlen + 1);
        memcpy(rp->entry, c->root, c->rootlen + 1);
        memcpy(rp->real, c->root, c->rootlen + 1);
        if (stat(c->root, &rp->st) < 0)
            return fail_errno(out, errno, "", "reading the root directory");
        return 0;
    }

    /* walk the components, checking the realpath of every existing prefix */
    s = rp->api;
    for (i = 0; i < ncomp; i++) {
        const char *e = strchr(s, '/');
        size_t clen = e ? (size_t)(e - s) : strlen(s);
        int last = i + 1 == ncomp;
        char comp[NAME_MAX + 1], cand[PATH_MAX];
        struct stat lst, st;

        memcpy(comp, s, clen);
        comp[clen] = '\0';
        s += clen + (e ? 1 : 0);
        if (join_path(cand, cur, comp) < 0)
            return fail(out, 400, NULL, "Path too long: %s", repr(rp->api, shown, sizeof shown));
        if (last) {
            memcpy(rp->dir, cur, strlen(cur) + 1);
            memcpy(rp->entry, cand, strlen(cand) + 1);
            memcpy(rp->real, cand, strlen(cand) + 1);
            rp->parent_ok = 1;
        }
        if (lstat(cand, &lst) < 0) {
            if (errno == ENOENT || errno == ENOTDIR)
                return 0; /* absent from here on */
            return fail_errno(out, errno, rp->api, "resolving path");
        }
        if (S_ISLNK(lst.st_mode)) {
            if (!realpath(cand, res) || stat(res, &st) < 0) {
                if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
                    return fail_errno(out, errno, rp->api, "resolving path");
                rp->dangling = last;
                return 0;
            }
            if (!within_root(c, res))
                return fail(out, 404, NULL, "%s is outside root contents directory",
                            repr(rp->api, shown, sizeof shown));
            memcpy(cur, res, strlen(res) + 1);
        } else {
            memcpy(cur, cand, strlen(cand) + 1);
            st = lst;
        }
        if (last) {
            memcpy(rp->real, cur, strlen(cur) + 1);
            rp->st = st;
            rp->exists = 1;
        } else if (!S_ISDIR(st.st_mode)) {
            return 0; /* "file.txt/x": the parent is not a directory */
        }
    }
    return 0;
}

/* A path taken from a request body (copy_from, PATCH's path): Jupyter strips slashes around
 * those, and JSON may smuggle a NUL that C strings would silently cut at. */
static int body_path(const json_t *v, const char **out_path, json_t **out)
{
    const char *s;

    if (!json_is_string(v))
        return fail(out, 400, NULL, "Path must be a string");
    s = json_string_value(v);
    if (strlen(s) != json_string_length(v))
        return fail(out, 400, NULL, "Path contains a NUL byte");
    while (*s == '/')
        s++;
    *out_path = s;
    return 0;
}

/* ---- models ----------------------------------------------------------------------------- */

static const struct {
    const char *ext;
    const char *type;
} mime_table[] = {
    /* Python's mimetypes defaults (what Jupyter sees without /etc/mime.types), plus markdown */
    {".txt", "text/plain"},
    {".c", "text/plain"},
    {".h", "text/plain"},
    {".pl", "text/plain"},
    {".bat", "text/plain"},
    {".py", "text/x-python"},
    {".md", "text/markdown"},
    {".csv", "text/csv"},
    {".tsv", "text/tab-separated-values"},
    {".html", "text/html"},
    {".htm", "text/html"},
    {".css", "text/css"},
    {".xml", "text/xml"},
    {".js", "application/javascript"},
    {".mjs", "application/javascript"},
    {".json", "application/json"},
    {".pdf", "application/pdf"},
    {".zip", "application/zip"},
    {".tar", "application/x-tar"},
    {".sh", "application/x-sh"},
    {".tex", "application/x-tex"},
    {".wasm", "application/wasm"},
    {".h5", "application/x-hdf5"},
    {".nc", "application/x-netcdf"},
    {".bin", "application/octet-stream"},
    {".so", "application/octet-stream"},
    {".o", "application/octet-stream"},
    {".a", "application/octet-stream"},
    {".exe", "application/octet-stream"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".jpe", "image/jpeg"},
    {".gif", "image/gif"},
    {".bmp", "image/bmp"},
    {".ico", "image/vnd.microsoft.icon"},
    {".tif", "image/tiff"},
    {".tiff", "image/tiff"},
    {".webp", "image/webp"},
    {".avif", "image/avif"},
    {".mp3", "audio/mpeg"},
    {".wav", "audio/x-wav"},
    {".mp4", "video/mp4"},
    {".webm", "video/webm"},
    {".mov", "video/quicktime"},
    /* Python's suffix_map: compressed tarballs and svgz */
    {".tgz", "application/x-tar"},
    {".taz", "application/x-tar"},
    {".tz", "application/x-tar"},
    {".tbz2", "application/x-tar"},
    {".txz", "application/x-tar"},
    {".svgz", "image/svg+xml"},
};

static const char *mime_lookup(const char *ext, size_t len)
{
    size_t n = sizeof mime_table / sizeof mime_table[0];

    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            const char *e = mime_table[i].ext;

            if (strlen(e) != len)
                continue;
            if (pass == 0 ? strncmp(e, ext, len) == 0 : strncasecmp(e, ext, len) == 0)
                return mime_table[i].type;
        }
    return NULL;
}

/* mimetypes.guess_type(name)[0]: a compression suffix (.gz, .bz2, .xz, .br, .Z) is an
 * encoding, and the type is that of the extension before it. NULL when unknown. */
static const char *guess_mimetype(const char *name)
{
    static const char *const enc[] = {".gz", ".bz2", ".xz", ".br", ".Z"};
    char base[NAME_MAX + 1];
    size_t len = strlen(name), cut;

    if (len > NAME_MAX)
        return NULL;
    memcpy(base, name, len + 1);
    cut = splitext(base);
    for (size_t i = 0; i < sizeof enc / sizeof enc[0]; i++)
        if (cut < len && strcmp(base + cut, enc[i]) == 0) {
            base[cut] = '\0';
            len = cut;
            cut = splitext(base);
            if (cut == len)
                return NULL;
            break;
        }
    return cut < len ? mime_lookup(base + cut, len - cut) : NULL;
}

static json_t *time_json(const struct timespec *ts)
{
    char buf[JP_TIME_LEN];
    int64_t us = (int64_t)ts->tv_sec * 1000000 + (ts->tv_nsec + 500) / 1000;

    if (jp_time_format(us, buf, sizeof buf) < 0) /* as Jupyter: the epoch for a bad time */
        jp_time_format(0, buf, sizeof buf);
    return json_string(buf);
}

/* st_birthtime where the filesystem records it (statx), else st_ctime, as Jupyter does. */
static void created_time(const char *real, const struct stat *st, struct timespec *ts)
{
    struct statx sx;

    if (statx(AT_FDCWD, real, 0, STATX_BTIME, &sx) == 0 && (sx.stx_mask & STATX_BTIME)) {
        ts->tv_sec = sx.stx_btime.tv_sec;
        ts->tv_nsec = sx.stx_btime.tv_nsec;
    } else {
        *ts = st->st_ctim;
    }
}

static void put(json_t *o, const char *key, json_t *v, int *bad)
{
    if (json_object_set_new(o, key, v) < 0 || !v)
        *bad = 1;
}

/* Jupyter's _base_model: every key present, content/format/mimetype/hash null. */
static json_t *base_model(const char *api, const char *real, const struct stat *st,
                          const char *type)
{
    const char *slash = strrchr(api, '/');
    json_t *m = json_object();
    struct timespec created;
    int bad = !m;

    if (bad)
        return NULL;
    created_time(real, st, &created);
    put(m, "name", json_string(slash ? slash + 1 : api), &bad);
    put(m, "path", json_string(api), &bad);
    put(m, "type", json_string(type), &bad);
    put(m, "writable", json_boolean(access(real, W_OK) == 0), &bad);
    put(m, "created", time_json(&created), &bad);
    put(m, "last_modified", time_json(&st->st_mtim), &bad);
    put(m, "size", S_ISDIR(st->st_mode) ? json_null() : json_integer((json_int_t)st->st_size),
        &bad);
    put(m, "mimetype", json_null(), &bad);
    put(m, "content", json_null(), &bad);
    put(m, "format", json_null(), &bad);
    put(m, "hash", json_null(), &bad);
    put(m, "hash_algorithm", json_null(), &bad);
    if (bad) {
        json_decref(m);
        return NULL;
    }
    return m;
}

/* Read a whole regular file into a jp_malloc'd buffer (NUL-terminated). 0, -errno, or
 * -EFBIG past limit. Refuses FIFOs and devices (-EINVAL) without blocking on them. */
static int read_all(const char *real, size_t limit, char **data, size_t *len)
{
    struct stat st;
    size_t cap, n = 0;
    char *buf;
    int fd, err = 0;

    fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        err = S_ISREG(st.st_mode) ? -errno : -EINVAL;
        close(fd);
        return err;
    }
    if ((size_t)st.st_size > limit) {
        close(fd);
        return -EFBIG;
    }
    cap = (size_t)st.st_size + 1;
    buf = jp_malloc(cap + 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    for (;;) { /* the file may change size while we read: read to EOF, within the limit */
        ssize_t r;

        if (n == cap) {
            char *nb;

            if (cap > limit) {
                err = -EFBIG;
                break;
            }
            cap = cap * 2 > limit + 1 ? limit + 1 : cap * 2;
            nb = jp_realloc(buf, cap + 1);
            if (!nb) {
                err = -ENOMEM;
                break;
            }
            buf = nb;
        }
        r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err = -errno;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (!err && n > limit)
        err = -EFBIG;
    if (err) {
        jp_free(buf);
        return err;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

static void hex_digest(const unsigned char *md, unsigned n, char *out)
{
    static const char hex[] = "0123456789abcdef";

    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * n] = '\0';
}

/* sha256 of a buffer, or of the file when data is NULL (streamed: no size limit). */
static int sha256_hex(const char *data, size_t len, const char *real, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE], chunk[65536];
    unsigned mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    struct stat st;
    int fd = -1, err = 0;

    if (!ctx)
        return -ENOMEM;
    if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        err = -ENOMEM;
        goto out;
    }
    if (data) {
        if (!EVP_DigestUpdate(ctx, data, len))
            err = -ENOMEM;
    } else {
        fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0 || fstat(fd, &st) < 0) {
            err = -errno;
            goto out;
        }
        if (!S_ISREG(st.st_mode)) {
            err = -EINVAL;
            goto out;
        }
        for (;;) {
            ssize_t r = read(fd, chunk, sizeof chunk);

            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                err = r < 0 ? -errno : 0;
                break;
            }
            if (!EVP_DigestUpdate(ctx, chunk, (size_t)r)) {
                err = -ENOMEM;
                break;
            }
        }
    }
    if (!err && !EVP_DigestFinal_ex(ctx, md, &mdlen))
        err = -ENOMEM;
    if (!err)
        hex_digest(md, mdlen, out);
out:
    if (fd >= 0)
        close(fd);
    EVP_MD_CTX_free(ctx);
    return err;
}

static int add_hash(json_t *m, const char *data, size_t len, const char *real, const char *api,
                    json_t **out)
{
    char hex[65];
    int err = sha256_hex(data, len, real, hex), bad = 0;

    if (err == -EINVAL)
        return fail(out, 400, NULL, "Cannot read non-file %s", api);
    if (err)
        return err == -ENOMEM ? fail_oom(out) : fail_errno(out, -err, api, "hashing file");
    put(m, "hash", json_string(hex), &bad);
    put(m, "hash_algorithm", json_string("sha256"), &bad);
    return bad ? fail_oom(out) : 0;
}

/* Python's base64.encodebytes: lines of 76 characters, each ending in "\n". */
static json_t *base64_lines(const char *data, size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = (const unsigned char *)data;
    size_t olen = (len + 2) / 3 * 4 + (len + 56) / 57, o = 0;
    char *buf = jp_malloc(olen + 1);
    json_t *v;

    if (!buf)
        return NULL;
    for (size_t i = 0; i < len; i += 57) {
        size_t end = i + 57 < len ? i + 57 : len;

        for (size_t j = i; j < end; j += 3) {
            unsigned a = s[j], b = j + 1 < end ? s[j + 1] : 0, c = j + 2 < end ? s[j + 2] : 0;

            buf[o++] = tbl[a >> 2];
            buf[o++] = tbl[((a & 3) << 4) | (b >> 4)];
            buf[o++] = j + 1 < end ? tbl[((b & 15) << 2) | (c >> 6)] : '=';
            buf[o++] = j + 2 < end ? tbl[c & 63] : '=';
        }
        buf[o++] = '\n';
    }
    v = json_stringn_nocheck(buf, o);
    jp_free(buf);
    return v;
}

/* Python's base64.decodebytes (binascii.a2b_base64, non-strict): characters outside the
 * alphabet are skipped, decoding stops at complete padding. 0, -ENOMEM, or -EINVAL with a
 * message for the caller. */
static int base64_decode(const char *s, size_t len, char **out, size_t *outlen, const char **why)
{
    unsigned char *buf = jp_malloc(len / 4 * 3 + 3);
    unsigned leftchar = 0;
    size_t o = 0;
    int quad = 0, pads = 0;

    if (!buf)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        int v;

        if (ch == '=') {
            if (quad >= 2 && quad + ++pads >= 4)
                goto done;
            continue;
        }
        if (ch >= 'A' && ch <= 'Z')
            v = ch - 'A';
        else if (ch >= 'a' && ch <= 'z')
            v = ch - 'a' + 26;
        else if (ch >= '0' && ch <= '9')
            v = ch - '0' + 52;
        else if (ch == '+')
            v = 62;
        else if (ch == '/')
            v = 63;
        else
            continue;
        pads = 0;
        switch (quad) {
        case 0:
            leftchar = (unsigned)v;
            quad = 1;
            break;
        case 1:
            buf[o++] = (unsigned char)((leftchar << 2) | ((unsigned)v >> 4));
            leftchar = (unsigned)v & 0x0f;
            quad = 2;
            break;
        case 2:
            buf[o++] = (unsigned char)((leftchar << 4) | ((unsigned)v >> 2));
            leftchar = (unsigned)v & 0x03;
            quad = 3;
            break;
        default:
            buf[o++] = (unsigned char)((leftchar << 6) | (unsigned)v);
            quad = 0;
        }
    }
    if (quad != 0) {
        *why = quad == 1 ? "Invalid base64-encoded string: number of data characters cannot be "
                           "1 more than a multiple of 4"
                         : "Incorrect padding";
        jp_free(buf);
        return -EINVAL;
    }
done:
    *out = (char *)buf;
    *outlen = o;
    return 0;
}

/* ---- notebooks: validation and cell ids -------------------------------------------------- */

static int valid_cell_id(const json_t *id)
{
    const char *s = json_string_value(id);
    size_t n;

    if (!s)
        return 0;
    n = strlen(s);
    if (n < 1 || n > 64 || n != json_string_length(id))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_'))
            return 0;
    }
    return 1;
}

static int is_string_or_lines(const json_t *v)
{
    size_t i;

    if (json_is_string(v))
        return 1;
    if (!json_is_array(v))
        return 0;
    for (i = 0; i < json_array_size(v); i++)
        if (!json_is_string(json_array_get(v, i)))
            return 0;
    return 1;
}

/* The structure nbformat's writer and JupyterLab rely on (a subset of the v4 schema):
 * 0, or -1 with a reason in msg. */
static int validate_notebook(const json_t *nb, char *msg, size_t msglen)
{
    static const char *const otypes[] = {"execute_result", "display_data", "stream", "error"};
    const json_t *v = json_object_get(nb, "nbformat"), *cells;
    size_t i, j, k;

    if (!json_is_object(nb))
        return snprintf(msg, msglen, "the notebook is not a JSON object"), -1;
    if (!json_is_integer(v) || json_integer_value(v) != 4)
        return snprintf(msg, msglen, "nbformat must be the integer 4"), -1;
    v = json_object_get(nb, "nbformat_minor");
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return snprintf(msg, msglen, "nbformat_minor must be a non-negative integer"), -1;
    if (!json_is_object(json_object_get(nb, "metadata")))
        return snprintf(msg, msglen, "metadata must be an object"), -1;
    cells = json_object_get(nb, "cells");
    if (!json_is_array(cells))
        return snprintf(msg, msglen, "cells must be a list"), -1;
    for (i = 0; i < json_array_size(cells); i++) {
        const json_t *cell = json_array_get(cells, i), *outputs;
        const char *type = json_string_value(json_object_get(cell, "cell_type"));

        if (!json_is_object(cell))
            return snprintf(msg, msglen, "cells[%zu] is not an object", i), -1;
        if (!type || (strcmp(type, "code") && strcmp(type, "markdown") && strcmp(type, "raw")))
            return snprintf(msg, msglen, "cells[%zu].cell_type must be code, markdown or raw", i),
                   -1;
        if (!json_is_object(json_object_get(cell, "metadata")))
            return snprintf(msg, msglen, "cells[%zu].metadata must be an object", i), -1;
        if (!is_string_or_lines(json_object_get(cell, "source")))
            return snprintf(msg, msglen, "cells[%zu].source must be a string", i), -1;
        v = json_object_get(cell, "id");
        if (v && !valid_cell_id(v))
            return snprintf(msg, msglen, "cells[%zu].id must match ^[a-zA-Z0-9-_]{1,64}$", i), -1;
        v = json_object_get(cell, "attachments");
        if (v && !json_is_object(v) && !json_is_null(v))
            return snprintf(msg, msglen, "cells[%zu].attachments must be an object", i), -1;
        if (strcmp(type, "code"))
            continue;
        v = json_object_get(cell, "execution_count");
        if (v && !json_is_null(v) && !(json_is_integer(v) && json_integer_value(v) >= 0))
            return snprintf(msg, msglen, "cells[%zu].execution_count must be null or >= 0", i), -1;
        outputs = json_object_get(cell, "outputs");
        if (!json_is_array(outputs))
            return snprintf(msg, msglen, "cells[%zu].outputs must be a list", i), -1;
        for (j = 0; j < json_array_size(outputs); j++) {
            const json_t *o = json_array_get(outputs, j);
            const char *ot = json_string_value(json_object_get(o, "output_type"));

            for (k = 0; ot && k < sizeof otypes / sizeof otypes[0]; k++)
                if (strcmp(ot, otypes[k]) == 0)
                    break;
            if (!json_is_object(o) || !ot || k == sizeof otypes / sizeof otypes[0])
                return snprintf(msg, msglen, "cells[%zu].outputs[%zu] has no valid output_type", i,
                                j),
                       -1;
        }
    }
    return 0;
}

/* nbformat's validate() normalisation for v4.5+: give a cell without an id, or with a
 * duplicate one, a fresh random 8-hex-digit id. 0 or JP_ENOMEM/JP_EIO. */
static int normalize_cell_ids(json_t *nb)
{
    json_t *cells = json_object_get(nb, "cells");
    json_t *seen = NULL;
    int rc = 0;

    if (json_integer_value(json_object_get(nb, "nbformat_minor")) < 5)
        return 0;
    seen = json_object();
    if (!seen)
        return JP_ENOMEM;
    for (size_t i = 0; i < json_array_size(cells) && rc == 0; i++) {
        json_t *cell = json_array_get(cells, i), *id = json_object_get(cell, "id");
        char fresh[9];

        if (!json_is_object(cell))
            continue;
        if (json_is_string(id) && !json_object_get(seen, json_string_value(id))) {
            if (json_object_set_new(seen, json_string_value(id), json_true()) < 0)
                rc = JP_ENOMEM;
            continue;
        }
        do {
            if ((rc = jp_random_hex(fresh, 4)) < 0)
                break;
        } while (json_object_get(seen, fresh));
        if (rc == 0 && (json_object_set_new(cell, "id", json_string(fresh)) < 0 ||
                        json_object_set_new(seen, fresh, json_true()) < 0))
            rc = JP_ENOMEM;
    }
    json_decref(seen);
    return rc;
}

/* ---- GET -------------------------------------------------------------------------------- */

static int file_model(struct contents *c, const struct rpath *rp, const char *format, int content,
                      int hash, json_t **out)
{
    const char *mime = guess_mimetype(rp->name);
    json_t *m = base_model(rp->api, rp->real, &rp->st, "file");
    char *data = NULL;
    size_t len = 0;
    int rc = 0, bad = 0, err;

    if (!m)
        return fail_oom(out);
    if (mime)
        put(m, "mimetype", json_string(mime), &bad);
    if (content) {
        const char *fmt;

        err = read_all(rp->real, c->max_file_bytes, &data, &len);
        if (err == -EINVAL)
            rc = fail(out, 400, NULL, "Cannot read non-file %s", rp->api);
        else if (err == -EFBIG)
            rc = fail(out, 400, "too large", "%s is larger than %zu bytes; download it instead",
                      rp->api, c->max_file_bytes);
        else if (err == -ENOMEM)
            rc = fail_oom(out);
        else if (err)
            rc = fail_errno(out, -err, rp->api, "reading file");
        if (rc)
            goto out;
        if (format && strcmp(format, "text") == 0 && !utf8_valid(data, len)) {
            rc = fail(out, 400, "bad format", "%s is not UTF-8 encoded", rp->api);
            goto out;
        }
        fmt = (!format || strcmp(format, "text") == 0) && utf8_valid(data, len) ? "text" : "base64";
        if (strcmp(fmt, "text") == 0)
            put(m, "content", json_stringn_nocheck(data, len), &bad);
        else
            put(m, "content", base64_lines(data, len), &bad);
        put(m, "format", json_string(fmt), &bad);
        if (!mime)
            put(m, "mimetype",
                json_string(strcmp(fmt, "text") == 0 ? "text/plain" : "application/octet-stream"),
                &bad);
    }
    if (bad) {
        rc = fail_oom(out);
        goto out;
    }
    if (hash && (rc = add_hash(m, data, len, rp->real, rp->api, out)))
        goto out;
out:
    jp_free(data);
    if (rc) {
        json_decref(m);
        return rc;
    }
    json_decref(*out);
    *out = m;
    return 200;
}

/* Read a notebook file into its model content: 0 and *nb, or an error status. */
static int load_notebook(struct contents *c, const struct rpath *rp, json_t **nb, char **raw,
                         size_t *rawlen, json_t **out)
{
    char err[256];
    const json_t *v;
    int e = read_all(rp->real, c->max_file_bytes, raw, rawlen);

    if (e == -EINVAL)
        return fail(out, 400, NULL, "Cannot read non-file %s", rp->api);
    if (e == -EFBIG)
        return fail(out, 400, "too large", "%s is larger than %zu bytes", rp->api,
                    c->max_file_bytes);
    if (e)
        return e == -ENOMEM ? fail_oom(out) : fail_errno(out, -e, rp->api, "reading notebook");
    if (!utf8_valid(*raw, *rawlen))
        return fail(out, 400, "bad format", "%s is not UTF-8 encoded", rp->api);
    e = nbjson_read_notebook(*raw, *rawlen, nb, err, sizeof err);
    if (e == JP_ENOMEM)
        return fail_oom(out);
    if (e)
        return fail(out, 400, NULL, "Unreadable Notebook: %s %s", rp->api, err);
    v = json_object_get(*nb, "nbformat");
    if (!json_is_integer(v) || json_integer_value(v) != 4) {
        char shown[64];

        if (json_is_integer(v))
            snprintf(shown, sizeof shown, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else
            snprintf(shown, sizeof shown, "%s", v ? "(not an integer)" : "(missing)");
        json_decref(*nb);
        *nb = NULL;
        return fail(out, 400, NULL,
                    "Unreadable Notebook: %s Unsupported nbformat version %s (only 4 is read)",
                    rp->api, shown);
    }
    if (normalize_cell_ids(*nb) < 0) {
        json_decref(*nb);
        *nb = NULL;
        return fail_oom(out);
    }
    return 0;
}

static int notebook_model(struct contents *c, const struct rpath *rp, int content, int hash,
                          json_t **out)
{
    json_t *m = base_model(rp->api, rp->real, &rp->st, "notebook"), *nb = NULL;
    char *raw = NULL, why[256];
    size_t rawlen = 0;
    int rc = 0, bad = 0;

    if (!m)
        return fail_oom(out);
    if (content) {
        if ((rc = load_notebook(c, rp, &nb, &raw, &rawlen, out)))
            goto out;
        if (validate_notebook(nb, why, sizeof why) < 0) {
            char msg[300];

            snprintf(msg, sizeof msg, "Notebook validation failed: %s", why);
            put(m, "message", json_string(msg), &bad);
        }
        put(m, "content", nb, &bad);
        put(m, "format", json_string("json"), &bad);
        if (bad) {
            rc = fail_oom(out);
            goto out;
        }
    }
    if (hash)
        rc = add_hash(m, raw, rawlen, rp->real, rp->api, out);
out:
    jp_free(raw);
    if (rc) {
        json_decref(m);
        return rc;
    }
    json_decref(*out);
    *out = m;
    return 200;
}

/* Jupyter's hide_globs plus the checkpoint directory, which is never listed. */
static int hidden_by_glob(const char *name)
{
    static const char *const globs[] = {"__pycache__", "*.pyc", "*.pyo", ".DS_Store", "*~"};

    if (strcmp(name, CP_DIR) == 0)
        return 1;
    for (size_t i = 0; i < sizeof globs / sizeof globs[0]; i++)
        if (fnmatch(globs[i], name, 0) == 0)
            return 1;
    return 0;
}

/* The model (no content) of one directory entry, or *m NULL when it is not listed. */
static int entry_model(struct contents *c, const struct rpath *dir, const char *name, json_t **m)
{
    char path[PATH_MAX], res[PATH_MAX], api[PATH_MAX];
    const char *real = path, *type, *mime;
    struct stat st;
    int bad = 0;

    *m = NULL;
    if ((!c->allow_hidden && name[0] == '.') || hidden_by_glob(name) ||
        !utf8_valid(name, strlen(name)) || strchr(name, '\\'))
        return 0;
    if (join_path(path, dir->real, name) < 0 || join_api(api, dir->api, name) < 0)
        return 0;
    if (lstat(path, &st) < 0)
        return 0;
    if (S_ISLNK(st.st_mode)) {
        if (!realpath(path, res) || !within_root(c, res) || stat(res, &st) < 0)
            return 0; /* broken, looping or leading out of the root */
        real = res;
    }
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
        return 0;
    /* Jupyter counts a directory it cannot list as hidden */
    if (S_ISDIR(st.st_mode) && !c->allow_hidden && access(real, R_OK | X_OK) != 0)
        return 0;
    type = S_ISDIR(st.st_mode) ? "directory" : ends_with(name, ".ipynb") ? "notebook" : "file";
    *m = base_model(api, real, &st, type);
    if (!*m)
        return JP_ENOMEM;
    if (strcmp(type, "file") == 0 && (mime = guess_mimetype(name)))
        put(*m, "mimetype", json_string(mime), &bad);
    if (bad) {
        json_decref(*m);
        *m = NULL;
        return JP_ENOMEM;
    }
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int dir_model(struct contents *c, const struct rpath *rp, int content, json_t **out)
{
    json_t *m = base_model(rp->api, rp->real, &rp->st, "directory"), *list = NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    DIR *d = NULL;
    int rc = 0, bad = 0;

    if (!m)
        return fail_oom(out);
    if (!content)
        goto done;
    d = opendir(rp->real);
    if (!d) {
        rc = fail_errno(out, errno, rp->api, "listing directory");
        goto out;
    }
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **nn = jp_realloc(names, ncap * sizeof *names);

            if (!nn) {
                rc = fail_oom(out);
                goto out;
            }
            names = nn;
            cap = ncap;
        }
        names[n] = jp_memdup(de->d_name, strlen(de->d_name) + 1);
        if (!names[n]) {
            rc = fail_oom(out);
            goto out;
        }
        n++;
    }
    if (n)
        qsort(names, n, sizeof *names, name_cmp);
    list = json_array();
    if (!list) {
        rc = fail_oom(out);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e;

        if (entry_model(c, rp, names[i], &e) < 0 || (e && json_array_append_new(list, e) < 0)) {
            rc = fail_oom(out);
            goto out;
        }
    }
    put(m, "content", list, &bad);
    list = NULL;
    put(m, "format", json_string("json"), &bad);
    if (bad)
        rc = fail_oom(out);
out:
    if (d)
        closedir(d);
    for (size_t i = 0; i < n; i++)
        jp_free(names[i]);
    jp_free(names);
    json_decref(list);
done:
    if (rc) {
        json_decref(m);
        return rc;
    }
    json_decref(*out);
    *out = m;
    return 200;
}

/* The model of a resolved, existing path (Jupyter's get after type checks). */
static int model_of(struct contents *c, const struct rpath *rp, const char *type,
                    const char *format, int content, int hash, json_t **out)
{
    if (S_ISDIR(rp->st.st_mode)) {
        if (type && strcmp(type, "directory"))
            return fail(out, 400, "bad type", "%s is a directory, not a %s", rp->api, type);
        return dir_model(c, rp, content, out);
    }
    if ((type && strcmp(type, "notebook") == 0) || (!type && ends_with(rp->api, ".ipynb")))
        return notebook_model(c, rp, content, hash, out);
    if (type && strcmp(type, "directory") == 0)
        return fail(out, 400, "bad type", "%s is not a directory", rp->api);
    return file_model(c, rp, format, content, hash, out);
}

int contents_get(struct contents *c, const char *path, const char *type, const char *format,
                 int content, int hash, json_t **out)
{
    char shown[REPR_MAX];
    struct rpath rp;
    int rc;

    *out = NULL;
    if (type && strcmp(type, "file") && strcmp(type, "directory") && strcmp(type, "notebook"))
        type = "file";
    if (format && strcmp(format, "text") && strcmp(format, "base64"))
        return fail(out, 400, NULL, "Format %s is invalid", repr(format, shown, sizeof shown));
    if ((rc = resolve(c, path, NULL, &rp, out)))
        return rc;
    if (!rp.exists)
        return fail(out, 404, NULL, "file or directory %s does not exist",
                    repr(rp.api, shown, sizeof shown));
    return model_of(c, &rp, type, format, content, hash, out);
}

/* The content-free model of a path just written, with the given success status. */
static int written_model(struct contents *c, const char *api, int status, json_t **out)
{
    int rc = contents_get(c, api, NULL, NULL, 0, 0, out);

    return rc == 200 ? status : rc;
}

/* ---- writing files ---------------------------------------------------------------------- */

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len) {
        ssize_t w = write(fd, p, len);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int copy_fd(int from, int to)
{
    char buf[65536];

    for (;;) {
        ssize_t r = read(from, buf, sizeof buf);
        int err;

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return 0;
        if ((err = write_all(to, buf, (size_t)r)) < 0)
            return err;
    }
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return;
    if (fsync(fd) < 0 && errno != EINVAL)
        jp_log(JP_LOG_WARN, "contents", "fsync of directory failed: %s dir=%s", strerror(errno),
               dir);
    close(fd);
}

/* rename(2) that fails with -EEXIST instead of replacing. */
static int rename_noreplace(const char *from, const char *to)
{
    struct stat st;

    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -errno;
    /* the filesystem cannot do it atomically: a hard link can, for files */
    if (link(from, to) == 0) {
        unlink(from);
        return 0;
    }
    if (errno == EEXIST)
        return -EEXIST;
    if (lstat(to, &st) == 0)
        return -EEXIST;
    return rename(from, to) < 0 ? -errno : 0;
}

/* Write a new file in dir (data, or what is left to read from src_fd when it is >= 0),
 * fsync it, rename it over target (or next to nothing when noreplace: -EEXIST if target
 * exists), fsync dir. mode: permission bits, or -1 for 0666 less the umask; times: atime
 * and mtime to copy (NULL: now). 0 or -errno; on failure target is untouched and the
 * temporary file is gone. */
static int atomic_write(struct contents *c, const char *dir, const char *target, const void *data,
                        size_t len, int src_fd, int mode, const struct stat *times, int noreplace)
{
    char tmp[PATH_MAX];
    int fd = -1, err = 0;

    for (int i = 0; i < 100; i++) {
        char name[64];

        snprintf(name, sizeof name, ".~cnote-%ld-%u.tmp", (long)getpid(), c->tmp_seq++);
        if (join_path(tmp, dir, name) < 0)
            return -ENAMETOOLONG;
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                  mode >= 0 ? (mode_t)(mode & 0777) : 0666);
        if (fd >= 0 || errno != EEXIST)
            break;
    }
    if (fd < 0)
        return -errno;
    if (mode >= 0 && fchmod(fd, (mode_t)(mode & 07777)) < 0)
        jp_log(JP_LOG_DEBUG, "contents", "fchmod failed: %s path=%s", strerror(errno), target);
    err = src_fd >= 0 ? copy_fd(src_fd, fd) : write_all(fd, data, len);
    if (!err && times) {
        struct timespec ts[2] = {times->st_atim, times->st_mtim};

        if (futimens(fd, ts) < 0)
            jp_log(JP_LOG_DEBUG, "contents", "futimens failed: %s path=%s", strerror(errno),
                   target);
    }
    if (!err && fsync(fd) < 0)
        err = -errno;
    if (close(fd) < 0 && !err)
        err = -errno;
    if (!err)
        err = noreplace ? rename_noreplace(tmp, target) : (rename(tmp, target) < 0 ? -errno : 0);
    if (err) {
        unlink(tmp);
        return err;
    }
    fsync_dir(dir);
    return 0;
}

/* Append to the file (chunked uploads); on failure the file is cut back to its old size, or
 * removed if this call created it. 0 or -errno. */
static int append_file(const char *real, const void *data, size_t len)
{
    struct stat st;
    int created = 0, fd, err;

    fd = open(real, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0 && errno == ENOENT) {
        fd = open(real, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
        created = fd >= 0;
    }
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        err = S_ISREG(st.st_mode) ? -errno : -EINVAL;
        close(fd);
        return err;
    }
    err = write_all(fd, data, len);
    if (!err && fsync(fd) < 0)
        err = -errno;
    if (err && !created && ftruncate(fd, st.st_size) < 0)
        jp_log(JP_LOG_ERROR, "contents", "could not undo a failed append: %s path=%s",
               strerror(errno), real);
    close(fd);
    if (err && created)
        unlink(real);
    return err;
}

/* The directory holding a resolved entry's real file (its symlink target's directory). */
static void real_dir(const struct rpath *rp, char *out)
{
    dir_of(rp->real, out);
}

/* ---- checkpoints ------------------------------------------------------------------------ */

/* FileCheckpoints.checkpoint_path: <parent>/.ipynb_checkpoints/<stem>-checkpoint<ext>, the
 * directory made when create is set. 0, or -errno (-ENOENT: no checkpoint directory; -EXDEV:
 * it is a symlink out of the root). */
static int checkpoint_path(struct contents *c, const struct rpath *rp, int create, char *cpdir,
                           char *cpfile)
{
    char res[PATH_MAX], name[NAME_MAX + 1];
    size_t stem = splitext(rp->name);
    struct stat st;

    if (join_path(cpdir, rp->dir, CP_DIR) < 0)
        return -ENAMETOOLONG;
    if (lstat(cpdir, &st) < 0) {
        if (errno != ENOENT || !create)
            return -errno;
        if (mkdir(cpdir, 0777) < 0 && errno != EEXIST)
            return -errno;
        if (lstat(cpdir, &st) < 0)
            return -errno;
    }
    if (S_ISLNK(st.st_mode)) {
        if (!realpath(cpdir, res))
            return -errno;
        if (!within_root(c, res))
            return -EXDEV;
        memcpy(cpdir, res, strlen(res) + 1);
        if (stat(cpdir, &st) < 0)
            return -errno;
    }
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    if (snprintf(name, sizeof name, "%.*s-%s%s", (int)stem, rp->name, CP_ID, rp->name + stem) >=
        (int)sizeof name)
        return -ENAMETOOLONG;
    return join_path(cpfile, cpdir, name);
}

static json_t *checkpoint_model(const struct stat *st)
{
    return json_pack("{s:s, s:o}", "id", CP_ID, "last_modified", time_json(&st->st_mtim));
}

/* Copy the file to its checkpoint (mode and times kept, as shutil.copy2). 0 or -errno. */
static int checkpoint_write(struct contents *c, const struct rpath *rp, struct stat *cpst)
{
    char cpdir[PATH_MAX], cpfile[PATH_MAX];
    struct stat st;
    int fd, err;

    if ((err = checkpoint_path(c, rp, 1, cpdir, cpfile)) < 0)
        return err;
    fd = open(rp->real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        err = S_ISREG(st.st_mode) ? -errno : -EINVAL;
        close(fd);
        return err;
    }
    err = atomic_write(c, cpdir, cpfile, NULL, 0, fd, (int)st.st_mode, &st, 0);
    close(fd);
    if (!err && cpst && lstat(cpfile, cpst) < 0)
        err = -errno;
    return err;
}

/* Does the file have a checkpoint? */
static int checkpoint_exists(struct contents *c, const struct rpath *rp)
{
    char cpdir[PATH_MAX], cpfile[PATH_MAX];
    struct stat st;

    return checkpoint_path(c, rp, 0, cpdir, cpfile) == 0 && lstat(cpfile, &st) == 0 &&
           S_ISREG(st.st_mode);
}

/* "Saving a notebook creates the first checkpoint": best effort, the save has happened. */
static void ensure_checkpoint(struct contents *c, const char *api)
{
    struct rpath rp;
    json_t *err = NULL;
    int rc;

    if (resolve(c, api, "checkpoint", &rp, &err) == 0 && rp.exists && !checkpoint_exists(c, &rp) &&
        (rc = checkpoint_write(c, &rp, NULL)) < 0)
        jp_log(JP_LOG_WARN, "contents", "could not create the first checkpoint: %s path=%s",
               strerror(-rc), api);
    json_decref(err);
}

int contents_checkpoints_list(struct contents *c, const char *path, json_t **out)
{
    char cpdir[PATH_MAX], cpfile[PATH_MAX], shown[REPR_MAX];
    struct rpath rp;
    struct stat st;
    json_t *list, *m;
    int rc;

    *out = NULL;
    if ((rc = resolve(c, path, NULL, &rp, out)))
        return rc;
    if (!rp.exists)
        return fail(out, 404, NULL, "file or directory %s does not exist",
                    repr(rp.api, shown, sizeof shown));
    list = json_array();
    if (!list)
        return fail_oom(out);
    if (!rp.is_root && !S_ISDIR(rp.st.st_mode) && checkpoint_path(c, &rp, 0, cpdir, cpfile) == 0 &&
        lstat(cpfile, &st) == 0 && S_ISREG(st.st_mode)) {
        m = checkpoint_model(&st);
        if (!m || json_array_append_new(list, m) < 0) {
            json_decref(list);
            return fail_oom(out);
        }
    }
    *out = list;
    return 200;
}

int contents_checkpoint_create(struct contents *c, const char *path, json_t **out)
{
    char shown[REPR_MAX];
    struct rpath rp;
    struct stat st;
    int rc, err;

    *out = NULL;
    if ((rc = resolve(c, path, "checkpoint", &rp, out)))
        return rc;
    if (!rp.exists)
        return fail(out, 404, NULL, "file or directory %s does not exist",
                    repr(rp.api, shown, sizeof shown));
    if (!S_ISREG(rp.st.st_mode))
        return fail(out, 400, NULL, "Cannot create a checkpoint of %s: not a file", rp.api);
    err = checkpoint_write(c, &rp, &st);
    if (err == -EXDEV)
        return fail(out, 403, NULL, "The checkpoint directory of %s is outside the root", rp.api);
    if (err)
        return fail_errno(out, -err, rp.api, "creating checkpoint");
    *out = checkpoint_model(&st);
    if (!*out)
        return fail_oom(out);
    return 201;
}

int contents_checkpoint_restore(struct contents *c, const char *path, const char *id, json_t **out)
{
    char cpdir[PATH_MAX], cpfile[PATH_MAX], dir[PATH_MAX];
    struct rpath rp;
    struct stat st;
    int rc, fd, err;

    *out = NULL;
    if ((rc = resolve(c, path, "restore", &rp, out)))
        return rc;
    if (!id || strcmp(id, CP_ID) || !rp.parent_ok || rp.is_root ||
        checkpoint_path(c, &rp, 0, cpdir, cpfile) < 0)
        return fail(out, 404, NULL, "Checkpoint does not exist: %s@%s", rp.api, id ? id : "");
    fd = open(cpfile, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return fail(out, 404, NULL, "Checkpoint does not exist: %s@%s", rp.api, id);
    }
    if (rp.dangling || (rp.exists && !S_ISREG(rp.st.st_mode))) {
        close(fd);
        return fail(out, 400, NULL, "Cannot restore a checkpoint over %s: not a file", rp.api);
    }
    if (rp.exists && access(rp.real, W_OK) != 0) {
        close(fd);
        return fail(out, 403, NULL, "Permission denied: %s", rp.api);
    }
    real_dir(&rp, dir);
    err = atomic_write(c, dir, rp.real, NULL, 0, fd, (int)st.st_mode, &st, 0);
    close(fd);
    if (err)
        return fail_errno(out, -err, rp.api, "restoring checkpoint");
    return 204;
}

int contents_checkpoint_delete(struct contents *c, const char *path, const char *id, json_t **out)
{
    char cpdir[PATH_MAX], cpfile[PATH_MAX];
    struct rpath rp;
    struct stat st;
    int rc;

    *out = NULL;
    if ((rc = resolve(c, path, "delete", &rp, out)))
        return rc;
    if (!id || strcmp(id, CP_ID) || !rp.parent_ok || rp.is_root ||
        checkpoint_path(c, &rp, 0, cpdir, cpfile) < 0 || lstat(cpfile, &st) < 0)
        return fail(out, 404, NULL, "Checkpoint does not exist: %s@%s", rp.api, id ? id : "");
    if (unlink(cpfile) < 0)
        return fail_errno(out, errno, rp.api, "deleting checkpoint");
    return 204;
}

/* ---- PUT -------------------------------------------------------------------------------- */

static int too_big(struct contents *c, const char *api, size_t len, json_t **out)
{
    return fail(out, 413, NULL, "File too large: %s would be %zu bytes; the limit is %zu", api, len,
                c->max_file_bytes);
}

/* The bytes of a file model's content ({"format": "text"|"base64", "content": str}). *buf is
 * set when they had to be decoded (free it), else *data points into the model. */
static int file_bytes(const struct rpath *rp, const json_t *content, const json_t *format,
                      const char **data, size_t *len, char **buf, json_t **out)
{
    const char *fmt = json_string_value(format), *why = NULL;
    int err;

    *buf = NULL;
    if (!fmt || (strcmp(fmt, "text") && strcmp(fmt, "base64")))
        return fail(out, 400, NULL, "Must specify format of file contents as 'text' or 'base64'");
    if (!json_is_string(content))
        return fail(out, 400, NULL, "Encoding error saving %s: content must be a string", rp->api);
    if (strcmp(fmt, "text") == 0) {
        *data = json_string_value(content);
        *len = json_string_length(content);
        return 0;
    }
    err = base64_decode(json_string_value(content), json_string_length(content), buf, len, &why);
    if (err == -ENOMEM)
        return fail_oom(out);
    if (err)
        return fail(out, 400, NULL, "Encoding error saving %s: %s", rp->api, why);
    *data = *buf;
    return 0;
}

static int save_file(struct contents *c, const struct rpath *rp, const json_t *model,
                     long long chunk, json_t **out)
{
    const char *data = NULL;
    char *buf = NULL, dir[PATH_MAX];
    size_t len = 0;
    int rc, err;

    if (rp->exists && access(rp->real, W_OK) != 0)
        return fail(out, 403, NULL, "Permission denied: %s", rp->api);
    if ((rc = file_bytes(rp, json_object_get(model, "content"), json_object_get(model, "format"),
                         &data, &len, &buf, out)))
        return rc;
    if (len > c->max_file_bytes) {
        jp_free(buf);
        return too_big(c, rp->api, len, out);
    }
    if (chunk == 0 || chunk == 1) {
        real_dir(rp, dir);
        err = atomic_write(c, dir, rp->real, data, len, -1, rp->exists ? (int)rp->st.st_mode : -1,
                           NULL, 0);
    } else {
        err = append_file(rp->real, data, len);
    }
    jp_free(buf);
    if (err == -EINVAL)
        return fail(out, 400, NULL, "Cannot write to non-file %s", rp->api);
    if (err)
        return fail_errno(out, -err, rp->api, "saving file");
    return 0;
}

static int save_notebook(struct contents *c, const struct rpath *rp, const json_t *content,
                         json_t **out)
{
    struct jp_buf buf;
    char why[256], dir[PATH_MAX];
    json_t *nb;
    int rc = 0, err;

    if (rp->exists && access(rp->real, W_OK) != 0)
        return fail(out, 403, NULL, "Permission denied: %s", rp->api);
    if (!json_is_object(content))
        return fail(out, 400, NULL, "Invalid notebook %s: the content is not a JSON object",
                    rp->api);
    if (validate_notebook(content, why, sizeof why) < 0)
        return fail(out, 400, NULL, "Invalid notebook %s: %s", rp->api, why);
    nb = json_deep_copy(content);
    if (!nb || normalize_cell_ids(nb) < 0) {
        json_decref(nb);
        return fail_oom(out);
    }
    jp_buf_init(&buf, c->max_file_bytes);
    err = nbjson_write_notebook(nb, &buf);
    json_decref(nb);
    if (err == JP_ETOOBIG)
        rc = too_big(c, rp->api, c->max_file_bytes + 1, out);
    else if (err)
        rc = fail_oom(out);
    if (rc) {
        jp_buf_dispose(&buf);
        return rc;
    }
    real_dir(rp, dir);
    err = atomic_write(c, dir, rp->real, buf.data, buf.len, -1,
                       rp->exists ? (int)rp->st.st_mode : -1, NULL, 0);
    jp_buf_dispose(&buf);
    if (err)
        return fail_errno(out, -err, rp->api, "saving file");
    ensure_checkpoint(c, rp->api);
    return 0;
}

static int save_directory(const struct rpath *rp, json_t **out)
{
    if (rp->exists)
        return S_ISDIR(rp->st.st_mode) ? 0 : fail(out, 400, NULL, "Not a directory: %s", rp->api);
    if (mkdir(rp->entry, 0777) < 0)
        return fail_errno(out, errno, rp->api, "creating directory");
    fsync_dir(rp->dir);
    return 0;
}

/* Python truthiness of a JSON value (handlers test `if model.get("copy_from")`). */
static int truthy(const json_t *v)
{
    if (!v)
        return 0;
    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_string_length(v) > 0;
    case JSON_OBJECT:
        return json_object_size(v) > 0;
    case JSON_ARRAY:
        return json_array_size(v) > 0;
    case JSON_INTEGER:
        return json_integer_value(v) != 0;
    case JSON_REAL:
        return json_real_value(v) != 0;
    case JSON_TRUE:
        return 1;
    default:
        return 0;
    }
}

static int has_hidden_component(const char *p)
{
    for (const char *s = p; *s; s++)
        if (*s == '.' && (s == p || s[-1] == '/'))
            return 1;
    return 0;
}

int contents_save(struct contents *c, const char *path, json_t *model, json_t **out)
{
    static const char *const types[] = {"notebook", "file", "directory"};
    json_t *content, *chunk_v, *mpath, *dflt = NULL;
    const char *type = NULL;
    long long chunk = 0;
    char shown[REPR_MAX], parent[PATH_MAX];
    struct rpath rp;
    int rc, existed;

    *out = NULL;
    if (!model || (json_is_object(model) && json_object_size(model) == 0))
        return contents_create(c, path, NULL, out);
    if (!json_is_object(model))
        return fail(out, 400, NULL, "The model must be a JSON object");
    if (truthy(json_object_get(model, "copy_from")))
        return fail(out, 400, NULL, "Cannot copy with PUT, only POST");
    if ((rc = resolve(c, path, "create", &rp, out)))
        return rc;
    mpath = json_object_get(model, "path");
    if (json_is_string(mpath) && !c->allow_hidden && has_hidden_component(json_string_value(mpath)))
        return fail(out, 400, NULL, "Cannot create file or directory %s",
                    repr(rp.api, shown, sizeof shown));
    existed = rp.exists && S_ISREG(rp.st.st_mode);

    if (json_is_string(json_object_get(model, "type"))) {
        type = json_string_value(json_object_get(model, "type"));
        if (!*type)
            type = NULL;
        else if (strcmp(type, types[0]) && strcmp(type, types[1]) && strcmp(type, types[2]))
            type = "file"; /* the handler's fallback for unknown types */
    } else if (json_object_get(model, "type") && !json_is_null(json_object_get(model, "type"))) {
        type = "file";
    }
    content = json_object_get(model, "content");
    if (json_is_null(content))
        content = NULL;
    chunk_v = json_object_get(model, "chunk");
    if (chunk_v && !json_is_null(chunk_v)) {
        if (!json_is_integer(chunk_v))
            return fail(out, 400, NULL, "chunk must be an integer");
        chunk = json_integer_value(chunk_v);
        if (chunk == 0) /* LargeFileManager appends for any chunk but 1 */
            chunk = 2;
        if (!type)
            return fail(out, 400, NULL, "No file type provided");
        if (strcmp(type, "file"))
            return fail(out, 400, NULL, "File type \"%s\" is not supported for large file transfer",
                        type);
        if (!content)
            return fail(out, 400, NULL, "No file content provided");
    }
    if (!type) {
        if (existed)
            return fail(out, 400, NULL, "No file type provided");
        type = ends_with(rp.api, ".ipynb") ? "notebook" : "file";
    }
    if (!content && strcmp(type, "directory")) {
        if (existed)
            return fail(out, 400, NULL, "No file content provided");
        /* ContentsManager.new: a new empty notebook or text file */
        dflt = strcmp(type, "notebook") == 0
                   ? json_pack("{s:{s:[], s:{}, s:i, s:i}}", "content", "cells", "metadata",
                               "nbformat", 4, "nbformat_minor", 5)
                   : json_pack("{s:s, s:s}", "content", "", "format", "text");
        if (!dflt)
            return fail_oom(out);
        model = dflt;
        content = json_object_get(dflt, "content");
    }
    if (rp.is_root && strcmp(type, "directory")) {
        json_decref(dflt);
        return fail(out, 400, NULL, "Cannot save a file over the root");
    }
    if (!rp.parent_ok) {
        api_parent(rp.api, parent);
        json_decref(dflt);
        return fail(out, 404, NULL, "No such directory: %s", parent);
    }
    if (rp.dangling) {
        json_decref(dflt);
        return fail(out, 400, NULL, "Cannot write through the broken symbolic link %s", rp.api);
    }
    if (rp.exists && S_ISDIR(rp.st.st_mode) && strcmp(type, "directory")) {
        json_decref(dflt);
        return fail(out, 400, NULL, "%s is a directory", rp.api);
    }
    if (strcmp(type, "directory") == 0)
        rc = save_directory(&rp, out);
    else if (strcmp(type, "notebook") == 0)
        rc = save_notebook(c, &rp, content, out);
    else
        rc = save_file(c, &rp, model, chunk, out);
    json_decref(dflt);
    if (rc)
        return rc;
    return written_model(c, rp.api, existed ? 200 : 201, out);
}

/* ---- POST: untitled files and copies ---------------------------------------------------- */

/* increment_filename's split: before the last dot for .ipynb, else before the first dot. */
static size_t increment_split(const char *name)
{
    const char *last = strrchr(name, '.'), *first = strchr(name, '.');

    if (last && strcmp(last, ".ipynb") == 0)
        return (size_t)(last - name);
    return first ? (size_t)(first - name) : strlen(name);
}

/* Candidate i of increment_filename(filename, insert): "a.txt", "a<insert>1.txt", ... */
static int candidate_name(const char *filename, const char *insert, int i, char *out)
{
    size_t cut = increment_split(filename);
    int n;

    if (i == 0)
        n = snprintf(out, NAME_MAX + 1, "%s", filename);
    else
        n = snprintf(out, NAME_MAX + 1, "%.*s%s%d%s", (int)cut, filename, insert, i,
                     filename + cut);
    return n < 0 || n > NAME_MAX ? -ENAMETOOLONG : 0;
}

static int new_untitled(struct contents *c, const struct rpath *dir, const char *type,
                        const char *ext, json_t **out)
{
    static const char empty_nb[] =
        "{\n \"cells\": [],\n \"metadata\": {},\n \"nbformat\": 4,\n \"nbformat_minor\": 5\n}\n";
    char filename[NAME_MAX + 1], name[NAME_MAX + 1], path[PATH_MAX], api[PATH_MAX];
    const char *base, *insert = "";
    int i, err = 0;

    if (!*type)
        type = strcmp(ext, ".ipynb") == 0 ? "notebook" : "file";
    if (strcmp(type, "directory") == 0) {
        base = "Untitled Folder";
        insert = " ";
    } else if (strcmp(type, "notebook") == 0) {
        base = "Untitled";
        ext = ".ipynb";
    } else {
        base = "untitled";
    }
    if (strchr(ext, '/') || strchr(ext, '\\'))
        return fail(out, 400, NULL, "Invalid extension: %s", ext);
    if (snprintf(filename, sizeof filename, "%s%s", base, ext) >= (int)sizeof filename)
        return fail(out, 400, NULL, "Extension too long: %s", ext);
    for (i = 0; i < MAX_UNTITLED; i++) {
        if (candidate_name(filename, insert, i, name) < 0 || join_path(path, dir->real, name) < 0 ||
            join_api(api, dir->api, name) < 0)
            return fail(out, 400, NULL, "File name too long: %s", filename);
        if (strcmp(type, "directory") == 0) {
            err = mkdir(path, 0777) < 0 ? -errno : 0;
        } else if (strcmp(type, "notebook") == 0) {
            err = atomic_write(c, dir->real, path, empty_nb, sizeof empty_nb - 1, -1, -1, NULL, 1);
        } else {
            int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);

            err = fd < 0 ? -errno : 0;
            if (fd >= 0)
                close(fd);
        }
        if (err != -EEXIST)
            break;
    }
    if (i == MAX_UNTITLED)
        return fail(out, 409, NULL, "No free untitled name in %s", dir->api);
    if (err)
        return fail_errno(out, -err, api, "creating file");
    fsync_dir(dir->real);
    if (strcmp(type, "notebook") == 0)
        ensure_checkpoint(c, api);
    return written_model(c, api, 201, out);
}

/* Jupyter's copy_pat.sub(".", name): every "-Copy<digits>." becomes ".". */
static void strip_copy_suffix(const char *name, char *out)
{
    size_t o = 0;

    for (size_t i = 0; name[i];) {
        if (strncmp(name + i, "-Copy", 5) == 0) {
            size_t j = i + 5;

            while (name[j] >= '0' && name[j] <= '9')
                j++;
            if (name[j] == '.') {
                out[o++] = '.';
                i = j + 1;
                continue;
            }
        }
        out[o++] = name[i++];
    }
    out[o] = '\0';
}

static int remove_entry(const char *fpath, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if ((flag == FTW_DP ? rmdir(fpath) : unlink(fpath)) < 0)
        return errno ? errno : EIO;
    return 0;
}

/* rm -r without following symlinks. 0 or -errno. */
static int remove_tree(const char *path)
{
    int r = nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS);

    return r == 0 ? 0 : r > 0 ? -r : -errno;
}

/* shutil.copytree (copy2 for files: mode and times kept) of src into the new directory dst,
 * following symlinks to files inside the root and skipping the rest. 0 or -errno (-EFBIG
 * past COPY_DIR_MAX_BYTES, -ELOOP past COPY_DIR_MAX_DEPTH). */
static int copy_tree(struct contents *c, const char *src, const char *dst, int depth,
                     unsigned long long *total)
{
    struct dirent *de;
    DIR *d;
    int err = 0;

    if (depth > COPY_DIR_MAX_DEPTH)
        return -ELOOP;
    d = opendir(src);
    if (!d)
        return -errno;
    while (!err && (de = readdir(d))) {
        char from[PATH_MAX], to[PATH_MAX], res[PATH_MAX];
        const char *real = from;
        struct stat st;
        int fd;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (join_path(from, src, de->d_name) < 0 || join_path(to, dst, de->d_name) < 0) {
            err = -ENAMETOOLONG;
            break;
        }
        if (lstat(from, &st) < 0)
            continue;
        if (S_ISLNK(st.st_mode)) {
            if (!realpath(from, res) || !within_root(c, res) || stat(res, &st) < 0 ||
                !S_ISREG(st.st_mode))
                continue; /* broken, outside, or a directory (could loop) */
            real = res;
        }
        if (S_ISDIR(st.st_mode)) {
            if (mkdir(to, (st.st_mode & 07777) | 0700) < 0)
                err = -errno;
            else
                err = copy_tree(c, from, to, depth + 1, total);
            continue;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        *total += (unsigned long long)st.st_size;
        if (*total > COPY_DIR_MAX_BYTES) {
            err = -EFBIG;
            break;
        }
        fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) {
            err = -errno;
            break;
        }
        err = atomic_write(c, dst, to, NULL, 0, fd, (int)st.st_mode, &st, 1);
        close(fd);
    }
    closedir(d);
    return err;
}

static int copy_into(struct contents *c, const struct rpath *dir, const char *from_path,
                     json_t **out)
{
    char filename[NAME_MAX + 1], name[NAME_MAX + 1], path[PATH_MAX], api[PATH_MAX];
    char shown[REPR_MAX];
    struct rpath src;
    int rc, i, err = 0, is_dir, fd = -1;

    if ((rc = resolve(c, from_path, "copy", &src, out)))
        return rc;
    if (!src.exists)
        return fail(out, 404, NULL, "file or directory %s does not exist",
                    repr(src.api, shown, sizeof shown));
    if (src.is_root)
        return fail(out, 400, NULL, "Can't copy the root directory");
    is_dir = S_ISDIR(src.st.st_mode);
    if (!is_dir && !S_ISREG(src.st.st_mode))
        return fail(out, 400, NULL, "Cannot copy non-file %s", src.api);
    if (is_dir &&
        (strcmp(dir->real, src.real) == 0 || (strncmp(dir->real, src.real, strlen(src.real)) == 0 &&
                                              dir->real[strlen(src.real)] == '/')))
        return fail(out, 400, NULL, "Can't copy '%s' into Folder '%s'", src.api, dir->api);
    strip_copy_suffix(src.name, filename);
    if (!is_dir) {
        fd = open(src.real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
            return fail_errno(out, errno, src.api, "copying file");
    }
    for (i = 0; i < MAX_UNTITLED; i++) {
        if (candidate_name(filename, "-Copy", i, name) < 0 ||
            join_path(path, dir->real, name) < 0 || join_api(api, dir->api, name) < 0) {
            err = -ENAMETOOLONG;
            break;
        }
        if (is_dir) {
            err = mkdir(path, (src.st.st_mode & 07777) | 0700) < 0 ? -errno : 0;
        } else {
            if (lseek(fd, 0, SEEK_SET) < 0) {
                err = -errno;
                break;
            }
            err = atomic_write(c, dir->real, path, NULL, 0, fd, -1, NULL, 1);
        }
        if (err != -EEXIST)
            break;
    }
    if (fd >= 0)
        close(fd);
    if (i == MAX_UNTITLED)
        return fail(out, 409, NULL, "No free name for a copy of %s in %s", src.api, dir->api);
    if (err)
        return fail_errno(out, -err, api, "copying file");
    if (is_dir) {
        unsigned long long total = 0;

        err = copy_tree(c, src.real, path, 0, &total);
        if (err) {
            remove_tree(path);
            if (err == -EFBIG)
                return fail(out, 400, NULL, "Can't copy folders larger than %lluMB: %s",
                            COPY_DIR_MAX_BYTES >> 20, src.api);
            return fail(out, 400, NULL, "Can't copy '%s' into Folder '%s': %s", src.api, dir->api,
                        strerror(-err));
        }
    }
    fsync_dir(dir->real);
    if (!is_dir && ends_with(api, ".ipynb"))
        ensure_checkpoint(c, api);
    return written_model(c, api, 201, out);
}

int contents_create(struct contents *c, const char *dir, json_t *body, json_t **out)
{
    const json_t *copy_from = json_object_get(body, "copy_from"), *v;
    const char *type = "", *ext = "", *from = NULL;
    struct rpath rp;
    int rc;

    *out = NULL;
    if (body && !json_is_object(body))
        return fail(out, 400, NULL, "The request body must be a JSON object");
    if ((rc = resolve(c, dir, truthy(copy_from) ? "copy" : "create", &rp, out)))
        return rc;
    if (rp.exists && S_ISREG(rp.st.st_mode))
        return fail(out, 400, NULL, "Cannot POST to files, use PUT instead.");
    if (!rp.exists || !S_ISDIR(rp.st.st_mode))
        return fail(out, 404, NULL, "No such directory: %s", rp.api);
    if (truthy(copy_from)) {
        if ((rc = body_path(copy_from, &from, out)))
            return rc;
        return copy_into(c, &rp, from, out);
    }
    v = json_object_get(body, "ext");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
            return fail(out, 400, NULL, "ext must be a string");
        ext = json_string_value(v);
    }
    v = json_object_get(body, "type");
    if (json_is_string(v))
        type = json_string_value(v);
    else if (v && !json_is_null(v))
        type = "file";
    if (*type && strcmp(type, "notebook") && strcmp(type, "directory") && strcmp(type, "file"))
        type = "file";
    return new_untitled(c, &rp, type, ext, out);
}

/* ---- PATCH and DELETE ------------------------------------------------------------------- */

/* Move the checkpoint of a renamed file along (best effort, as FileCheckpoints). */
static void rename_checkpoint(struct contents *c, const struct rpath *from, const char *to_api)
{
    char cpdir[PATH_MAX], cpfile[PATH_MAX], ndir[PATH_MAX], nfile[PATH_MAX];
    struct rpath to;
    struct stat st;
    json_t *err = NULL;

    if (checkpoint_path(c, from, 0, cpdir, cpfile) < 0 || lstat(cpfile, &st) < 0)
        return;
    if (resolve(c, to_api, NULL, &to, &err) == 0 && to.parent_ok &&
        checkpoint_path(c, &to, 1, ndir, nfile) == 0) {
        if (rename(cpfile, nfile) < 0)
            jp_log(JP_LOG_WARN, "contents", "could not move a checkpoint: %s path=%s",
                   strerror(errno), to_api);
    }
    json_decref(err);
}

int contents_rename(struct contents *c, const char *path, const char *new_path, json_t **out)
{
    char shown[REPR_MAX], parent[PATH_MAX];
    struct rpath from, to;
    struct stat a, b;
    int rc, err, same = 0, was_file;

    *out = NULL;
    if ((rc = resolve(c, path, "rename", &from, out)))
        return rc;
    if (!new_path)
        new_path = from.api;
    while (*new_path == '/')
        new_path++;
    if ((rc = resolve(c, new_path, "rename", &to, out)))
        return rc;
    if (strcmp(from.api, to.api) == 0)
        return written_model(c, to.api, 200, out);
    if (from.is_root)
        return fail(out, 400, NULL, "Can't rename root");
    if (!from.exists && !from.dangling)
        return fail(out, 404, NULL, "File or directory does not exist: %s", from.api);
    if (to.exists || to.dangling || to.is_root) {
        same = to.exists && from.exists && stat(from.entry, &a) == 0 && stat(to.entry, &b) == 0 &&
               a.st_dev == b.st_dev && a.st_ino == b.st_ino;
        if (!same)
            return fail(out, 409, NULL, "File already exists: %s", to.api);
    }
    if (!to.parent_ok) {
        api_parent(to.api, parent);
        return fail(out, 404, NULL, "No such directory: %s", parent);
    }
    if (lstat(from.entry, &a) == 0 && S_ISDIR(a.st_mode) &&
        strncmp(to.dir, from.entry, strlen(from.entry)) == 0 &&
        (to.dir[strlen(from.entry)] == '\0' || to.dir[strlen(from.entry)] == '/'))
        return fail(out, 400, NULL, "Cannot move %s into itself",
                    repr(from.api, shown, sizeof shown));
    was_file = from.exists && S_ISREG(from.st.st_mode);
    err = same ? (rename(from.entry, to.entry) < 0 ? -errno : 0)
               : rename_noreplace(from.entry, to.entry);
    if (err == -EEXIST || err == -ENOTEMPTY)
        return fail(out, 409, NULL, "File already exists: %s", to.api);
    if (err == -ENOENT)
        return fail(out, 404, NULL, "File or directory does not exist: %s", from.api);
    if (err)
        return fail_errno(out, -err, from.api, "renaming file");
    fsync_dir(from.dir);
    if (strcmp(from.dir, to.dir))
        fsync_dir(to.dir);
    if (was_file)
        rename_checkpoint(c, &from, to.api);
    jp_log(JP_LOG_INFO, "contents", "renamed path=%s new_path=%s", from.api, to.api);
    return written_model(c, to.api, 200, out);
}

int contents_delete(struct contents *c, const char *path, json_t **out)
{
    char shown[REPR_MAX], cpdir[PATH_MAX], cpfile[PATH_MAX];
    struct rpath rp;
    struct stat lst;
    int rc, err;

    *out = NULL;
    if ((rc = resolve(c, path, "delete", &rp, out)))
        return rc;
    if (rp.is_root)
        return fail(out, 400, NULL, "Can't delete root");
    if (!rp.exists && !rp.dangling)
        return fail(out, 404, NULL, "file or directory %s does not exist",
                    repr(rp.api, shown, sizeof shown));
    if (rp.exists && access(rp.real, W_OK) != 0)
        return fail(out, 403, NULL, "Permission denied: %s", rp.api);
    if (lstat(rp.entry, &lst) < 0)
        return fail_errno(out, errno, rp.api, "deleting file");
    /* a symlink goes, never what it points to */
    if (S_ISDIR(lst.st_mode))
        err = remove_tree(rp.entry);
    else
        err = unlink(rp.entry) < 0 ? -errno : 0;
    if (err)
        return fail_errno(out, -err, rp.api, "deleting file");
    fsync_dir(rp.dir);
    if (S_ISREG(lst.st_mode) && checkpoint_path(c, &rp, 0, cpdir, cpfile) == 0 &&
        unlink(cpfile) < 0 && errno != ENOENT)
        jp_log(JP_LOG_WARN, "contents", "could not delete a checkpoint: %s path=%s",
               strerror(errno), rp.api);
    jp_log(JP_LOG_INFO, "contents", "deleted path=%s", rp.api);
    return 204;
}

/* ---- the rest --------------------------------------------------------------------------- */

int contents_fs_path(struct contents *c, const char *path, char **out)
{
    struct rpath rp;
    json_t *err = NULL;
    int rc;

    *out = NULL;
    rc = resolve(c, path, NULL, &rp, &err);
    json_decref(err);
    if (rc)
        return rc;
    if (!rp.exists)
        return 404;
    *out = strdup(rp.real);
    return *out ? 0 : 500;
}

struct contents *contents_new(const char *root, const struct contents_opts *o)
{
    struct contents *c;
    struct stat st;

    if (!root)
        return NULL;
    c = jp_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (!realpath(root, c->root) || stat(c->root, &st) < 0 || !S_ISDIR(st.st_mode)) {
        jp_free(c);
        return NULL;
    }
    c->rootlen = strlen(c->root);
    c->allow_hidden = o ? o->allow_hidden : 0;
    c->max_file_bytes = o && o->max_file_bytes ? o->max_file_bytes : DEFAULT_MAX_FILE_BYTES;
    return c;
}

void contents_free(struct contents *c)
{
    jp_free(c);
}
