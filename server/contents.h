/*
 * contents.h - the contents manager behind /api/contents (Jupyter Server's
 * FileContentsManager + LargeFileManager + FileCheckpoints, in C).
 *
 * Every function takes API paths ("a/b.ipynb", relative to the root, '/'-separated, no
 * leading slash; "" is the root; empty components and a trailing '/' are ignored) and answers
 * with an HTTP status code and a JSON document: the contents model on success, or an error
 * object {"message": ..., "reason": ...} on failure (reason null unless Jupyter sets one:
 * "bad type", "bad format"). On out-of-memory the status is 500 and *out may be NULL.
 *
 * Path rules, all in one place (contents.c resolve()): 400 for absolute paths, "." or ".."
 * components, backslashes, names longer than NAME_MAX, paths longer than PATH_MAX and paths
 * that are not UTF-8; hidden names (a component starting with '.') are 404 on reads and 400
 * on writes unless allow_hidden; anything whose realpath leaves the root - a symlink pointing
 * out, at any depth - is 404 "<path> is outside root contents directory" for every operation
 * and is never listed (stricter than Jupyter, which follows such links). A path taken from a
 * JSON body (copy_from) is refused with 400 if it holds a NUL byte; URL paths and the PATCH
 * target arrive as C strings, so the HTTP layer must refuse a decoded %00 itself (400).
 *
 * Writes are atomic (temporary file in the target's directory, fsync, rename, fsync of the
 * directory): a failed save leaves the old file as it was. A notebook is validated before
 * anything is replaced and written exactly as nbformat writes it (server/nbjson.h), so a
 * notebook fetched and PUT back unchanged is byte-identical on disk. Deleting is permanent
 * (no trash). Not thread-safe: one thread owns a manager. No HTTP and no sockets here:
 * server/api_contents.c is the thin HTTP layer over it.
 */
#ifndef CONTENTS_H
#define CONTENTS_H

#include <stddef.h>

#include <jansson.h>

struct contents_opts {
    int allow_hidden;      /* dot files visible and writable (Jupyter's allow_hidden) */
    size_t max_file_bytes; /* largest file read into a model, and largest single save (a file
                              or one chunk); 0 means 512 MiB */
};

struct contents; /* opaque */

/* A manager rooted at directory root (must exist; it is realpath'ed once here). o may be NULL
 * for the defaults. NULL on out-of-memory or a bad root. */
struct contents *contents_new(const char *root, const struct contents_opts *o);
/* NULL-safe. */
void contents_free(struct contents *c);

/* In every call below *out receives a new reference (the caller owns it) or NULL, and bodies
 * and models passed in are borrowed. */

/* GET: type NULL|"file"|"directory"|"notebook" (anything else counts as "file"), format
 * NULL|"text"|"base64" (others: 400 "Format 'x' is invalid"), content 0/1, hash 0/1. 200 with
 * the model: name, path, type, writable, created, last_modified, size (null for directories),
 * mimetype, content, format, hash, hash_algorithm - every key always present, the last two
 * null unless hash is 1 (sha256 of the file's bytes; directories never have one). Directory
 * content: entry models without content, sorted by name, hidden names (unless allow_hidden),
 * Jupyter's hide_globs, .ipynb_checkpoints, special files and links leaving the root left out.
 * Files: text if UTF-8 (or format "text": else 400 reason "bad format"), else base64 in lines
 * of 76 characters. Notebooks: the parsed v4 JSON with line lists joined, format "json",
 * mimetype null, plus "message" when the structure is invalid; unparsable, non-v4 or
 * non-UTF-8 notebooks are 400 "Unreadable Notebook: ...". 400 "bad type" when type and the
 * path disagree; 404 "file or directory 'p' does not exist"; 400 reason "too large" when the
 * content would exceed max_file_bytes. */
int contents_get(struct contents *c, const char *path, const char *type, const char *format,
                 int content, int hash, json_t **out);
/* POST on a directory: body NULL or {} -> untitled file; {"type": "notebook"|"directory"|
 * "file", "ext": ".txt"} -> untitled of that type (Untitled.ipynb, Untitled1.ipynb...;
 * untitled<ext>, untitled1<ext>...; "Untitled Folder", "Untitled Folder 1"...; a new notebook
 * receives its first checkpoint); {"copy_from": "a/b.ipynb"} -> copy into the directory as
 * b.ipynb if free, else b-Copy1.ipynb, b-Copy2.ipynb... (directories are copied recursively,
 * as FileContentsManager does; files byte for byte). 201 with the model (no content). 400
 * "Cannot POST to files, use PUT instead." when dir is a file, 404 "No such directory: dir"
 * when it does not exist, 404 when copy_from does not exist. */
int contents_create(struct contents *c, const char *dir, json_t *body, json_t **out);
/* PUT: model {"type", "format", "content", ["chunk"]}. NULL or {} -> contents_create(path);
 * {"copy_from"} -> 400 "Cannot copy with PUT, only POST". For an existing file a model
 * without type or content is 400 ("No file type provided", "No file content provided"); for a
 * new path the type defaults from the extension and a missing content makes an empty file or
 * notebook (ContentsManager.new). Unknown types count as "file". Files need format "text" or
 * "base64" (400 otherwise); notebooks must pass validation (400 "Invalid notebook ...", file
 * untouched) and get their first checkpoint when they have none; "directory" makes the
 * directory. chunk (LargeFileManager, files only): 1 replaces, any other integer appends
 * (-1 is the last); a failed append is undone. 200 if a file existed at path, 201 otherwise;
 * the returned model has no content. 404 "No such directory" when the parent is missing, 403
 * when the file or directory is not writable, 413 when the data exceeds max_file_bytes, 500
 * "Unexpected error while saving file: ..." when the write fails. */
int contents_save(struct contents *c, const char *path, json_t *model, json_t **out);
/* PATCH {"path": new}: leading slashes of new_path are ignored (it comes from a body, as in
 * Jupyter); NULL or the same path is a no-op. 200 with the new model; 409 "File already
 * exists: new" when the target exists; 404 when path or the target's directory does not
 * exist; 400 when moving a directory into itself. A symlink is renamed, never its target; the
 * file's checkpoint moves with it. */
int contents_rename(struct contents *c, const char *path, const char *new_path, json_t **out);
/* DELETE: 204 (*out NULL) or an error: 400 "Can't delete root", 404, 403 when not writable.
 * Directories are removed recursively (symlinks inside are unlinked, never followed), a
 * symlink is unlinked, and a file's checkpoint goes with it. */
int contents_delete(struct contents *c, const char *path, json_t **out);

/* Checkpoints: one per file, id "checkpoint", kept as
 * <dir>/.ipynb_checkpoints/<stem>-checkpoint<ext> next to it (copies keep mode and mtime). */
/* 200 with [] or [{"id": "checkpoint", "last_modified"}]; 404 when the file does not exist. */
int contents_checkpoints_list(struct contents *c, const char *path, json_t **out);
/* 201 with {"id", "last_modified"}; 400 for a directory; 404 when the file does not exist. */
int contents_checkpoint_create(struct contents *c, const char *path, json_t **out);
/* 204; 404 "Checkpoint does not exist: path@id" for another id or no checkpoint. Restoring
 * replaces the file atomically (and recreates it if it was deleted). */
int contents_checkpoint_restore(struct contents *c, const char *path, const char *id, json_t **out);
/* 204; 404 as for restore. */
int contents_checkpoint_delete(struct contents *c, const char *path, const char *id, json_t **out);

/* Resolve an API path to an absolute, symlink-free filesystem path inside the root (for
 * /files/ and kernel working directories) of an existing file or directory. 0 and a malloc'd
 * path (release with free), or an HTTP status (400/403/404; 500 on out-of-memory) and *out
 * NULL. */
int contents_fs_path(struct contents *c, const char *path, char **out);

#endif
