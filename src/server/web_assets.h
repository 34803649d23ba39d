/*
 * web_assets.h - the web page's files (src/server/web/), compiled into the
 * binary at build time (src/server/embed_web.cmake writes the table).
 */
#ifndef MOBILESAM_SERVER_WEB_ASSETS_H
#define MOBILESAM_SERVER_WEB_ASSETS_H

#include <stddef.h>

typedef struct {
    const char *path; /* "/index.html" */
    const char *type; /* content type */
    const unsigned char *data;
    size_t size;
} web_asset;

/* The file served at `url` ("/" is "/index.html"), or NULL. */
const web_asset *web_find(const char *url);

#endif
