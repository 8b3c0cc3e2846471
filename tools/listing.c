#include "tools/listing.h"

#include <stdio.h>

/* The one array member of obj, or NULL when it has none or several. */
static json_t *only_array(json_t *obj)
{
    json_t *found = NULL;
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        if (!json_is_array(v))
            continue;
        if (found)
            return NULL;
        found = v;
    }
    return found;
}

/* The array member named by one of names, or NULL. */
static json_t *named_array(json_t *obj, const char *const *names)
{
    for (size_t i = 0; names[i]; i++) {
        json_t *v = json_object_get(obj, names[i]);
        if (json_is_array(v))
            return v;
    }
    return NULL;
}

json_t *listing_find(json_t *root, const char *const *names, json_t **holder)
{
    static const char *const data_names[] = {"data", NULL};
    *holder = root;
    if (json_is_array(root))
        return root;
    json_t *data = json_object_get(root, "data");
    if (json_is_array(data))
        return data;
    json_t *list;
    if (json_is_object(data)) {
        *holder = data;
        if ((list = named_array(data, data_names)) || (list = named_array(data, names)))
            return list;
    }
    *holder = root;
    if ((list = named_array(root, names)))
        return list;
    if (json_is_object(data) && (list = only_array(data))) {
        *holder = data;
        return list;
    }
    return only_array(root);
}

json_int_t listing_int(json_t *obj, const char *const *names, json_int_t min,
                       json_int_t fallback)
{
    for (size_t i = 0; names[i]; i++) {
        json_t *v = json_object_get(obj, names[i]);
        if (json_is_integer(v) && json_integer_value(v) >= min)
            return json_integer_value(v);
    }
    return fallback;
}

int listing_copy_string(json_t *dst, const char *to, json_t *src,
                        const char *const *names)
{
    for (size_t i = 0; names[i]; i++) {
        json_t *v = json_object_get(src, names[i]);
        if (json_is_string(v))
            return json_object_set(dst, to, v);
        if (json_is_integer(v)) {
            char buf[32];
            snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            return json_object_set_new(dst, to, json_string(buf));
        }
    }
    return 0;
}

int listing_keep(json_t *dst, json_t *item)
{
    return json_object_set(dst, "upstream", item);
}
