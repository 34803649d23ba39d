/*
 * net.c - assembles the whole network from a weight file.
 */
#include <stdio.h>
#include <string.h>

#include "model/model.h"


int net_load(msam_net *net, const wt_file *f, char *err, size_t errlen)
{
    memset(net, 0, sizeof *net);
    wt_ctx c = {f, err, errlen, 0, 0};
    net->kind = f->kind;
    int rc;
    if (f->kind == WT_MODEL_SAM_VIT) {
        if (vit_config_parse(f->config, f->config_len, &net->vit.cfg, err, errlen)) {
            net_free(net);
            return -1;
        }
        rc = vit_encoder_load(&net->vit, &c);
    } else {
        rc = image_encoder_load(&net->enc, &c);
    }
    if (!rc) rc = prompt_encoder_load(&net->dec, &c);
    if (!rc) rc = mask_decoder_load(&net->dec, &c);
    if (rc) {
        int oom = c.oom || !c.failed; /* loaders fail silently only on allocation */
        if (!c.failed) snprintf(err, errlen, "out of memory");
        net_free(net);
        return oom ? -2 : -1;
    }
    return 0;
}

void net_free(msam_net *net)
{
    image_encoder_free(&net->enc);
    vit_encoder_free(&net->vit);
    prompt_encoder_free(&net->dec);
}

int net_encode(const msam_net *net, const float *input, float *embedding, enc_tap_fn tap,
               void *tap_ctx)
{
    if (net->kind == WT_MODEL_SAM_VIT)
        return vit_encoder_forward(&net->vit, input, embedding, tap, tap_ctx);
    return image_encoder_forward(&net->enc, input, embedding, tap, tap_ctx);
}

int net_set_precision(msam_net *net, int precision)
{
    net->precision = precision;
    return 0;
}

const char *net_model_type(const msam_net *net)
{
    return net->kind == WT_MODEL_SAM_VIT ? net->vit.cfg.model : "vit_t";
}
