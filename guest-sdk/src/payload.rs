//! Conversions between the request/response bytes and the plugin function's
//! argument and return types.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// An error a plugin reports to its host on purpose.
///
/// The host receives it as a guest error (its message, verbatim); the plugin
/// instance stays usable. Any `Display` error converts into it with `?`-friendly
/// `From` impls for the common cases, and a plugin function may also return
/// `Result<T, E>` for any `E: Display` directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    /// An error with this message.
    pub fn new(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string(),
        }
    }

    /// The message the host will see.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Self { message }
    }
}

impl From<core::str::Utf8Error> for Error {
    fn from(error: core::str::Utf8Error) -> Self {
        Self::new(format_args!("input is not valid UTF-8: {error}"))
    }
}

#[cfg(feature = "json")]
impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Self {
        Self::new(error)
    }
}

/// A type a plugin function can take as its input.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the input of a plugbox plugin",
    label = "unsupported input type",
    note = "use `&[u8]`, `Vec<u8>`, `&str`, `String` or `Json<T>` (with `T: serde::Deserialize`)"
)]
pub trait FromInput<'a>: Sized {
    /// Decodes the request bytes.
    ///
    /// # Errors
    ///
    /// When the bytes are not a valid encoding of `Self` (e.g. not UTF-8 for
    /// `&str`, not matching JSON for `Json<T>`); the host sees the error as a
    /// guest error.
    fn from_input(input: &'a [u8]) -> Result<Self, Error>;
}

impl<'a> FromInput<'a> for &'a [u8] {
    #[inline]
    fn from_input(input: &'a [u8]) -> Result<Self, Error> {
        Ok(input)
    }
}

impl FromInput<'_> for Vec<u8> {
    #[inline]
    fn from_input(input: &[u8]) -> Result<Self, Error> {
        Ok(input.to_vec())
    }
}

impl<'a> FromInput<'a> for &'a str {
    #[inline]
    fn from_input(input: &'a [u8]) -> Result<Self, Error> {
        Ok(core::str::from_utf8(input)?)
    }
}

impl FromInput<'_> for String {
    #[inline]
    fn from_input(input: &[u8]) -> Result<Self, Error> {
        Ok(core::str::from_utf8(input)?.into())
    }
}

/// A type a plugin function can return.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the output of a plugbox plugin",
    label = "unsupported output type",
    note = "return `Vec<u8>`, `String`, `&'static str`, `Json<T>` (with `T: serde::Serialize`), \
            `()`, or a `Result` of one of those with a `Display` error"
)]
pub trait IntoOutput {
    /// Encodes the response.
    ///
    /// # Errors
    ///
    /// When the value is an error (a `Result::Err`) or cannot be encoded.
    fn into_output(self) -> Result<Vec<u8>, Error>;
}

impl IntoOutput for Vec<u8> {
    #[inline]
    fn into_output(self) -> Result<Vec<u8>, Error> {
        Ok(self)
    }
}

impl IntoOutput for &'static [u8] {
    #[inline]
    fn into_output(self) -> Result<Vec<u8>, Error> {
        Ok(self.to_vec())
    }
}

impl IntoOutput for String {
    #[inline]
    fn into_output(self) -> Result<Vec<u8>, Error> {
        Ok(self.into_bytes())
    }
}

impl IntoOutput for &'static str {
    #[inline]
    fn into_output(self) -> Result<Vec<u8>, Error> {
        Ok(self.as_bytes().to_vec())
    }
}

impl IntoOutput for () {
    #[inline]
    fn into_output(self) -> Result<Vec<u8>, Error> {
        Ok(Vec::new())
    }
}

impl<T: IntoOutput, E: fmt::Display> IntoOutput for Result<T, E> {
    #[inline]
    fn into_output(self) -> Result<Vec<u8>, Error> {
        match self {
            Ok(value) => value.into_output(),
            Err(error) => Err(Error::new(error)),
        }
    }
}

/// A JSON payload: the input is parsed into `T`, or the output `T` is
/// serialized, with `serde_json`.
///
/// ```
/// #![cfg_attr(target_arch = "wasm32", no_std)]
/// use plugbox_guest::prelude::*;
///
/// #[derive(serde::Deserialize)]
/// struct Greeting { name: String }
///
/// #[plugin]
/// fn greet(Json(greeting): Json<Greeting>) -> Json<Vec<String>> {
///     Json(vec![format!("hello, {}", greeting.name)])
/// }
/// # fn main() {}
/// ```
#[cfg(feature = "json")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Json<T>(pub T);

#[cfg(feature = "json")]
impl<T: serde::de::DeserializeOwned> FromInput<'_> for Json<T> {
    #[inline]
    fn from_input(input: &[u8]) -> Result<Self, Error> {
        Ok(Json(serde_json::from_slice(input)?))
    }
}

#[cfg(feature = "json")]
impl<T: serde::Serialize> IntoOutput for Json<T> {
    #[inline]
    fn into_output(self) -> Result<Vec<u8>, Error> {
        Ok(serde_json::to_vec(&self.0)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn str_input_rejects_invalid_utf8_with_a_message() {
        let error = <&str>::from_input(&[0xff, 0xfe]).unwrap_err();
        assert!(error.message().starts_with("input is not valid UTF-8"));
    }

    #[test]
    fn result_error_becomes_guest_error() {
        let output: Result<String, &str> = Err("no such customer");
        assert_eq!(
            output.into_output().unwrap_err().message(),
            "no such customer"
        );
    }

    #[test]
    fn outputs_encode_to_bytes() {
        assert_eq!("hi".into_output().unwrap(), b"hi");
        assert_eq!(String::from("hi").into_output().unwrap(), b"hi");
        assert_eq!(vec![1u8, 2].into_output().unwrap(), vec![1, 2]);
        assert!(().into_output().unwrap().is_empty());
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_round_trips_and_reports_bad_input() {
        let Json(numbers) = Json::<Vec<u32>>::from_input(b"[1,2,3]").unwrap();
        assert_eq!(numbers, vec![1, 2, 3]);
        assert_eq!(Json(numbers).into_output().unwrap(), b"[1,2,3]");
        assert!(Json::<Vec<u32>>::from_input(b"{").is_err());
    }
}
