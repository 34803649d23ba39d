/*
 * server.c - see server.h. HTTP is libmicrohttpd's, one thread per
 * connection (a request waiting for the engine holds only its own thread),
 * at most MAX_CONNECTIONS at once. This file decides who may ask what:
 * the token, the body limit (from Content-Length before reading, and while
 * reading a chunked body), the Host header of a loopback server, slow
 * clients (a watchdog closes a connection whose request has not arrived
 * within --timeout seconds), and the shutdown on SIGINT/SIGTERM.
 */
#define _GNU_SOURCE
#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "format/report.h"
#include "server/api.h"
#include "server/web_assets.h"

#define MAX_CONNECTIONS 256

typedef struct conn_state {
    int fd;
    double since;     /* when the current request began arriving */
    int receiving;    /* 0 while a request is being answered */
    int shut;
    struct conn_state *prev, *next;
} conn_state;

typedef struct {
    api_ctx api;
    const server_config *cfg;
    int loopback; /* bound to a loopback address */
    atomic_int in_flight;
    atomic_size_t buffered; /* bytes of request bodies held, all requests */
    pthread_mutex_t conns_mu;
    conn_state *conns;
    int stop_watchdog;
} server;

typedef struct {
    int started;
    char *body;
    size_t len, cap;
    int too_big;
    int crowded; /* the bodies of all requests passed BODIES_MAX */
} request;

/* Request bodies held at once, all connections together: 4 times the
 * per-request limit (256 MiB by default), so that many clients uploading
 * at once cannot exhaust memory (the last ones get 503). */
#define BODIES_MAX(s) (4 * (s)->cfg->max_body)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- replies ------------------------------------------------------------ */

static enum MHD_Result send_reply(struct MHD_Connection *c, int status,
                                  const char *type, char *body, size_t len,
                                  const char *allow, const char *timing, int auth)
{
    struct MHD_Response *resp;
    if (body)
        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    else
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    if (timing && timing[0])
        MHD_add_response_header(resp, "Server-Timing", timing);
    if (auth)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status,
                                  const char *allow, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static enum MHD_Result send_error(struct MHD_Connection *c, int status,
                                  const char *allow, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    api_reply r = {0};
    api_error(&r, status, "%s", msg);
    return send_reply(c, status, "application/json", r.body, r.len, allow, NULL,
                      status == 401);
}

/* ---- checks before the body --------------------------------------------- */

static int token_ok(const server *s, struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7))
        return 0;
    const char *given = h + 7, *want = s->cfg->token;
    size_t n = strlen(want), m = strlen(given);
    unsigned diff = (unsigned)(n ^ m); /* compared in constant time */
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)want[i] ^ (unsigned char)(i < m ? given[i] : 0);
    return diff == 0;
}

/* A loopback server without a token answers only requests addressed to a
 * loopback name: a web page elsewhere cannot reach it through a DNS name
 * that resolves to 127.0.0.1 (DNS rebinding). */
static int host_ok(const server *s, struct MHD_Connection *c)
{
    if (!s->loopback || s->cfg->token)
        return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (!h)
        return 1; /* HTTP/1.0 */
    char name[256];
    snprintf(name, sizeof name, "%s", h);
    char *end = name[0] == '[' ? strchr(name, ']') : strrchr(name, ':');
    if (name[0] == '[' && end)
        end[1] = 0;
    else if (end)
        *end = 0;
    return !strcasecmp(name, "localhost") || !strncmp(name, "127.", 4) ||
           !strcmp(name, "[::1]");
}

static long long content_length(struct MHD_Connection *c)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!v)
        return -1;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    return (errno || *end || n < 0) ? -1 : n;
}

/* ---- the access handler -------------------------------------------------- */

static conn_state *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return i ? (conn_state *)i->socket_context : NULL;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version,
                              const char *upload, size_t *upload_size, void **req_cls)
{
    (void)version;
    server *s = cls;
    request *rq = *req_cls;
    if (!rq) { /* headers complete: decide before any body is read */
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        *req_cls = rq;
        atomic_fetch_add(&s->in_flight, 1);
        rq->started = 1;
        if (!host_ok(s, c))
            return send_error(c, 403, NULL, "Host header not a loopback name "
                                            "(DNS rebinding protection)");
        int api = !strncmp(url, "/v1/", 4) || !strcmp(url, "/v1");
        if (!api) {
            if (strcmp(method, "GET") && strcmp(method, "HEAD"))
                return send_error(c, 405, "GET, HEAD", "%s not allowed here (GET)",
                                  method);
            const web_asset *w = web_find(url);
            if (!w)
                return send_error(c, 404, NULL, "no such page: %s", url);
            struct MHD_Response *resp = MHD_create_response_from_buffer(
                w->size, (void *)w->data, MHD_RESPMEM_PERSISTENT);
            if (!resp)
                return MHD_NO;
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, w->type);
            MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
            MHD_add_response_header(resp, "Content-Security-Policy",
                                    "default-src 'self'; img-src 'self' blob: data:; "
                                    "style-src 'self' 'unsafe-inline'");
            enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, resp);
            MHD_destroy_response(resp);
            return rc;
        }
        if (s->cfg->token && !token_ok(s, c))
            return send_error(c, 401, NULL,
                              "missing or wrong token (Authorization: Bearer TOKEN)");
        long long cl = content_length(c);
        if (cl > (long long)s->cfg->max_body)
            return send_error(c, 413, NULL,
                              "body of %lld bytes exceeds the limit of %zu bytes "
                              "(--max-body-mib)",
                              cl, s->cfg->max_body);
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body */
        size_t n = *upload_size;
        *upload_size = 0;
        if (rq->too_big)
            return MHD_YES;
        if (rq->len + n > s->cfg->max_body) {
            rq->too_big = 1; /* chunked: read on, keep nothing */
            atomic_fetch_sub(&s->buffered, rq->cap);
            free(rq->body);
            rq->body = NULL;
            rq->len = rq->cap = 0;
            return MHD_YES;
        }
        if (rq->len + n + 1 > rq->cap) {
            size_t cap = rq->cap ? rq->cap : 65536;
            while (cap < rq->len + n + 1)
                cap *= 2;
            if (atomic_fetch_add(&s->buffered, cap - rq->cap) + (cap - rq->cap) >
                BODIES_MAX(s)) {
                atomic_fetch_sub(&s->buffered, cap - rq->cap);
                rq->crowded = 1;
                rq->too_big = 1;
                atomic_fetch_sub(&s->buffered, rq->cap);
                free(rq->body);
                rq->body = NULL;
                rq->len = rq->cap = 0;
                return MHD_YES;
            }
            char *p = realloc(rq->body, cap);
            if (!p) {
                atomic_fetch_sub(&s->buffered, cap - rq->cap);
                return send_error(c, 503, NULL, "out of memory");
            }
            rq->body = p;
            rq->cap = cap;
        }
        memcpy(rq->body + rq->len, upload, n);
        rq->len += n;
        return MHD_YES;
    }
    /* the whole request is here */
    conn_state *cs = conn_of(c);
    if (cs)
        cs->receiving = 0;
    if (rq->crowded)
        return send_error(c, 503, NULL, "too many uploads at once: try again");
    if (rq->too_big)
        return send_error(c, 413, NULL, "body exceeds the limit of %zu bytes (--max-body-mib)",
                          s->cfg->max_body);
    const char *qpath = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "path");
    api_reply r;
    api_handle(&s->api, method, url + 3, qpath, rq->body ? rq->body : "", rq->len, &r);
    if (!r.body)
        return send_reply(c, 500, "application/json", NULL, 0, NULL, NULL, 0);
    return send_reply(c, r.status, r.type, r.body, r.len, r.allow, r.timing, 0);
}

static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    server *s = cls;
    request *rq = *req_cls;
    if (!rq)
        return;
    atomic_fetch_sub(&s->buffered, rq->cap);
    free(rq->body);
    free(rq);
    *req_cls = NULL;
    conn_state *cs = conn_of(c);
    if (cs) { /* the next request on this connection starts its clock now */
        cs->since = now_s();
        cs->receiving = 1;
    }
    atomic_fetch_sub(&s->in_flight, 1);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_state *cs = calloc(1, sizeof *cs);
        const union MHD_ConnectionInfo *i =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = cs;
        if (!cs)
            return;
        cs->fd = i ? i->connect_fd : -1;
        cs->since = now_s();
        cs->receiving = 1;
        pthread_mutex_lock(&s->conns_mu);
        cs->next = s->conns;
        if (s->conns)
            s->conns->prev = cs;
        s->conns = cs;
        pthread_mutex_unlock(&s->conns_mu);
    } else {
        conn_state *cs = *socket_context;
        if (!cs)
            return;
        pthread_mutex_lock(&s->conns_mu);
        if (cs->prev)
            cs->prev->next = cs->next;
        else
            s->conns = cs->next;
        if (cs->next)
            cs->next->prev = cs->prev;
        pthread_mutex_unlock(&s->conns_mu);
        free(cs);
        *socket_context = NULL;
    }
}

/* Closes connections whose request has been arriving for longer than the
 * timeout (a client sending a byte a second is never idle, so libmicrohttpd's
 * own idle timeout would not catch it). */
static void *watchdog(void *arg)
{
    server *s = arg;
    while (1) {
        pthread_mutex_lock(&s->conns_mu);
        if (s->stop_watchdog) {
            pthread_mutex_unlock(&s->conns_mu);
            return NULL;
        }
        double now = now_s();
        for (conn_state *cs = s->conns; cs; cs = cs->next)
            if (cs->receiving && !cs->shut && cs->fd >= 0 &&
                now - cs->since > s->cfg->timeout_s) {
                shutdown(cs->fd, SHUT_RDWR);
                cs->shut = 1;
            }
        pthread_mutex_unlock(&s->conns_mu);
        poll(NULL, 0, 250);
    }
}

/* ---- start and stop ------------------------------------------------------ */

static int stop_pipe[2] = {-1, -1};

static void on_stop_signal(int sig)
{
    (void)sig;
    int saved = errno;
    if (write(stop_pipe[1], "x", 1) < 0) { /* nothing to do */
    }
    errno = saved;
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    (void)fmt;
    (void)ap; /* libmicrohttpd's own notes (a client that went away): not ours */
}

static int is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return 0;
}

int server_run(const server_config *cfg, mobilesam_model *model)
{
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int gai = getaddrinfo(cfg->host, NULL, &hints, &ai);
    if (gai || !ai) {
        report_cmd_error("serve", "--host %s: %s", cfg->host, gai_strerror(gai));
        return 2;
    }
    struct sockaddr_storage addr;
    memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    int loopback = is_loopback((struct sockaddr *)&addr);
    if (!loopback && !cfg->token) {
        report_cmd_error("serve",
                         "--host %s is not a loopback address: give --token TOKEN to "
                         "serve other machines (see 'mobilesam serve --help')",
                         cfg->host);
        return 2;
    }
    if (addr.ss_family == AF_INET)
        ((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)cfg->port);
    else
        ((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)cfg->port);

    static server s; /* the handlers' context for the daemon's life */
    memset(&s, 0, sizeof s);
    s.cfg = cfg;
    s.loopback = loopback;
    pthread_mutex_init(&s.conns_mu, NULL);
    if (api_init(&s.api, cfg, model))
        return 1;
    /* Connection threads allocate and free big buffers (images, masks):
     * fewer malloc arenas keep freed memory from piling up per thread. */
    mallopt(M_ARENA_MAX, 2);

    if (pipe(stop_pipe)) {
        report_cmd_error("serve", "cannot create a pipe: %s", strerror(errno));
        api_free(&s.api);
        return 1;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, handle, &s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
        MHD_OPTION_NOTIFY_COMPLETED, completed, &s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, &s,
        MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
        MHD_OPTION_END);
    if (!d) {
        report_cmd_error("serve", "cannot listen on %s port %d: %s", cfg->host, cfg->port,
                         errno ? strerror(errno) : "address in use or not available");
        api_free(&s.api);
        return 1;
    }
    const union MHD_DaemonInfo *li = MHD_get_daemon_info(d, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    int port = cfg->port;
    if (li && getsockname(li->listen_fd, (struct sockaddr *)&bound, &blen) == 0)
        port = ntohs(bound.ss_family == AF_INET6
                         ? ((struct sockaddr_in6 *)&bound)->sin6_port
                         : ((struct sockaddr_in *)&bound)->sin_port);
    pthread_t wd;
    int have_wd = pthread_create(&wd, NULL, watchdog, &s) == 0;

    char host[INET6_ADDRSTRLEN + 2];
    if (addr.ss_family == AF_INET6) {
        char a6[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&addr)->sin6_addr, a6, sizeof a6);
        snprintf(host, sizeof host, "[%s]", a6);
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&addr)->sin_addr, host, sizeof host);
    }
    printf("mobilesam serve: listening on http://%s:%d/\n", host, port);
    fflush(stdout);

    /* until SIGINT or SIGTERM */
    char byte;
    while (read(stop_pipe[0], &byte, 1) < 0 && errno == EINTR)
        ;
    /* stop accepting, let the requests in flight finish (slow ones are cut
     * by the watchdog), then close */
    MHD_socket lfd = MHD_quiesce_daemon(d);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    while (atomic_load(&s.in_flight) > 0)
        poll(NULL, 0, 20);
    MHD_stop_daemon(d);
    if (have_wd) {
        pthread_mutex_lock(&s.conns_mu);
        s.stop_watchdog = 1;
        pthread_mutex_unlock(&s.conns_mu);
        pthread_join(wd, NULL);
    }
    api_free(&s.api);
    fprintf(stderr, "mobilesam serve: stopped\n");
    return 0;
}
