#include "tools/endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/dynbuf.h"
#include "util/msg.h"

/* What the resolution knows of each argument besides its place. */
struct slot {
    bool structured;  /* an object or array (tool_param.structured) */
    bool explicit;    /* placed by the override's params */
    bool in_template; /* the path names it */
};

static int fail(char **error, char *text)
{
    *error = text;
    return -1;
}

static const char *place_word(enum tool_place place)
{
    switch (place) {
    case TOOL_PLACE_PATH:
        return "path";
    case TOOL_PLACE_QUERY:
        return "query";
    case TOOL_PLACE_BODY:
    case TOOL_PLACE_MERGE:
        return "body";
    case TOOL_PLACE_OMIT:
        return "omit";
    case TOOL_PLACE_DEFAULT:
        break;
    }
    return "default";
}

int endpoint_parse_place(const char *spec, enum tool_place *place, const char **name)
{
    /* The places a spec may name, by their words (place_word). */
    static const enum tool_place named[] = {TOOL_PLACE_PATH, TOOL_PLACE_QUERY,
                                            TOOL_PLACE_BODY, TOOL_PLACE_OMIT};
    const char *colon = strchr(spec, ':');
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        const char *word = place_word(named[i]);
        if (strlen(word) == len && strncmp(spec, word, len) == 0) {
            if (colon && !colon[1])
                return -1;
            *place = named[i];
            *name = colon ? colon + 1 : NULL;
            return 0;
        }
    }
    return -1;
}

/* "a, b, c": the tool's arguments, for a sentence (malloc'd or NULL). */
static char *arg_names(const struct tool_def *t)
{
    struct dynbuf b;
    dynbuf_init(&b, 4096);
    if (!t->params || !t->params[0].arg)
        return strdup("it takes none");
    for (size_t i = 0; t->params[i].arg; i++)
        if ((i > 0 && dynbuf_append_str(&b, ", ") != DYNBUF_OK) ||
            dynbuf_append_str(&b, t->params[i].arg) != DYNBUF_OK)
            return NULL;
    return dynbuf_take(&b, NULL);
}

static int no_such_arg(const struct tool_def *t, const char *what, const char *name,
                       char **error)
{
    char *names = arg_names(t);
    *error = msg_format(
        "%s \"%s\", but %s has no argument of that name (%s%s).", what, name, t->name,
        names && strcmp(names, "it takes none") != 0 ? "its arguments: " : "",
        names ? names : "");
    free(names);
    return -1;
}

/* The index in plan of the argument arg (len bytes), or -1. */
static int find_arg(const struct endpoint_plan *plan, const char *arg, size_t len)
{
    for (size_t i = 0; i < plan->len; i++)
        if (strlen(plan->params[i].arg) == len &&
            strncmp(plan->params[i].arg, arg, len) == 0)
            return (int)i;
    return -1;
}

/* The override's params applied to the plan. */
static int apply_overrides(const struct tool_def *t, const struct tool_endpoint *ep,
                           struct slot *slots, struct endpoint_plan *plan, char **error)
{
    for (size_t i = 0; ep->params && ep->params[i].arg; i++) {
        const struct tool_param *o = &ep->params[i];
        int k = find_arg(plan, o->arg, strlen(o->arg));
        if (k < 0)
            return no_such_arg(t, "\"params\" places", o->arg, error);
        struct slot *s = &slots[k];
        struct endpoint_place *p = &plan->params[k];
        if (o->place == TOOL_PLACE_PATH && o->name)
            return fail(error, msg_format("\"path:%s\" for %s: an argument in the path "
                                          "is named by its {%s} placeholder and takes "
                                          "no upstream name.",
                                          o->name, o->arg, o->arg));
        if (o->place != TOOL_PLACE_DEFAULT) {
            p->place = o->place;
            s->explicit = true;
        }
        if (o->name)
            p->name = o->name;
    }
    return 0;
}

static char *bad_template(const char *path)
{
    return msg_format("The endpoint path \"%s\" has an unbalanced '{' or '}': fix "
                      "\"path\" under \"endpoints\" in the config file.",
                      path);
}

/* Every {name} of the path moves that argument into the path. */
static int scan_template(const struct tool_def *t, const char *path, struct slot *slots,
                         struct endpoint_plan *plan, char **error)
{
    const char *p = path;
    for (;;) {
        const char *open = strchr(p, '{');
        size_t lit = open ? (size_t)(open - p) : strlen(p);
        if (memchr(p, '}', lit))
            return fail(error, bad_template(path));
        if (!open)
            return 0;
        const char *close = strchr(open + 1, '}');
        if (!close || memchr(open + 1, '{', (size_t)(close - open - 1)))
            return fail(error, bad_template(path));
        size_t len = (size_t)(close - open - 1);
        if (len == 0)
            return fail(error, strdup("The endpoint path has an empty or overlong {...} "
                                      "placeholder: fix \"path\" under \"endpoints\" in "
                                      "the config file."));
        int k = find_arg(plan, open + 1, len);
        if (k < 0) {
            char *name = strndup(open + 1, len);
            char *what = msg_format("The path \"%s\" has the placeholder", path);
            int rc = name && what ? no_such_arg(t, what, name, error) : -1;
            free(name);
            free(what);
            return rc;
        }
        struct endpoint_place *e = &plan->params[k];
        if (slots[k].explicit && e->place != TOOL_PLACE_PATH)
            return fail(error, msg_format("The path \"%s\" names {%s}, but \"params\" "
                                          "puts %s in the %s.",
                                          path, e->arg, e->arg, place_word(e->place)));
        e->place = TOOL_PLACE_PATH;
        slots[k].in_template = true;
        p = close + 1;
    }
}

/* One argument's resolved place, checked against the method and template. */
static int check_place(const struct tool_endpoint *ep, struct slot *s,
                       struct endpoint_place *e, char **error)
{
    const char *arg = e->arg;
    bool get = strcmp(ep->method, "GET") == 0;
    if (e->place == TOOL_PLACE_PATH && !s->in_template)
        return fail(
            error, s->explicit
                       ? msg_format("\"params\" puts %s in the path, but the path \"%s\" "
                                    "has no {%s}.",
                                    arg, ep->path, arg)
                       : msg_format("%s travels in the path, but the path \"%s\" has no "
                                    "{%s}: add it, or place %s with \"params\" "
                                    "(\"query\", \"body\" or \"omit\").",
                                    arg, ep->path, arg, arg));
    if ((e->place == TOOL_PLACE_BODY || e->place == TOOL_PLACE_MERGE) && get) {
        if (s->explicit)
            return fail(error, msg_format("\"params\" puts %s in the body, but a GET "
                                          "request has no body: use \"query\".",
                                          arg));
        /* A GET body would be ignored, so the defaults move to the query. */
        e->place = TOOL_PLACE_QUERY;
    }
    if (s->structured && (e->place == TOOL_PLACE_PATH || e->place == TOOL_PLACE_QUERY))
        return fail(
            error,
            msg_format("%s is an object or a list: it can travel only in the "
                       "body (\"body\")%s or not at all (\"omit\"), not in the %s.",
                       arg, get ? ", which a GET request does not have," : "",
                       place_word(e->place)));
    return 0;
}

/* Two arguments sent under one name would overwrite each other. */
static int check_names(const struct endpoint_plan *plan, char **error)
{
    for (size_t i = 0; i < plan->len; i++) {
        const struct endpoint_place *a = &plan->params[i];
        if (a->place != TOOL_PLACE_QUERY && a->place != TOOL_PLACE_BODY)
            continue;
        for (size_t j = i + 1; j < plan->len; j++) {
            const struct endpoint_place *b = &plan->params[j];
            if (b->place == a->place && strcmp(a->name, b->name) == 0)
                return fail(error,
                            msg_format("%s and %s would both travel as \"%s\" in "
                                       "the %s.",
                                       a->arg, b->arg, a->name, place_word(a->place)));
        }
    }
    return 0;
}

int endpoint_plan(const struct tool_def *t, const struct tool_endpoint *ep,
                  struct endpoint_plan *plan, char **error)
{
    struct slot slots[ENDPOINT_MAX_PARAMS];
    memset(slots, 0, sizeof slots);
    memset(plan, 0, sizeof *plan);
    *error = NULL;
    for (size_t i = 0; t->params && t->params[i].arg; i++) {
        if (i == ENDPOINT_MAX_PARAMS)
            return fail(error, msg_format("%s has more arguments than the server can "
                                          "place.",
                                          t->name));
        const struct tool_param *d = &t->params[i];
        slots[i] = (struct slot){.structured = d->structured};
        plan->params[i] = (struct endpoint_place){
            .arg = d->arg, .place = d->place, .name = d->name ? d->name : d->arg};
        plan->len = i + 1;
    }
    if (apply_overrides(t, ep, slots, plan, error) != 0 ||
        scan_template(t, ep->path, slots, plan, error) != 0)
        return -1;
    for (size_t i = 0; i < plan->len; i++)
        if (check_place(ep, &slots[i], &plan->params[i], error) != 0)
            return -1;
    if (check_names(plan, error) != 0)
        return -1;
    for (size_t i = 0; i < plan->len; i++)
        if (plan->params[i].place == TOOL_PLACE_BODY ||
            plan->params[i].place == TOOL_PLACE_MERGE)
            plan->has_body = true;
    return 0;
}

const struct endpoint_place *endpoint_find(const struct endpoint_plan *plan,
                                           const char *arg)
{
    for (size_t i = 0; i < plan->len; i++)
        if (strcmp(plan->params[i].arg, arg) == 0)
            return &plan->params[i];
    return NULL;
}
