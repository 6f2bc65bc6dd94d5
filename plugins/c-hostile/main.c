// c-hostile: the hostile plugins (plugins/spin, plugins/grow) in C. The
// request names the attack:
//
//   spin   loops forever (the call's deadline, or its fuel, must stop it);
//   bomb   mallocs and touches 1 MiB blocks without end (the memory limit
//          must stop it: malloc returns NULL, and the plugin aborts, a trap);
//   throw  aborts (a bug: the call traps);
//   noop   answers ok.

#include "plugbox.h"

static volatile unsigned long counter;
static void *volatile blocks;

static bool is(const plugin_list_u8_t *input, const char *word) {
    size_t len = strlen(word);
    return input->len == len && memcmp(input->ptr, word, len) == 0;
}

bool exports_plugbox_plugin_handler_handle(plugin_list_u8_t *input, plugin_list_u8_t *ret,
                                           plugin_string_t *err) {
    if (is(input, "spin")) {
        for (;;) {
            counter++;
        }
    }
    if (is(input, "bomb")) {
        for (;;) {
            // Each block links the previous one, from a global: reachable,
            // so the compiler may not drop the allocation.
            void **block = malloc(1 << 20);
            if (!block) {
                abort();
            }
            memset(block, 0x5a, 1 << 20);
            *block = blocks;
            blocks = block;
        }
    }
    if (is(input, "throw")) {
        abort();
    }
    if (is(input, "noop")) {
        plugbox_response(ret, "ok", 2);
        plugin_list_u8_free(input);
        return true;
    }
    static const char prefix[] = "unknown attack ";
    err->len = sizeof prefix - 1 + input->len;
    err->ptr = malloc(err->len);
    memcpy(err->ptr, prefix, sizeof prefix - 1);
    memcpy(err->ptr + sizeof prefix - 1, input->ptr, input->len);
    plugin_list_u8_free(input);
    return false;
}
