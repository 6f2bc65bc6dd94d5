//! The `#[plugin]` attribute of [`plugbox-guest`](https://docs.rs/plugbox-guest).
//!
//! Use it through `plugbox_guest::plugin`; this crate only exists because
//! attribute macros must live in a `proc-macro` crate. Every misuse is reported
//! as a compile error pointing at the offending tokens, never as a panic.

use proc_macro::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, ReturnType};

/// Marks the one function that handles a plugin's requests.
///
/// The function takes one argument — `&[u8]`, `Vec<u8>`, `&str`, `String` or
/// `Json<T>` — and returns `Vec<u8>`, `String`, `&'static str`, `Json<T>`,
/// `()`, or a `Result` of one of those with any `Display` error. See the
/// `plugbox-guest` crate documentation for examples.
#[proc_macro_attribute]
pub fn plugin(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand_attribute(attr.into(), item.into()).into()
}

/// `#[plugin]` on `proc_macro2` tokens: the expansion, or the function kept
/// as written followed by a `compile_error!` naming the misuse.
fn expand_attribute(
    attr: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    if !attr.is_empty() {
        let error =
            syn::Error::new(attr.span(), "`#[plugin]` takes no arguments").to_compile_error();
        return quote!(#item #error);
    }
    let function = match syn::parse2::<ItemFn>(item) {
        Ok(function) => function,
        Err(error) => return error.to_compile_error(),
    };
    match expand(&function) {
        Ok(tokens) => tokens,
        Err(error) => {
            let error = error.to_compile_error();
            // Keep the function itself so that the only errors the author sees
            // are ours, not a cascade of "cannot find function".
            quote!(#function #error)
        }
    }
}

fn expand(function: &ItemFn) -> syn::Result<proc_macro2::TokenStream> {
    let sig = &function.sig;
    if let Some(asyncness) = &sig.asyncness {
        return Err(syn::Error::new(
            asyncness.span(),
            "a plugbox plugin function cannot be `async`",
        ));
    }
    if let Some(unsafety) = &sig.unsafety {
        return Err(syn::Error::new(
            unsafety.span(),
            "a plugbox plugin function cannot be `unsafe`",
        ));
    }
    if let Some(abi) = &sig.abi {
        return Err(syn::Error::new(
            abi.span(),
            "a plugbox plugin function is a plain Rust function: remove the `extern` ABI",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            sig.generics.span(),
            "a plugbox plugin function cannot be generic",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new(
            variadic.span(),
            "a plugbox plugin function cannot be variadic",
        ));
    }
    let argument = match sig.inputs.len() {
        1 => &sig.inputs[0],
        0 => {
            return Err(syn::Error::new(
                sig.paren_token.span.join(),
                "a plugbox plugin function takes exactly one argument: the input \
                 (`&[u8]`, `Vec<u8>`, `&str`, `String` or `Json<T>`)",
            ));
        }
        _ => {
            return Err(syn::Error::new(
                sig.inputs.span(),
                "a plugbox plugin function takes exactly one argument: the input \
                 (`&[u8]`, `Vec<u8>`, `&str`, `String` or `Json<T>`)",
            ));
        }
    };
    let input_type = match argument {
        FnArg::Receiver(receiver) => {
            return Err(syn::Error::new(
                receiver.span(),
                "a plugbox plugin function is a free function, not a method",
            ));
        }
        FnArg::Typed(typed) => &typed.ty,
    };
    let output_span = match &sig.output {
        ReturnType::Default => sig.ident.span(),
        ReturnType::Type(_, ty) => ty.span(),
    };

    let name = &sig.ident;
    let guest = format_ident!("__PlugboxPlugin_{}", name);
    // The spans put type errors (an unsupported input or output type) on the
    // author's own tokens.
    let parse = quote_spanned! {input_type.span()=>
        ::plugbox_guest::__private::parse::<#input_type>(&input)?
    };
    let call = quote_spanned! {output_span=>
        ::plugbox_guest::__private::respond(#name(argument))
    };
    Ok(quote! {
        #function

        /// The request entry point `#[plugin]` generated: decodes the request,
        /// calls the plugin function and encodes its response, exactly as the
        /// component export does. Also available on native targets (for tests
        /// and native builds), where no wasm export is generated.
        #[doc(hidden)]
        pub fn __plugbox_handle(
            input: &[u8],
        ) -> ::core::result::Result<
            ::plugbox_guest::__private::Vec<u8>,
            ::plugbox_guest::__private::String,
        > {
            let argument = #parse;
            #call
        }

        // The component export, on wasm only: native linkers reject its
        // `package:name/interface#function` symbol names.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[doc(hidden)]
            #[allow(non_camel_case_types)]
            struct #guest;

            impl ::plugbox_guest::__private::Guest for #guest {
                fn handle(
                    input: ::plugbox_guest::__private::Vec<u8>,
                ) -> ::core::result::Result<
                    ::plugbox_guest::__private::Vec<u8>,
                    ::plugbox_guest::__private::String,
                > {
                    __plugbox_handle(&input)
                }
            }

            ::plugbox_guest::bindings::__export_plugin!(#guest with_types_in ::plugbox_guest::bindings);
        };
    })
}

#[cfg(test)]
mod tests {
    use super::expand_attribute;
    use quote::quote;

    /// The message of the one `compile_error!` the expansion holds.
    fn error_of(attr: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> String {
        let expanded = expand_attribute(attr, item).to_string();
        let start = expanded
            .find("compile_error")
            .unwrap_or_else(|| panic!("no compile error in {expanded}"));
        assert_eq!(
            expanded.matches("compile_error").count(),
            1,
            "one error: {expanded}"
        );
        expanded[start..].to_string()
    }

    #[test]
    fn misuse_is_a_compile_error_naming_it() {
        let cases = [
            (
                quote!(),
                quote!(
                    fn f(a: &str, b: &str) -> String {
                        a.into()
                    }
                ),
                "exactly one argument",
            ),
            (
                quote!(),
                quote!(
                    fn f() -> String {
                        String::new()
                    }
                ),
                "exactly one argument",
            ),
            (
                quote!(),
                quote!(
                    async fn f(a: &str) -> String {
                        a.into()
                    }
                ),
                "cannot be `async`",
            ),
            (
                quote!(),
                quote!(
                    unsafe fn f(a: &str) -> String {
                        a.into()
                    }
                ),
                "cannot be `unsafe`",
            ),
            (
                quote!(),
                quote!(
                    extern "C" fn f(a: &str) -> String {
                        a.into()
                    }
                ),
                "remove the `extern` ABI",
            ),
            (
                quote!(),
                quote!(
                    fn f<T>(a: T) -> String {
                        String::new()
                    }
                ),
                "cannot be generic",
            ),
            (
                quote!(),
                quote!(
                    fn f(a: &str) -> String
                    where
                        String: Clone,
                    {
                        a.into()
                    }
                ),
                "cannot be generic",
            ),
            (
                quote!(),
                quote!(
                    fn f(&self) -> String {
                        String::new()
                    }
                ),
                "a free function, not a method",
            ),
            (
                quote!(fast),
                quote!(
                    fn f(a: &str) -> String {
                        a.into()
                    }
                ),
                "takes no arguments",
            ),
            (
                quote!(),
                quote!(
                    struct NotAFunction;
                ),
                "expected `fn`",
            ),
        ];
        for (attr, item, message) in cases {
            let error = error_of(attr, item.clone());
            assert!(error.contains(message), "{item}: {error}");
        }
    }

    #[test]
    fn a_good_function_expands_to_the_handler_and_export() {
        let expanded = expand_attribute(
            quote!(),
            quote!(
                fn shout(input: &str) -> String {
                    input.to_uppercase()
                }
            ),
        )
        .to_string();
        assert!(!expanded.contains("compile_error"), "{expanded}");
        assert!(expanded.contains("fn shout"), "{expanded}");
        assert!(expanded.contains("fn __plugbox_handle"), "{expanded}");
        assert!(expanded.contains("__export_plugin"), "{expanded}");
    }
}
