/*
 * api.h - the /v1 endpoints of `mobilesam serve`, apart from HTTP: each
 * request comes in as method, path, query and body, and goes out as a
 * reply (status, content type, body). server.c does the HTTP.
 */
#ifndef MOBILESAM_SERVER_API_H
#define MOBILESAM_SERVER_API_H

#include <pthread.h>
#include <stddef.h>

#include "format/imglist.h"
#include "server/server.h"
#include "server/store.h"

typedef struct {
    const server_config *cfg;
    mobilesam_model *model;
    store images;
    engine_gate gate;
    img_list folder;   /* folder mode: the images of IMAGES_DIR */
    char *folder_real; /* its real path */
    pthread_mutex_t save_mu; /* one annotation save at a time */
} api_ctx;

typedef struct {
    int status;
    char *body; /* malloc'd */
    size_t len;
    const char *type;  /* content type */
    const char *allow; /* for 405: the methods allowed */
    char timing[64];   /* Server-Timing header, or "" */
} api_reply;

/* Sets up the store, the gate and the folder list. Returns 0, or -1 after
 * one line on stderr. */
int api_init(api_ctx *a, const server_config *cfg, mobilesam_model *model);
void api_free(api_ctx *a);

/* Answers one request to a path under /v1 (path without the "/v1").
 * `query_path` is the decoded ?path= argument or NULL. Never fails: errors
 * are replies ({"error": "..."}); only a reply body that cannot be
 * allocated leaves reply->body NULL (the caller answers 500 without one). */
void api_handle(api_ctx *a, const char *method, const char *path,
                const char *query_path, const char *body, size_t len,
                api_reply *reply);

/* The request parsers alone, without an engine (for the fuzzer): which
 * 0 a predict body, 1 an everything body, 2 an annotations body, for an
 * image of width x height. Returns 0 when accepted, -1 when refused. */
int api_parse_only(int which, const char *body, size_t len, int width, int height);

/* {"error": msg} with this status. */
void api_error(api_reply *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
