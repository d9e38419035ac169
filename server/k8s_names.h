/*
 * k8s_names.h - Kubernetes name and label rules (apimachinery validation), and the user-name
 * slug used in labels, subPaths and anything else that must be DNS- and label-safe.
 * Pure functions; no allocation.
 */
#ifndef K8S_NAMES_H
#define K8S_NAMES_H

#include <stddef.h>

/* Longest slug k8s_slug produces (a DNS-1123 label); out needs K8S_SLUG_MAX + 1 bytes. */
#define K8S_SLUG_MAX 63

/* RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, 1..63 chars. 1 if valid, else 0. */
int k8s_dns1123_label_ok(const char *s);
/* RFC 1123 subdomain: dot-separated labels, 1..253 chars in all (pod, secret names). */
int k8s_dns1123_subdomain_ok(const char *s);
/* Label value: empty, or ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most 63 chars. */
int k8s_label_value_ok(const char *s);
/* Label (and annotation) key: [prefix/]name; prefix a DNS-1123 subdomain (<= 253), name
 * 1..63 chars of [A-Za-z0-9_.-] starting and ending alphanumeric. */
int k8s_label_key_ok(const char *s);

/* The slug of a (raw, arbitrary UTF-8) user name: lower-cased, every run of characters other
 * than [a-z0-9] turned into one '-', leading/trailing '-' trimmed. If that changed anything
 * (case included), or the result is longer than 63, or the name already looks like a hashed
 * slug (ends in '-' + 8 hex digits), the result is truncated to 54 chars (trailing '-'
 * trimmed again) and "-<8 hex of SHA-256(raw name)>" appended; an empty base gives
 * "x-<hash>". So the slug is a valid DNS-1123 label and label value, unchanged names map to
 * themselves, and distinct names never share a slug short of a 32-bit hash collision.
 * out gets the NUL-terminated slug; outlen must be > K8S_SLUG_MAX (else JP_ERANGE). Returns
 * the slug's length, or JP_EINVAL (NULL arguments). */
int k8s_slug(const char *in, char *out, size_t outlen);

#endif
