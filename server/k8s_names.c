/*
 * k8s_names.c - the name and label validation rules of k8s.io/apimachinery
 * (pkg/util/validation: IsDNS1123Label, IsDNS1123Subdomain, IsQualifiedName, IsValidLabelValue)
 * and the user-name slug. Pure functions.
 */
#include "k8s_names.h"

#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "jp_err.h"

static int lower_alnum(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int alnum(int c)
{
    return lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static int label_n(const char *s, size_t n)
{
    if (n == 0 || n > 63 || !lower_alnum((unsigned char)s[0]) ||
        !lower_alnum((unsigned char)s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!lower_alnum((unsigned char)s[i]) && s[i] != '-')
            return 0;
    return 1;
}

int k8s_dns1123_label_ok(const char *s)
{
    return s && label_n(s, strlen(s));
}

static int subdomain_n(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++)
        if (i == n || s[i] == '.') {
            if (!label_n(s + start, i - start))
                return 0;
            start = i + 1;
        }
    return 1;
}

int k8s_dns1123_subdomain_ok(const char *s)
{
    return s && subdomain_n(s, strlen(s));
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], 1..63 */
static int qualified_name_n(const char *s, size_t n)
{
    if (n == 0 || n > 63 || !alnum((unsigned char)s[0]) || !alnum((unsigned char)s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!alnum((unsigned char)s[i]) && !strchr("-_.", s[i]))
            return 0;
    return 1;
}

int k8s_label_value_ok(const char *s)
{
    if (!s)
        return 0;
    size_t n = strlen(s);
    return n == 0 || qualified_name_n(s, n);
}

int k8s_label_key_ok(const char *s)
{
    if (!s)
        return 0;
    const char *slash = strchr(s, '/');
    if (!slash)
        return qualified_name_n(s, strlen(s));
    if (strchr(slash + 1, '/'))
        return 0;
    return subdomain_n(s, (size_t)(slash - s)) && qualified_name_n(slash + 1, strlen(slash + 1));
}

static int looks_hashed(const char *s, size_t n)
{
    if (n < 9 || s[n - 9] != '-')
        return 0;
    for (size_t i = n - 8; i < n; i++)
        if (!strchr("0123456789abcdef", s[i]))
            return 0;
    return 1;
}

int k8s_slug(const char *in, char *out, size_t outlen)
{
    char base[K8S_SLUG_MAX + 1];
    size_t n = 0;
    int changed = 0, dash = 0;

    if (!in || !out)
        return JP_EINVAL;
    if (outlen <= K8S_SLUG_MAX)
        return JP_ERANGE;

    for (const char *p = in; *p; p++) {
        int c = (unsigned char)*p;
        if (c >= 'A' && c <= 'Z') {
            c += 'a' - 'A';
            changed = 1;
        }
        if (lower_alnum(c)) {
            if (dash && n > 0) {
                if (n < K8S_SLUG_MAX)
                    base[n++] = '-';
                else
                    changed = 1;
            }
            dash = 0;
            if (n < K8S_SLUG_MAX)
                base[n++] = (char)c;
            else
                changed = 1; /* truncated */
        } else {
            if (c != '-' || dash || n == 0)
                changed = 1; /* '-' kept only singly, between alphanumerics */
            dash = 1;
        }
    }
    if (dash)
        changed = 1; /* trailing separator trimmed */
    base[n] = '\0';

    if (!changed && n > 0 && !looks_hashed(base, n)) {
        memcpy(out, base, n + 1);
        return (int)n;
    }

    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)in, strlen(in), md);
    if (n > K8S_SLUG_MAX - 9)
        n = K8S_SLUG_MAX - 9;
    while (n > 0 && base[n - 1] == '-')
        n--;
    base[n] = '\0';
    return snprintf(out, outlen, "%s-%02x%02x%02x%02x", n ? base : "x", md[0], md[1], md[2], md[3]);
}
