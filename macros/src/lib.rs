//! Procedural macros for distob: `#[distob::remote]`, `#[distob::function]`
//! and `#[distob::main]`. Use them through the `distob` crate, which
//! documents them; this crate is parse (`parse.rs`) → IR (`ir.rs`) →
//! codegen (`codegen.rs`), and reports every misuse as a compile error.

mod codegen;
mod ir;
mod parse;

use proc_macro::TokenStream;

/// Turns an `impl` block's public methods into remote calls. See `distob::remote`.
#[proc_macro_attribute]
pub fn remote(attr: TokenStream, item: TokenStream) -> TokenStream {
    let attr = proc_macro2::TokenStream::from(attr);
    syn::parse::<syn::ItemImpl>(item)
        .and_then(|item| parse::remote_impl(attr, item))
        .map(|ir| codegen::remote_impl(&ir))
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Registers a free function to run where its first argument lives. See `distob::function`.
#[proc_macro_attribute]
pub fn function(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return syn::Error::new(
            proc_macro2::Span::call_site(),
            "#[distob::function] takes no arguments",
        )
        .into_compile_error()
        .into();
    }
    syn::parse::<syn::ItemFn>(item)
        .and_then(parse::remote_function)
        .map(|ir| codegen::remote_function(&ir))
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Makes `main` serve as an engine when started as one. See `distob::main`.
#[proc_macro_attribute]
pub fn main(_attr: TokenStream, item: TokenStream) -> TokenStream {
    syn::parse::<syn::ItemFn>(item)
        .map(codegen::main)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
