//! IR → tokens. Generated paths are absolute and reach distob only through
//! `::distob::__private` (and the public `Remote`, `Call`, `MethodId`).

use crate::ir::{Arg, OnPanic, Pass, Receiver, RemoteFunction, RemoteImpl, RemoteMethod, Ret};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::Ident;

fn private() -> TokenStream {
    quote!(::distob::__private)
}

fn arg_idents(args: &[Arg]) -> Vec<Ident> {
    (0..args.len()).map(|i| format_ident!("__a{}", i)).collect()
}

/// `let (__a0, ..): (T0, ..) = decode(args)?` in a context returning `$fail`.
fn decode_args(args: &[Arg], on_error: TokenStream) -> TokenStream {
    let p = private();
    let ids = arg_idents(args);
    let owned = args.iter().map(|a| &a.owned);
    quote! {
        #[allow(unused_mut, unused_parens)]
        let (#(mut #ids,)*): (#(#owned,)*) = match #p::decode_args(__args) {
            ::std::result::Result::Ok(a) => a,
            ::std::result::Result::Err(f) => return #on_error(f),
        };
    }
}

fn pass_exprs(args: &[Arg]) -> Vec<TokenStream> {
    arg_idents(args)
        .into_iter()
        .zip(args)
        .map(|(id, a)| match a.pass {
            Pass::Value => quote!(#id),
            Pass::Ref => quote!(&#id),
            Pass::Mut => quote!(&mut #id),
        })
        .collect()
}

/// Compile-time checks that every type crossing the wire is a serde type,
/// each reported at the type itself.
fn wire_asserts(args: &[Arg], ret: &Ret) -> Vec<TokenStream> {
    let p = private();
    let mut out: Vec<TokenStream> = args
        .iter()
        .map(|a| {
            let owned = &a.owned;
            quote_spanned!(a.ty.span()=> #p::assert_wire::<#owned>();)
        })
        .collect();
    match ret {
        Ret::Value(t) | Ret::Stream(t) => {
            out.push(quote_spanned!(t.span()=> #p::assert_wire::<#t>();))
        }
        Ret::Fallible { ok: t, err } | Ret::FallibleStream { item: t, err } => {
            out.push(quote_spanned!(t.span()=> #p::assert_wire::<#t>();));
            out.push(quote_spanned!(err.span()=> #p::assert_wire::<#err>();));
        }
    }
    out
}

fn conversion(ret: &Ret) -> TokenStream {
    let p = private();
    match ret {
        Ret::Value(_) => quote!(#p::ok_value),
        Ret::Fallible { .. } => quote!(#p::user_result),
        Ret::Stream(_) => quote!(#p::streamed),
        Ret::FallibleStream { .. } => quote!(#p::user_streamed),
    }
}

fn method_id(ty_name: &Ident, m: &Ident) -> TokenStream {
    let name = format!("{ty_name}::{m}");
    quote!(const { ::distob::id::MethodId::of_name(#name) })
}

fn proxy_return(m: &RemoteMethod) -> TokenStream {
    match (&m.ret, m.keep) {
        (Ret::Value(t), false) => quote!(::distob::Call<#t>),
        (Ret::Value(t), true) => quote!(::distob::Remote<#t>),
        (Ret::Fallible { ok, err }, false) => quote!(::distob::Call<#ok, #err>),
        (Ret::Fallible { ok, err }, true) => quote!(::distob::Call<::distob::Remote<#ok>, #err>),
        (Ret::Stream(t), _) => quote!(::distob::call::CallStream<#t>),
        (Ret::FallibleStream { item, err }, _) => quote!(::distob::call::CallStream<#item, #err>),
    }
}

fn proxy_method(ty_name: &Ident, m: &RemoteMethod) -> (TokenStream, TokenStream) {
    let p = private();
    let name = &m.name;
    let ids = arg_idents(&m.args);
    let tys = m.args.iter().map(|a| &a.ty);
    let docs = &m.docs;
    let ret = proxy_return(m);
    let sig = quote!(fn #name(&self, #(#ids: #tys),*) -> #ret);
    let id = method_id(ty_name, name);
    let mutating = m.receiver == Receiver::Mutable;
    let cached = m.cached;
    let how = quote!(#p::Invoke { mutating: #mutating, cached: #cached });
    let args = quote!(&(#(#ids,)*));
    let call = match (&m.ret, m.keep) {
        (Ret::Stream(_) | Ret::FallibleStream { .. }, _) => {
            quote!(::distob::Remote::invoke_stream(self, #id, #args, #how))
        }
        (Ret::Value(_), true) => quote!(::distob::Remote::invoke_into(self, #id, #args, #how)),
        (Ret::Fallible { .. }, true) => {
            quote!(::distob::Remote::invoke_kept(self, #id, #args, #how))
        }
        (_, false) => quote!(::distob::Remote::invoke(self, #id, #args, #how)),
    };
    let body = match m.ret {
        Ret::Fallible { .. } | Ret::FallibleStream { .. } => quote!(#call.with_remote_errors()),
        Ret::Value(_) | Ret::Stream(_) => call,
    };
    (quote!(#(#docs)* #sig;), quote!(#[inline] #sig { #body }))
}

fn dispatch_arm(ty_name: &Ident, m: &RemoteMethod) -> TokenStream {
    let p = private();
    let name = &m.name;
    let id = method_id(ty_name, name);
    let conv = conversion(&m.ret);
    let passes = pass_exprs(&m.args);
    let borrow = match m.receiver {
        Receiver::Shared => quote!(borrow),
        Receiver::Mutable => quote!(borrow_mut),
    };
    let fail = quote!(|f| #p::Invocation::Ready(::std::result::Result::Err(f)));
    let decode = decode_args(&m.args, quote!((#fail)));
    let ctx = m.ctx.then(|| quote!(&__ctx,));
    let run = if m.is_async {
        quote! {
            let __cell = ::std::rc::Rc::clone(__cell);
            let __ctx = ::std::clone::Clone::clone(__ctx);
            #p::Invocation::Deferred(::std::boxed::Box::pin(async move {
                let __r = __cell.#borrow().#name(#ctx #(#passes),*).await;
                #conv(__r)
            }))
        }
    } else {
        let ctx = m.ctx.then(|| quote!(__ctx,));
        quote! {
            let __r = __cell.#borrow().#name(#ctx #(#passes),*);
            #p::Invocation::Ready(#conv(__r))
        }
    };
    quote! {
        __m if __m == #id => {
            #decode
            #run
        }
    }
}

/// The expansion of `#[distob::remote]`.
pub(crate) fn remote_impl(r: &RemoteImpl) -> TokenStream {
    let p = private();
    let item = &r.item;
    let ty = &r.ty;
    let name = &r.name;
    let proxy = format_ident!("{}Proxy", name);
    let alias = format_ident!("Remote{}", name);
    let (decls, impls): (Vec<_>, Vec<_>) = r.methods.iter().map(|m| proxy_method(name, m)).unzip();
    let arms: Vec<_> = r.methods.iter().map(|m| dispatch_arm(name, m)).collect();
    let asserts: Vec<_> = r
        .methods
        .iter()
        .flat_map(|m| wire_asserts(&m.args, &m.ret))
        .collect();
    let self_assert = quote_spanned!(ty.span()=> #p::assert_wire::<#ty>(););
    let supervision = supervision(r);
    let registered = match &r.registered {
        Some(lit) => quote!(#lit),
        None => {
            let short = name.to_string();
            quote!(::std::concat!(::std::module_path!(), "::", #short))
        }
    };
    let alias_doc = format!("A proxy for a remote [`{name}`]: its methods come from [`{proxy}`].");
    let proxy_doc = format!(
        "The methods of [`{name}`], callable on a remote one (generated by `#[distob::remote]`). \
         Each sends its call at once and returns a [`Call`](::distob::Call)."
    );
    quote! {
        #item

        #[doc = #alias_doc]
        #[allow(private_interfaces)]
        pub type #alias = ::distob::Remote<#ty>;

        #[doc = #proxy_doc]
        #[allow(private_interfaces, private_bounds)]
        pub trait #proxy {
            #(#decls)*
        }

        impl #proxy for ::distob::Remote<#ty> {
            #(#impls)*
        }

        const _: () = {
            impl #p::Dispatch for #ty {
                const NAME: &'static str = #registered;
                #supervision

                // An async method holds its object's borrow across awaits:
                // the object actor runs nothing else until it completes, so
                // the borrow is never contended.
                #[allow(clippy::await_holding_refcell_ref)]
                fn dispatch(
                    __cell: &::std::rc::Rc<::std::cell::RefCell<Self>>,
                    __ctx: &::distob::Ctx,
                    __method: ::distob::id::MethodId,
                    __args: &[u8],
                ) -> #p::Invocation {
                    let _ = (&__cell, &__ctx, &__args);
                    #[allow(clippy::match_single_binding)]
                    match __method {
                        #(#arms)*
                        _ => #p::no_such_method::<Self>(__method),
                    }
                }
            }

            #p::inventory::submit! { #p::TypeEntry::of::<#ty>() }

            #[allow(dead_code)]
            fn __distob_wire_types() {
                #self_assert
                #(#asserts)*
            }
        };
    }
}

/// The panic policy, which methods mutate, and how the object is rebuilt.
fn supervision(r: &RemoteImpl) -> TokenStream {
    let p = private();
    let name = &r.name;
    let mutating: Vec<TokenStream> = r
        .methods
        .iter()
        .filter(|m| m.receiver == Receiver::Mutable)
        .map(|m| method_id(name, &m.name))
        .collect();
    let policy = match r.on_panic {
        OnPanic::Poison => quote!(#p::OnPanic::Poison),
        OnPanic::Continue => quote!(#p::OnPanic::Continue),
        OnPanic::Restart { max, window_secs } => quote!(#p::OnPanic::Restart {
            max: #max,
            window: ::std::time::Duration::from_secs(#window_secs),
        }),
    };
    let restart = match (r.on_panic, &r.init) {
        (OnPanic::Restart { .. }, Some(init)) => quote! {
            fn restart() -> ::std::option::Option<Self> { ::std::option::Option::Some(Self::#init()) }
        },
        (OnPanic::Restart { .. }, None) => quote! {
            fn restart() -> ::std::option::Option<Self> {
                ::std::option::Option::Some(<Self as ::std::default::Default>::default())
            }
        },
        _ => quote!(),
    };
    let names: Vec<String> = r
        .methods
        .iter()
        .map(|m| format!("{name}::{}", m.name))
        .collect();
    quote! {
        const ON_PANIC: #p::OnPanic = #policy;
        const METHODS: &'static [&'static str] = &[#(#names),*];

        fn mutating(__method: ::distob::id::MethodId) -> bool {
            let __mutating: &[::distob::id::MethodId] = &[#(#mutating),*];
            __mutating.contains(&__method)
        }

        #restart
    }
}

/// The expansion of `#[distob::function]`.
pub(crate) fn remote_function(f: &RemoteFunction) -> TokenStream {
    let p = private();
    let item = &f.item;
    let fname = &f.item.sig.ident;
    let object = &f.object;
    let conv = conversion(&f.ret);
    let passes = pass_exprs(&f.args);
    let decode = decode_args(&f.args, quote!(::std::result::Result::Err));
    let asserts = wire_asserts(&f.args, &f.ret);
    let mutates = f.object_mut;
    let obj = if f.object_mut {
        quote!(__obj)
    } else {
        quote!(&*__obj)
    };
    let _ = &f.vis;
    quote! {
        #item

        const _: () = {
            fn __distob_call(
                __slot: #p::ObjectSlot<'_>,
                __args: &[u8],
            ) -> ::std::result::Result<#p::Produced, #p::Fault> {
                #decode
                let __r = __slot.with::<#object, _>(|__obj| #fname(#obj, #(#passes),*))?;
                #conv(__r)
            }

            fn __distob_name() -> &'static str {
                ::std::any::type_name_of_val(&#fname)
            }

            #p::inventory::submit! {
                #p::FunctionEntry { name: __distob_name, call: __distob_call, mutates: #mutates }
            }

            #[allow(dead_code)]
            fn __distob_wire_types() {
                #(#asserts)*
            }
        };
    }
}

/// The expansion of `#[distob::main]`.
pub(crate) fn main(mut item: syn::ItemFn) -> TokenStream {
    let user = format_ident!("__distob_user_main");
    let output = item.sig.output.clone();
    item.sig.ident = user.clone();
    quote! {
        #item

        fn main() #output {
            ::distob::engine::main_if_engine();
            #user()
        }
    }
}
