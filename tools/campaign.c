/* list_campaigns: the account's campaigns, a page at a time, from MSG91's
 * campaign backend (family 2 answers). Older backends spell some fields
 * differently (channels as "1,2", is_active as 0/1); both are read. */
#include "tools/impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/answer.h"
#include "tools/args.h"
#include "tools/listing.h"
#include "tools/request.h"

int list_campaigns_build(const struct tool_build_ctx *ctx, json_t *args,
                         struct http_request *req, char **error)
{
    struct request_values v;
    request_values_init(&v);
    if (args_put_page(&v, args, 25, error) != 0) {
        request_values_finish(&v);
        return -1;
    }
    /* The backend's filters: campaigns whose name contains the text, and
     * active or inactive ones. It reads is_active with PHP's (bool), to
     * which the word "false" is true, so it is sent as 1 or 0. */
    request_put_arg(&v, args, "name");
    json_t *active = json_object_get(args, "is_active");
    if (json_is_boolean(active))
        request_put_int(&v, "is_active", json_is_true(active) ? 1 : 0);
    return request_build(ctx, &v, req, error);
}

/* An integer, or a string of decimal digits as older backends send ids.
 * Returns 0 and sets *out, or -1. */
static int as_int(json_t *v, json_int_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    const char *s = json_string_value(v);
    if (!s || !s[0] || strlen(s) > 18)
        return -1;
    json_int_t n = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        n = n * 10 + (*p - '0');
    }
    *out = n;
    return 0;
}

/* The channel ids of a campaign: [{"channel_id":1,...}], [1,2] or "1,2".
 * Returns a new reference, or NULL when the value is none of these. */
static json_t *channel_ids(json_t *channels)
{
    json_t *ids = json_array();
    if (!ids)
        return NULL;
    if (json_is_array(channels)) {
        size_t i;
        json_t *c;
        json_array_foreach(channels, i, c) {
            json_int_t id;
            json_t *v = json_is_object(c) ? json_object_get(c, "channel_id") : c;
            if (as_int(v, &id) != 0 || json_array_append_new(ids, json_integer(id)))
                goto fail;
        }
        return ids;
    }
    const char *s = json_string_value(channels);
    if (!s)
        goto fail;
    while (*s) {
        while (*s == ' ' || *s == ',')
            s++;
        if (!*s)
            break;
        if (*s < '0' || *s > '9')
            goto fail;
        json_int_t id = 0;
        int n = 0;
        while (*s >= '0' && *s <= '9' && n++ < 18)
            id = id * 10 + (*s++ - '0');
        if ((*s != ',' && *s != ' ' && *s) ||
            json_array_append_new(ids, json_integer(id)))
            goto fail;
    }
    return ids;

fail:
    json_decref(ids);
    return NULL;
}

/* is_active as true/false, 0/1 or "0"/"1". Returns 0 and sets *out, or -1. */
static int as_bool(json_t *v, bool *out)
{
    json_int_t n;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (as_int(v, &n) == 0 && (n == 0 || n == 1)) {
        *out = n == 1;
        return 0;
    }
    return -1;
}

/* One campaign of our result, or NULL with *what saying what was wrong. */
static json_t *campaign(json_t *item, const char **what)
{
    json_int_t id;
    const char *name = json_string_value(json_object_get(item, "name"));
    if (as_int(json_object_get(item, "id"), &id) != 0) {
        *what = "a campaign has no integer \"id\"";
        return NULL;
    }
    if (!name) {
        *what = "a campaign has no \"name\"";
        return NULL;
    }
    json_t *c = json_pack("{s:I, s:s}", "id", id, "name", name);
    if (!c) {
        *what = NULL;
        return NULL;
    }
    json_t *slug = json_object_get(item, "slug");
    if (json_is_string(slug) && json_object_set(c, "slug", slug))
        goto nomem;
    json_t *active = json_object_get(item, "is_active");
    bool on;
    if (active && !json_is_null(active)) {
        if (as_bool(active, &on) != 0) {
            json_decref(c);
            *what = "a campaign's \"is_active\" is neither a boolean nor 0/1";
            return NULL;
        }
        if (json_object_set_new(c, "is_active", json_boolean(on)))
            goto nomem;
    }
    json_t *channels = json_object_get(item, "channels");
    if (channels && !json_is_null(channels)) {
        json_t *ids = channel_ids(channels);
        if (!ids) {
            json_decref(c);
            *what = "a campaign's \"channels\" is neither a list nor \"1,2\"";
            return NULL;
        }
        if (json_object_set_new(c, "channels", ids))
            goto nomem;
    }
    return c;

nomem:
    json_decref(c);
    *what = NULL;
    return NULL;
}

/* An answer_item_fn: one campaign. */
static json_t *campaign_item(json_t *item, size_t index, char *what, size_t what_size)
{
    (void)index;
    const char *wrong = NULL;
    json_t *c = campaign(item, &wrong);
    if (!c && wrong)
        snprintf(what, what_size, "%s", wrong);
    return c;
}

/* The success of list_campaigns: one page of campaigns and the counts. */
static void read_campaigns(const struct answer *a, const struct http_response *resp,
                           json_t *args, struct tool_outcome *out)
{
    json_t *list = json_object_get(a->data, "data");
    if (!json_is_array(list)) {
        answer_wrong_shape(resp, NULL, "\"data.data\" is not a list of campaigns", out);
        return;
    }
    json_t *campaigns;
    if (answer_list(resp, NULL, list, campaign_item, &campaigns, out) != 0)
        return;
    static const char *const page_names[] = {"pageNo", "pageNumber", NULL};
    static const char *const total_names[] = {"totalEntityCount", "total", NULL};
    static const char *const pages_names[] = {"totalPageCount", "totalPages", NULL};
    static const char *const size_names[] = {"itemsPerPage", NULL};
    json_int_t page =
        listing_int(a->data, page_names, 1, args_integer_or(args, "page", 1));
    json_int_t total =
        listing_int(a->data, total_names, 0, (json_int_t)json_array_size(list));
    json_int_t size =
        listing_int(a->data, size_names, 0, args_integer_or(args, "limit", 25));
    json_int_t pages =
        listing_int(a->data, pages_names, 0, size > 0 ? (total + size - 1) / size : 0);
    answer_success(out, campaigns ? json_pack("{s:o, s:I, s:I, s:I}", "campaigns",
                                              campaigns, "page", page, "total_pages",
                                              pages, "total", total)
                                  : NULL);
}

const struct answer_reader list_campaigns_reader = {.success = read_campaigns};
