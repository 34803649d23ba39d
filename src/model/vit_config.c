/*
 * vit_config.c - the configuration record of a SAM ViT weight file
 * (tools/WEIGHT_FORMAT.md, version 2): key=value lines, every key known,
 * every value in the range the engine runs. Pure parsing, no dependencies:
 * the weights fuzzer links it alone.
 */
#include <stdio.h>
#include <string.h>

#include "model/model.h"

static int cfg_fail(char *err, size_t errlen, const char *what, const char *key)
{
    snprintf(err, errlen, "weight file configuration: %s %s", what, key);
    return -1;
}

static int parse_int(const char *v, size_t n, int lo, int hi, int *out)
{
    long x = 0;
    if (n == 0 || n > 9) return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return -1;
        x = x * 10 + (v[i] - '0');
    }
    if (x < lo || x > hi) return -1;
    *out = (int)x;
    return 0;
}

int vit_config_parse(const char *text, size_t len, vit_config_t *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    struct {
        const char *key;
        int *dst, lo, hi;
    } ints[] = {
        {"patch", &cfg->patch, 16, 16}, /* the decoder takes a 64x64 embedding */
        {"width", &cfg->width, 1, 8192},
        {"depth", &cfg->depth, 1, VIT_MAX_DEPTH},
        {"heads", &cfg->heads, 1, 256},
        {"head_dim", &cfg->head_dim, 1, 1024},
        {"mlp_dim", &cfg->mlp_dim, 1, 65536},
        {"window", &cfg->window, 0, 64},
        {"out_chans", &cfg->out_chans, EMB_C, EMB_C},
    };
    enum { NI = sizeof ints / sizeof ints[0] };
    int seen[NI] = {0}, img = 0, have_model = 0;
    const char *glob = NULL;
    size_t glob_n = 0;
    for (size_t p = 0; p < len;) {
        const char *line = text + p, *nl = memchr(line, '\n', len - p);
        size_t n = nl ? (size_t)(nl - line) : len - p;
        p += n + (nl != NULL);
        if (n == 0) continue;
        const char *eq = memchr(line, '=', n);
        if (!eq) return cfg_fail(err, errlen, "malformed line", "(no '=')");
        size_t kn = (size_t)(eq - line), vn = n - kn - 1;
        const char *v = eq + 1;
        char key[32];
        snprintf(key, sizeof key, "%.*s", (int)(kn < 31 ? kn : 31), line);
        int known = 0;
        for (int i = 0; i < NI; i++)
            if (strlen(ints[i].key) == kn && memcmp(ints[i].key, line, kn) == 0) {
                if (parse_int(v, vn, ints[i].lo, ints[i].hi, ints[i].dst))
                    return cfg_fail(err, errlen, "bad or unsupported value for", key);
                seen[i] = known = 1;
            }
        if (kn == 8 && memcmp(line, "img_size", 8) == 0) {
            int x;
            if (parse_int(v, vn, ENC_IMG, ENC_IMG, &x))
                return cfg_fail(err, errlen, "bad or unsupported value for", key);
            img = known = 1;
        } else if (kn == 5 && memcmp(line, "model", 5) == 0) {
            if (vn == 0 || vn >= sizeof cfg->model)
                return cfg_fail(err, errlen, "bad value for", key);
            memcpy(cfg->model, v, vn);
            have_model = known = 1;
        } else if (kn == 6 && memcmp(line, "global", 6) == 0) {
            glob = v;
            glob_n = vn;
            known = 1;
        }
        if (!known) return cfg_fail(err, errlen, "unknown key", key);
    }
    for (int i = 0; i < NI; i++)
        if (!seen[i]) return cfg_fail(err, errlen, "lacks", ints[i].key);
    if (!img || !have_model || !glob) return cfg_fail(err, errlen, "lacks", "a key");
    if (cfg->heads * cfg->head_dim != cfg->width)
        return cfg_fail(err, errlen, "heads x head_dim is not", "width");
    int all_global = 1;
    for (size_t i = 0; i < glob_n;) { /* comma-separated block indices */
        size_t j = i;
        while (j < glob_n && glob[j] != ',') j++;
        int b;
        if (parse_int(glob + i, j - i, 0, cfg->depth - 1, &b))
            return cfg_fail(err, errlen, "bad block index in", "global");
        cfg->global[b] = 1;
        i = j + 1;
    }
    for (int b = 0; b < cfg->depth; b++) all_global &= cfg->global[b];
    if (!all_global && cfg->window < 1)
        return cfg_fail(err, errlen, "windowed blocks need", "window");
    return 0;
}
