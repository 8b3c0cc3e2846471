/* A loadable module for tests/test_module.c, built three ways by
 * tests/meson.build: FIXTURE_ABI is the ABI number its table carries and
 * FIXTURE_SYMBOL the name it exports the table under. */
struct module_fixture_api {
    int abi_version;
    int (*answer)(void);
};

static int answer(void)
{
    return 42;
}

extern __attribute__((visibility("default")))
const struct module_fixture_api FIXTURE_SYMBOL;
const struct module_fixture_api FIXTURE_SYMBOL = {
    .abi_version = FIXTURE_ABI,
    .answer = answer,
};
