/*
 * ck_plan.c - compile plans from `cc -###` (see ck_plan.h). The -### lines are split
 * like a shell would for double-quoted words with backslash escapes, which is all gcc
 * and clang print there.
 */
#include "ck_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_job.h"
#include "jp_buf.h"
#include "jp_err.h"

#define SRC_MARK "__CNOTE_SRC__.c"
#define OBJ_MARK "__CNOTE_OBJ__.o"
#define ASM_MARK "__CNOTE_ASM__"

static void free_argv(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

void ck_plan_dispose(struct ck_plan *p)
{
    for (int i = 0; i < p->n; i++)
        free_argv(p->argv[i]);
    memset(p, 0, sizeof *p);
}

char **ck_plan_split(const char *line)
{
    size_t cap = 16, n = 0;
    char **v = calloc(cap, sizeof *v);
    if (!v)
        return NULL;
    const char *s = line;
    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
            s++;
        if (!*s)
            break;
        struct jp_buf w;
        jp_buf_init(&w, 1 << 16);
        int rc = 0;
        if (*s == '"') {
            s++;
            while (*s && *s != '"' && !rc) {
                if (*s == '\\' && s[1])
                    s++;
                rc = jp_buf_add(&w, s++, 1);
            }
            if (*s == '"')
                s++;
        } else {
            while (*s && *s != ' ' && *s != '\t' && *s != '\n' && !rc)
                rc = jp_buf_add(&w, s++, 1);
        }
        char *word = rc ? NULL : jp_buf_take(&w);
        jp_buf_dispose(&w);
        if (!word || (n + 2 > cap && !(cap *= 2, v = realloc(v, cap * sizeof *v)))) {
            free(word);
            free_argv(v);
            return NULL;
        }
        v[n++] = word;
        v[n] = NULL;
    }
    return v;
}

static int set_driver_plan(const char *cc, char *const flags[], struct ck_plan *out)
{
    size_t nf = 0;
    while (flags[nf])
        nf++;
    char **v = calloc(nf + 7, sizeof *v);
    if (!v)
        return JP_ENOMEM;
    size_t i = 0;
    v[i++] = strdup(cc);
    v[i++] = strdup("-c");
    for (size_t f = 0; f < nf; f++)
        v[i++] = strdup(flags[f]);
    v[i++] = strdup("-o");
    v[i++] = strdup(OBJ_MARK);
    v[i++] = strdup(SRC_MARK);
    for (size_t j = 0; j < i; j++)
        if (!v[j]) {
            free_argv(v);
            return JP_ENOMEM;
        }
    out->argv[0] = v;
    out->n = 1;
    out->direct = 0;
    return 0;
}

int ck_plan_make(const char *cc, char *const flags[], const char *dir, struct ck_plan *out)
{
    struct jp_buf o;
    size_t nf = 0;
    int rc = 0;

    memset(out, 0, sizeof *out);
    while (flags[nf])
        nf++;
    char **argv = calloc(nf + 8, sizeof *argv);
    if (!argv)
        return JP_ENOMEM;
    size_t a = 0;
    argv[a++] = (char *)cc;
    argv[a++] = "-###";
    argv[a++] = "-c";
    for (size_t f = 0; f < nf; f++)
        argv[a++] = flags[f];
    argv[a++] = "-o";
    argv[a++] = OBJ_MARK;
    argv[a++] = SRC_MARK;
    argv[a] = NULL;
    /* clang checks that the source exists even for -###: give it an empty one */
    char touch[4096 + 32];
    snprintf(touch, sizeof touch, "%s/" SRC_MARK, dir);
    FILE *f = fopen(touch, "a");
    if (f)
        fclose(f);
    jp_buf_init(&o, 1 << 20);
    int st = ck_run(argv, dir, &o, 10000);
    free(argv);
    if (st == 0 && o.data) {
        /* command lines are the ones starting with a space */
        char *save = NULL;
        for (char *line = strtok_r(o.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            if (line[0] != ' ' || line[1] == '(')
                continue; /* not a command: clang also prints " (in-process)" */
            if (out->n == CK_PLAN_MAX_CMDS) {
                out->n++; /* too many: not understood */
                break;
            }
            char **v = ck_plan_split(line);
            if (!v) {
                rc = JP_ENOMEM;
                break;
            }
            out->argv[out->n++] = v;
        }
    }
    jp_buf_dispose(&o);
    /* Understood only when the first command reads the source and the last one writes the
     * object; the temporary assembly file gets a placeholder. */
    int ok = !rc && out->n >= 1 && out->n <= CK_PLAN_MAX_CMDS;
    const char *tmp_asm = NULL;
    for (int i = 0; ok && i < out->n; i++) {
        int has_src = 0, has_obj = 0;
        for (char **p = out->argv[i]; *p; p++) {
            has_src |= strcmp(*p, SRC_MARK) == 0;
            has_obj |= strcmp(*p, OBJ_MARK) == 0;
            size_t l = strlen(*p);
            if (l > 2 && strcmp(*p + l - 2, ".s") == 0 && strncmp(*p, "/tmp/", 5) == 0)
                tmp_asm = tmp_asm ? tmp_asm : *p;
        }
        if (i == 0 && !has_src)
            ok = 0;
        if (i == out->n - 1 && !has_obj)
            ok = 0;
    }
    if (ok && out->n > 1 && !tmp_asm)
        ok = 0;
    if (ok && tmp_asm) {
        char *keep = strdup(tmp_asm);
        if (!keep) {
            rc = JP_ENOMEM;
            ok = 0;
        }
        for (int i = 0; ok && i < out->n; i++)
            for (char **p = out->argv[i]; *p; p++)
                if (strcmp(*p, keep) == 0) {
                    char *m = strdup(ASM_MARK);
                    if (!m) {
                        rc = JP_ENOMEM;
                        ok = 0;
                        break;
                    }
                    free(*p);
                    *p = m;
                }
        free(keep);
    }
    if (ok) {
        out->direct = 1;
        return 0;
    }
    int n = out->n > CK_PLAN_MAX_CMDS ? CK_PLAN_MAX_CMDS : out->n;
    out->n = n;
    ck_plan_dispose(out);
    if (rc)
        return rc;
    return set_driver_plan(cc, flags, out);
}

char **ck_plan_argv(const struct ck_plan *p, int i, const char *src, const char *obj,
                    const char *asm_file)
{
    size_t n = 0;
    while (p->argv[i][n])
        n++;
    char **v = calloc(n + 1, sizeof *v);
    if (!v)
        return NULL;
    for (size_t j = 0; j < n; j++) {
        char *w = p->argv[i][j];
        if (strcmp(w, SRC_MARK) == 0)
            w = (char *)src;
        else if (strcmp(w, OBJ_MARK) == 0)
            w = (char *)obj;
        else if (strcmp(w, ASM_MARK) == 0)
            w = (char *)asm_file;
        v[j] = w;
    }
    return v;
}
