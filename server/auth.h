/*
 * auth.h - authentication and request checks, as Jupyter Server does them: the token (in
 * the Authorization header or the ?token= query, which then sets a login cookie), the login
 * cookie, XSRF for cookie-authenticated unsafe requests, the Host check (DNS rebinding) and
 * the Origin check for the REST API. Secrets are compared in constant time and never logged.
 */
#ifndef AUTH_H
#define AUTH_H

#include "srv.h"

/* Generate the per-start secrets (and the token when none was configured). 0 or -1. */
int auth_init(struct srv *s);
/* 0 when the request may go on (r->token_auth set when a token authenticated it); otherwise
 * resp holds the answer (403, 302 to the login page, 404 for a cross-origin API call). */
int auth_check(struct srv *s, struct srv_req *r, struct srv_resp *resp, int public_route);
/* Answer a CORS preflight (OPTIONS). */
void auth_cors_preflight(struct srv *s, struct srv_req *r, struct srv_resp *resp);
/* The value of cookie `name` from the Cookie header (malloc'd) or NULL. */
char *auth_cookie(struct srv_req *r, const char *name);
/* Set-Cookie for the login cookie and _xsrf (pages call this). */
void auth_set_login_cookie(struct srv *s, struct srv_resp *resp);
void auth_set_xsrf_cookie(struct srv *s, struct srv_resp *resp);
/* HMAC-SHA256 of msg under key, as 64 hex digits. */
void auth_hmac_hex(const char *key, const char *msg, char out[65]);
/* Constant-time check of a candidate token. */
int auth_token_ok(struct srv *s, const char *candidate);
/* The _xsrf value pages embed in forms. */
const char *auth_xsrf_value(struct srv *s);

#endif
