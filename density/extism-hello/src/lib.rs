//! `hello` for Extism: the same logic as plugins/hello (upper-case the UTF-8
//! input; invalid UTF-8 is an error), exported as `handle`.

use extism_pdk::*;

#[plugin_fn]
pub fn handle(input: Vec<u8>) -> FnResult<Vec<u8>> {
    let text = String::from_utf8(input).map_err(|error| Error::msg(error.to_string()))?;
    Ok(text.to_uppercase().into_bytes())
}
