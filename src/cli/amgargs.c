/*
 * amgargs.c - see amgargs.h. The names and ranges are the shared table of
 * format/amgopts.h.
 */
#include "amgargs.h"

#include "args.h"
#include "common.h"
#include "format/amgopts.h"

_Static_assert(AMGARGS_N == AMGOPTS_N, "one flag per generator option");

void amgargs_init(amg_args *a)
{
    mobilesam_amg_defaults(&a->opt);
    a->given = 0;
}

int amgargs_take(amg_args *a, const char *cmd, int index, const char *value)
{
    if (index < 0 || index >= AMGARGS_N)
        return cli_usage(cmd, "internal error: bad option index");
    const amgopt_info *o = &amgopts[index];
    if (a->given & (1u << index))
        return cli_usage(cmd, "option '--%s' given twice", o->name);
    a->given |= 1u << index;
    double v;
    if (o->is_int) {
        long l;
        if (args_parse_int(value, (long)o->lo, (long)o->hi, &l))
            return cli_usage(cmd,
                             "--%s: expected an integer in %ld..%ld, got '%s'",
                             o->name, (long)o->lo, (long)o->hi, value);
        v = (double)l;
    } else {
        float f;
        if (args_parse_float(value, &f) || !amgopt_in_range(index, f))
            return cli_usage(cmd, "--%s: expected a number in [%g, %g%c, got '%s'",
                             o->name, (float)o->lo, (float)o->hi,
                             o->open_hi ? ')' : ']', value);
        v = f;
    }
    amgopt_set(&a->opt, index, v);
    return 0;
}
