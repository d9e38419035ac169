/*
 * k8s_yaml.h - YAML (1.1/1.2 subset as Kubernetes uses it) to jansson, with libyaml.
 *
 * Reads exactly one document (an empty stream is an error; a second document is an error).
 * Plain scalars are typed per the YAML 1.2 core schema: null, ~ and the empty plain scalar are
 * null; true/false (also True/TRUE/False/FALSE) are booleans; decimal, 0o octal and 0x hex
 * integers are integers; decimal/exponent floats, .inf/-.inf/.nan are reals; everything else,
 * and every quoted, literal or folded scalar, is a string. Tagged scalars (!!str, !!int...)
 * honour the tag. Mapping keys must be scalars (they become strings; duplicate keys: last
 * wins); anything else is rejected. Anchors and aliases are allowed, with the total number of
 * nodes produced (after alias expansion) bounded so a "billion laughs" document fails instead
 * of eating memory. Merge keys (<<) are not special. Errors carry "line L, column C" (1-based).
 * No I/O except k8s_yaml_load_file. JSON is YAML, so JSON files load too.
 */
#ifndef K8S_YAML_H
#define K8S_YAML_H

#include <stddef.h>

#include <jansson.h>

/* Largest file k8s_yaml_load_file reads. */
#define K8S_YAML_MAX_FILE ((size_t)4 << 20)
/* Most JSON values one document may produce, alias expansion included. */
#define K8S_YAML_MAX_NODES 1000000

/* Parse text[0..len) (need not be NUL-terminated). Returns a new reference (a document whose
 * root is a scalar gives that scalar), or NULL with a message in why (may be NULL). */
json_t *k8s_yaml_parse(const char *text, size_t len, char *why, size_t whylen);

/* Read and parse a file of at most K8S_YAML_MAX_FILE bytes. New reference, or NULL with why
 * ("<path>: ..." for I/O errors, "<path>: line L, column C: ..." for syntax errors). */
json_t *k8s_yaml_load_file(const char *path, char *why, size_t whylen);

#endif
