// c-hello: the `hello` plugin in C. It returns its input in upper case, as
// Rust's `str::to_uppercase` does (full Unicode case mapping, from the table
// tests/all/polyglot_upper.rs generates: wasi-libc's `towupper` maps one
// character to one).

#include <stdint.h>

#include "plugbox.h"
#include "upper_table.h"

#define UPPER_ENTRIES (sizeof(upper_table) / sizeof(upper_table[0]))

// The next character of `s` (of `len` bytes) at `*at`, advancing `*at`;
// -1 where the bytes there are not valid UTF-8 (overlong forms, surrogates
// and values past U+10FFFF included).
static int32_t decode(const uint8_t *s, size_t len, size_t *at) {
    size_t i = *at;
    uint8_t b = s[i];
    uint32_t c, min;
    size_t n;
    if (b < 0x80) {
        *at = i + 1;
        return b;
    } else if ((b & 0xe0) == 0xc0) {
        n = 2, c = b & 0x1f, min = 0x80;
    } else if ((b & 0xf0) == 0xe0) {
        n = 3, c = b & 0x0f, min = 0x800;
    } else if ((b & 0xf8) == 0xf0) {
        n = 4, c = b & 0x07, min = 0x10000;
    } else {
        return -1;
    }
    if (len - i < n) {
        return -1;
    }
    for (size_t k = 1; k < n; k++) {
        if ((s[i + k] & 0xc0) != 0x80) {
            return -1;
        }
        c = (c << 6) | (s[i + k] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
        return -1;
    }
    *at = i + n;
    return (int32_t)c;
}

static size_t encode(uint32_t c, uint8_t *out) {
    if (c < 0x80) {
        out[0] = (uint8_t)c;
        return 1;
    } else if (c < 0x800) {
        out[0] = (uint8_t)(0xc0 | (c >> 6));
        out[1] = (uint8_t)(0x80 | (c & 0x3f));
        return 2;
    } else if (c < 0x10000) {
        out[0] = (uint8_t)(0xe0 | (c >> 12));
        out[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
        out[2] = (uint8_t)(0x80 | (c & 0x3f));
        return 3;
    }
    out[0] = (uint8_t)(0xf0 | (c >> 18));
    out[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3f));
    out[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
    out[3] = (uint8_t)(0x80 | (c & 0x3f));
    return 4;
}

// The table's row for `c`, or NULL where `c` is its own upper case.
static const uint32_t *upper_of(uint32_t c) {
    size_t low = 0, high = UPPER_ENTRIES;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (upper_table[middle][0] < c) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return low < UPPER_ENTRIES && upper_table[low][0] == c ? upper_table[low] : NULL;
}

// Sets `err` to the guest error for invalid UTF-8 at byte `index` (the
// message Go's kit gives; no printf, which would add 40 KB).
static void invalid_at(plugin_string_t *err, size_t index) {
    static const char prefix[] = "input is not valid UTF-8: invalid byte at index ";
    char digits[20];
    size_t count = 0;
    do {
        digits[count++] = (char)('0' + index % 10);
        index /= 10;
    } while (index > 0);
    err->len = sizeof prefix - 1 + count;
    err->ptr = malloc(err->len);
    memcpy(err->ptr, prefix, sizeof prefix - 1);
    for (size_t k = 0; k < count; k++) {
        err->ptr[sizeof prefix - 1 + k] = (uint8_t)digits[count - 1 - k];
    }
}

bool exports_plugbox_plugin_handler_handle(plugin_list_u8_t *input, plugin_list_u8_t *ret,
                                           plugin_string_t *err) {
    // An upper case is at most three times as long in UTF-8 (U+0390, two
    // bytes, is three two-byte characters).
    uint8_t *out = malloc(input->len * 3 + 1);
    size_t written = 0;
    for (size_t at = 0; at < input->len;) {
        size_t start = at;
        int32_t c = decode(input->ptr, input->len, &at);
        if (c < 0) {
            invalid_at(err, start);
            free(out);
            plugin_list_u8_free(input);
            return false;
        }
        const uint32_t *row = upper_of((uint32_t)c);
        if (!row) {
            written += encode((uint32_t)c, out + written);
            continue;
        }
        for (int k = 1; k < 4 && row[k]; k++) {
            written += encode(row[k], out + written);
        }
    }
    ret->ptr = out;
    ret->len = written;
    plugin_list_u8_free(input);
    return true;
}
