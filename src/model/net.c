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
    int rc = image_encoder_load(&net->enc, &c);
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
    prompt_encoder_free(&net->dec);
}
