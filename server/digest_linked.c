/* digest_api() for the tests and benchmarks, which link server/digest.c. */
#include "server/digest.h"

extern const struct digest_api digest_module_table;

const struct digest_api *digest_api(void)
{
    return &digest_module_table;
}
