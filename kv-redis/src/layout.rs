//! Where a namespace's data lives in Redis.
//!
//! One hash per namespace, named [`PREFIX`] followed by the namespace: two
//! namespaces are two Redis keys, since the prefix is fixed. Inside it, each
//! of the plugin's keys is the field `k` followed by the key, and the field
//! `#` holds the namespace's total of key and value bytes. The guest's keys
//! are fields, never Redis keys: no key, whatever its bytes (`*`, `:`,
//! `{`, `\r\n`, `#`), can name another namespace or the total, and Redis is
//! binary-safe, so none is interpreted. The hash exists only while it holds
//! a key, and `HLEN` minus the total is the exact count of keys.

/// The start of every Redis key this backend writes.
pub const PREFIX: &str = "plugbox:kv:";

/// The Redis key of `namespace`'s hash.
pub(crate) fn hash(namespace: &str) -> Vec<u8> {
    [PREFIX.as_bytes(), namespace.as_bytes()].concat()
}

/// The field of `key` within its namespace's hash.
pub(crate) fn field(key: &str) -> Vec<u8> {
    [b"k", key.as_bytes()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_and_keys_map_one_to_one() {
        assert_eq!(hash("tenant-a"), b"plugbox:kv:tenant-a");
        assert_eq!(field("hits"), b"khits");
        // The total's field is no key's.
        assert_ne!(field(""), b"#");
        assert_ne!(field("#")[..], b"#"[..]);
        // A namespace cannot be spelled from another namespace and a key.
        assert_ne!(hash("a:kb"), [hash("a"), field("b")].concat());
    }
}
