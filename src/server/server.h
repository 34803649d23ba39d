/*
 * server.h - `mobilesam serve`: the model kept warm behind a local HTTP
 * API (libmicrohttpd), for the web page, labeling tools and any HTTP
 * client. The API and its rules are in the README ("The server").
 */
#ifndef MOBILESAM_SERVER_H
#define MOBILESAM_SERVER_H

#include <stddef.h>

#include "mobilesam.h"

typedef struct {
    const char *images_dir; /* folder mode: NULL for uploads only */
    int recursive;          /* with images_dir: its subfolders too */
    const char *host;       /* address to bind: "127.0.0.1" by default */
    int port;               /* 0: any free port (the ready line tells) */
    size_t cache_bytes;     /* embeddings and images kept */
    const char *output_dir; /* annotations saved here; NULL: no saving */
    const char *token;      /* Bearer token for /v1; NULL: none */
    size_t max_body;        /* request body limit in bytes */
    int timeout_s;          /* a request must arrive within this */
    int queue;              /* engine jobs that may wait (more: 503) */
    int threads;            /* the engine's, for /v1/health */
} server_config;

/* Checks the configuration (address, folders), starts listening, prints
 * one line with the URL on stdout, serves until SIGINT or SIGTERM, then
 * stops accepting, finishes the requests in flight and returns 0. Returns
 * 1 (data: a folder, the port in use) or 2 (usage: a non-loopback address
 * without a token) after one line on stderr. */
int server_run(const server_config *cfg, mobilesam_model *model);

#endif
