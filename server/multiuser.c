/*
 * multiuser.c - many users on one cnote (issue 8): who a request is (a user's API token or
 * login cookie), each user's contents root (<root>/<user>, 0700), which kernels a user may
 * touch (their own; admins: all), quotas checked before a kernel starts, idle culling per
 * user policy, the admin REST API (/api/admin/...) and a user's own tokens (/api/tokens).
 *
 * Multi-user mode is on when <data-dir>/users.db has users (`cnote-server user add NAME
 * --admin` makes the first). Otherwise nothing here changes how the server behaves.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "auth.h"
#include "contents.h"
#include "jp_err.h"
#include "jp_log.h"
#include "jp_time.h"
#include "jp_uuid.h"
#include "k8s_names.h"
#include "k8s_prov.h"
#include "kmgr.h"
#include "srv.h"
#include "users.h"

#define CULL_CHECK_MS 5000
#define UID_BASE 200000 /* user N's local kernels and files: uid and gid UID_BASE + N */

struct user_contents {
    char name[USERS_NAME_MAX + 1];
    struct contents *c;
};

struct prespawned {
    char user[USERS_NAME_MAX + 1];
    char id[40];
};

struct mu_state {
    struct user_contents *v;
    size_t n, cap;
    uv_timer_t cull;
    struct prespawned pre[256]; /* kernels an admin started for users ahead of time */
    size_t npre;
};

/* ---- identity --------------------------------------------------------------------------- */

/* The login cookie names the user's id and is bound to when the account was made, so a
 * deleted user's cookie never logs in a later user who got the same id. */
static void cookie_for(struct srv *s, int64_t id, char *out, size_t len)
{
    char msg[96], mac[65];
    struct user u;
    int64_t created = users_get_by_id(s->users, id, &u) == 0 ? u.created_us : -1;
    snprintf(msg, sizeof msg, "user:%lld:%lld", (long long)id, (long long)created);
    auth_hmac_hex(s->login_secret, msg, mac);
    snprintf(out, len, "%lld.%s", (long long)id, mac);
}

void srv_set_user_cookie(struct srv *s, struct srv_resp *resp, int64_t user_id)
{
    char v[600], val[128];
    cookie_for(s, user_id, val, sizeof val);
    snprintf(v, sizeof v, "cnote-auth-%d=%s; Path=%s; HttpOnly; SameSite=Lax%s", s->o.port, val,
             s->o.base_url, s->o.certfile[0] ? "; Secure" : "");
    srv_header_add(resp, "Set-Cookie", v);
}

static void set_user(struct srv *s, struct srv_req *r, const struct user *u)
{
    snprintf(r->user, sizeof r->user, "%s", u->name);
    r->user_id = u->id;
    r->user_admin = u->admin;
    users_touch(s->users, u->id);
}

static const char *header_token(struct srv_req *r)
{
    const char *ah = r->header(r, "authorization");
    const char *sp = ah ? strchr(ah, ' ') : NULL;
    if (!sp || !(((size_t)(sp - ah) == 5 && strncasecmp(ah, "token", 5) == 0) ||
                 ((size_t)(sp - ah) == 6 && strncasecmp(ah, "bearer", 6) == 0)))
        return NULL;
    while (*sp == ' ')
        sp++;
    return sp;
}

int srv_user_auth(struct srv *s, struct srv_req *r, struct srv_resp *resp)
{
    struct user u;
    char *qt = srv_query(r, "token");
    const char *ht = header_token(r);
    int ok = 0;

    if (qt && users_token_check(s->users, qt, &u) == 0) {
        set_user(s, r, &u);
        r->token_auth = 1;
        srv_set_user_cookie(s, resp, u.id); /* the browser keeps working without ?token= */
        ok = 1;
    }
    if (qt) {
        OPENSSL_cleanse(qt, strlen(qt));
        free(qt);
    }
    if (!ok && ht && users_token_check(s->users, ht, &u) == 0) {
        set_user(s, r, &u);
        r->token_auth = 1;
        ok = 1;
    }
    if (!ok) {
        char name[64], want[128];
        snprintf(name, sizeof name, "cnote-auth-%d", s->o.port);
        char *c = auth_cookie(r, name);
        const char *dot = c ? strchr(c, '.') : NULL;
        if (dot) {
            long long id = strtoll(c, NULL, 10);
            cookie_for(s, id, want, sizeof want);
            if (strlen(c) == strlen(want) && CRYPTO_memcmp(c, want, strlen(want)) == 0 &&
                users_get_by_id(s->users, id, &u) == 0) {
                set_user(s, r, &u);
                ok = 1;
            }
        }
        free(c);
    }
    return ok;
}

/* ---- contents, kernels, quotas ----------------------------------------------------------- */

struct contents *srv_contents(struct srv *s, const struct srv_req *r)
{
    struct mu_state *m = s->user_contents;
    char root[4500];
    struct stat st;

    if (!s->multi || !r || !r->user[0])
        return s->contents;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i].name, r->user) == 0)
            return m->v[i].c;
    /* the directory is the user's slug: what their kernel pods mount as subPath on Kubernetes */
    char slug[K8S_SLUG_MAX + 1];
    k8s_slug(r->user, slug, sizeof slug);
    snprintf(root, sizeof root, "%s/%s", s->o.root[0] ? s->o.root : ".", slug);
    if (mkdir(root, 0700) == 0 && geteuid() == 0 && r->user_id > 0 &&
        chown(root, (uid_t)(UID_BASE + r->user_id), (gid_t)(UID_BASE + r->user_id)) != 0) {
        jp_log(JP_LOG_ERROR, "users",
               "cannot give the user's directory to them user=%s error=\"%s\"", r->user,
               strerror(errno));
        return NULL;
    }
    if (errno != EEXIST && access(root, F_OK) != 0) {
        jp_log(JP_LOG_ERROR, "users", "cannot create the user's directory user=%s error=\"%s\"",
               r->user, strerror(errno));
        return NULL;
    }
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode))
        return NULL;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        struct user_contents *v = realloc(m->v, cap * sizeof *v);
        if (!v)
            return NULL;
        m->v = v;
        m->cap = cap;
    }
    struct contents_opts co = {s->o.allow_hidden, s->o.max_body_size};
    struct contents *c = contents_new(root, &co);
    if (!c)
        return NULL;
    snprintf(m->v[m->n].name, sizeof m->v[m->n].name, "%s", r->user);
    m->v[m->n++].c = c;
    return c;
}

/* Local kernels of a user run as uid/gid UID_BASE + their id, with their notebook directory as
 * HOME; that needs root. */
static int user_map(void *ctx, const char *owner, uid_t *uid, gid_t *gid, char *home,
                    size_t homelen)
{
    struct srv *s = ctx;
    struct user u;
    if (geteuid() != 0) {
        snprintf(home, homelen,
                 "multi-user mode runs each user's local kernels under an account of their own, "
                 "which needs cnote-server to run as root; run it as root, or run kernels in "
                 "Kubernetes pods (--k8s-config)");
        return -1;
    }
    if (users_get(s->users, owner, &u) != 0) {
        snprintf(home, homelen, "no such user %s", owner);
        return -1;
    }
    *uid = (uid_t)(UID_BASE + u.id);
    *gid = (gid_t)(UID_BASE + u.id);
    char slug[K8S_SLUG_MAX + 1];
    k8s_slug(owner, slug, sizeof slug);
    snprintf(home, homelen, "%s/%s", s->o.root[0] ? s->o.root : ".", slug);
    return 0;
}

int srv_fs_enter(struct srv *s, const struct srv_req *r)
{
    if (!s->multi || !r->user[0] || r->user_id <= 0 || geteuid() != 0)
        return 0;
    srv_contents(s, r); /* the user's directory is made (as root) before switching */
    /* file operations for a user happen with their uid: what they create is theirs, and the
     * kernel's permissions are the user's permissions */
    setfsgid((gid_t)(UID_BASE + r->user_id));
    setfsuid((uid_t)(UID_BASE + r->user_id));
    return 1;
}

void srv_fs_leave(int entered)
{
    if (!entered)
        return;
    setfsuid(0);
    setfsgid(0);
}

void srv_add_prespawned(struct srv *s, const char *user, const char *kernel_id)
{
    struct mu_state *m = s->user_contents;
    if (!m || m->npre >= sizeof m->pre / sizeof *m->pre)
        return;
    snprintf(m->pre[m->npre].user, sizeof m->pre[m->npre].user, "%s", user);
    snprintf(m->pre[m->npre].id, sizeof m->pre[m->npre].id, "%s", kernel_id);
    m->npre++;
}

int srv_take_prespawned(struct srv *s, const struct srv_req *r, const char *kernel_name,
                        const char *profile, char id_out[37])
{
    struct mu_state *m = s->user_contents;
    if (!s->multi || !m || !r->user[0])
        return 0;
    for (size_t i = 0; i < m->npre; i++) {
        struct prespawned *x = &m->pre[i];
        json_t *model = kmgr_model(s->kmgr, x->id);
        if (!model) { /* gone meanwhile */
            m->pre[i--] = m->pre[--m->npre];
            continue;
        }
        const char *name = json_string_value(json_object_get(model, "name"));
        const char *prof =
            json_string_value(json_object_get(json_object_get(model, "launch"), "profile"));
        const char *owner = kmgr_owner(s->kmgr, x->id);
        int fits = owner && strcmp(owner, r->user) == 0 && kmgr_ready(s->kmgr, x->id) &&
                   !kmgr_stopping(s->kmgr, x->id) &&
                   (!kernel_name || !*kernel_name || (name && strcmp(name, kernel_name) == 0)) &&
                   (!profile || !*profile || (prof && strcmp(prof, profile) == 0));
        json_decref(model);
        if (fits) {
            snprintf(id_out, 37, "%s", x->id);
            m->pre[i] = m->pre[--m->npre];
            jp_log(JP_LOG_INFO, "users", "pre-spawned kernel handed over kernel_id=%s user=%s",
                   id_out, r->user);
            return 1;
        }
    }
    return 0;
}

int srv_may_use_kernel(struct srv *s, const struct srv_req *r, const char *kernel_id)
{
    const char *owner;
    if (!s->multi)
        return 1;
    owner = kmgr_owner(s->kmgr, kernel_id);
    return owner && (r->user_admin || (r->user[0] && strcmp(owner, r->user) == 0));
}

const char *srv_list_owner(const struct srv *s, const struct srv_req *r)
{
    return s->multi ? r->user : NULL;
}

int srv_kernel_gpus(struct srv *s, const json_t *model)
{
    const char *st = json_string_value(json_object_get(model, "execution_state"));
    const char *prof =
        json_string_value(json_object_get(json_object_get(model, "launch"), "profile"));
    if (!s->k8s || !prof || (st && strcmp(st, "dead") == 0))
        return 0;
    return k8s_prov_profile_gpus(s->k8s, prof);
}

int srv_gpus_in_use(struct srv *s, const char *user)
{
    json_t *all = kmgr_list(s->kmgr), *k;
    size_t i;
    int n = 0;
    json_array_foreach(all, i, k)
    {
        const char *id = json_string_value(json_object_get(k, "id"));
        const char *owner = id ? kmgr_owner(s->kmgr, id) : NULL;
        if (owner && strcmp(owner, user) == 0)
            n += srv_kernel_gpus(s, k);
    }
    json_decref(all);
    return n;
}

int srv_quota_check(struct srv *s, const struct srv_req *r, const char *profile,
                    struct srv_resp *resp)
{
    struct users_quota q;
    char msg[400];
    if (!s->multi || !r->user[0] || users_quota_effective(s->users, r->user, &q) != 0)
        return 0;
    int running = kmgr_count_owner(s->kmgr, r->user);
    if (q.max_kernels >= 0 && running >= q.max_kernels) {
        snprintf(msg, sizeof msg,
                 "Quota exceeded: user %s may run at most %d kernel%s at once (%d running). "
                 "Shut one down first.",
                 r->user, q.max_kernels, q.max_kernels == 1 ? "" : "s", running);
        srv_error(resp, 403, msg, "quota max_kernels");
        users_audit(s->users, r->user, "quota_refused", "max_kernels", NULL);
        return -1;
    }
    int want = s->k8s ? k8s_prov_profile_gpus(s->k8s, profile) : 0;
    if (want > 0 && q.max_gpus >= 0) {
        int held = srv_gpus_in_use(s, r->user);
        if (held + want > q.max_gpus) {
            snprintf(msg, sizeof msg,
                     "Quota exceeded: user %s may hold at most %d GPU%s (%d held, this kernel "
                     "asks for %d).",
                     r->user, q.max_gpus, q.max_gpus == 1 ? "" : "s", held, want);
            srv_error(resp, 403, msg, "quota max_gpus");
            users_audit(s->users, r->user, "quota_refused", "max_gpus", NULL);
            return -1;
        }
    }
    return 0;
}

/* Idle kernels of users whose quota sets max_idle_s are shut down (busy ones are left). */
static void cull_cb(uv_timer_t *t)
{
    struct srv *s = t->data;
    json_t *all = kmgr_list(s->kmgr), *k;
    size_t i;
    int64_t now = jp_time_now_us();

    json_array_foreach(all, i, k)
    {
        const char *id = json_string_value(json_object_get(k, "id"));
        const char *st = json_string_value(json_object_get(k, "execution_state"));
        const char *owner = id ? kmgr_owner(s->kmgr, id) : NULL;
        const char *la = json_string_value(json_object_get(k, "last_activity"));
        struct users_quota q;
        int64_t at;
        if (!owner || !*owner || !st || strcmp(st, "busy") == 0 || !la ||
            users_quota_effective(s->users, owner, &q) != 0 || q.max_idle_s <= 0 ||
            jp_time_parse(la, &at) != 0)
            continue;
        if ((now - at) / 1000000 >= q.max_idle_s) {
            jp_log(JP_LOG_INFO, "users", "culling an idle kernel kernel_id=%s user=%s idle_s=%lld",
                   id, owner, (long long)((now - at) / 1000000));
            json_t *d = json_pack("{s:s, s:I}", "kernel_id", id, "idle_s",
                                  (json_int_t)((now - at) / 1000000));
            users_audit(s->users, "", "kernel_culled", owner, d);
            json_decref(d);
            kmgr_shutdown(s->kmgr, id, NULL, NULL);
        }
    }
    json_decref(all);
}

int srv_multiuser_init(struct srv *s)
{
    char path[4200], why[300];
    struct mu_state *m = calloc(1, sizeof *m);

    if (!m)
        return -1;
    s->user_contents = m;
    if (jp_random_hex(s->login_secret, 32) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/users.db", s->o.data_dir);
    s->users = users_open(path, why, sizeof why);
    if (!s->users) {
        fprintf(stderr, "cnote-server: %s: %s\n", path, why);
        return -1;
    }
    s->multi = users_count(s->users) > 0;
    if (s->multi && !s->k8s) {
        const char *urd = s->o.user_runtime_dir[0] ? s->o.user_runtime_dir : "/run/cnote";
        if (geteuid() == 0 && kmgr_set_user_map(s->kmgr, user_map, s, urd) != 0) {
            fprintf(stderr,
                    "cnote-server: cannot use %s for the users' kernels (see the log); "
                    "give --user-runtime-dir DIR\n",
                    urd);
            return -1;
        }
        if (geteuid() != 0)
            kmgr_set_user_map(s->kmgr, user_map, s, NULL); /* refuses, with the reason */
        struct stat st;
        const char *root = s->o.root[0] ? s->o.root : ".";
        /* users' kernels (their own uids) must be able to reach <root>/<user> */
        if (geteuid() == 0 && stat(root, &st) == 0 && (st.st_mode & 0111) != 0111) {
            jp_log(JP_LOG_INFO, "users", "root made traversable for the users' kernels root=%s",
                   root);
            chmod(root, (st.st_mode & 07777) | 0111);
        }
    }
    if (s->multi) {
        jp_log(JP_LOG_INFO, "users", "multi-user mode users=%d", users_count(s->users));
        uv_timer_init(s->loop, &m->cull);
        m->cull.data = s;
        uv_timer_start(&m->cull, cull_cb, CULL_CHECK_MS, CULL_CHECK_MS);
        uv_unref((uv_handle_t *)&m->cull);
    }
    return 0;
}

void srv_multiuser_free(struct srv *s)
{
    struct mu_state *m = s->user_contents;
    if (m) {
        for (size_t i = 0; i < m->n; i++)
            contents_free(m->v[i].c);
        free(m->v);
        if (s->multi)
            uv_close((uv_handle_t *)&m->cull, NULL);
        /* m itself goes with the process: the timer handle lives in it until the loop ends */
    }
    users_close(s->users);
    s->users = NULL;
}
