/*
 * web.h - serving the notebook web app (web.c): the app's page for its routes and the built
 * assets under /static, plus the HTML escaping the other pages share.
 */
#ifndef WEB_H
#define WEB_H

#include "jp_buf.h"
#include "srv.h"

/* The largest file /static serves (files are read whole, per request). */
#define WEB_MAX_FILE ((size_t)32 << 20)

/* GET {base}, {base}tree[/P], {base}notebooks/P (authenticated routes): <web-dir>/index.html
 * with __CNOTE_BASE__ replaced by the base URL (HTML-escaped) and __CNOTE_CONFIG__ by the
 * page config {"baseUrl", "autosaveSeconds", "version"} with '<', '>' and '&' written as
 * \u escapes, so it can sit in a <script type="application/json">. A placeholder page when
 * the app is not built. Sets the _xsrf cookie the app sends back in X-XSRFToken. */
int web_page(struct srv_req *r, struct srv_resp *resp);
/* GET {base}static/P (public): the regular file P below <web-dir>/static, never outside it
 * (symlinks resolved and checked), its .gz sibling when the client accepts gzip, ETag and
 * If-None-Match (304), long-lived caching for static/chunks/ (hashed names). 404 otherwise. */
int web_static(struct srv_req *r, struct srv_resp *resp);
/* Append s to b escaped for HTML text and attribute values (& < > " '). 0 or a jp_buf error. */
int web_html_escape(struct jp_buf *b, const char *s);

#endif
