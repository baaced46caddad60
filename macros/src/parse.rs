//! `impl` blocks and functions → IR, with every rule checked and reported
//! as a compile error at the offending tokens.

use crate::ir::{Arg, OnPanic, Pass, Receiver, RemoteFunction, RemoteImpl, RemoteMethod, Ret};
use syn::spanned::Spanned;
use syn::{
    Attribute, FnArg, GenericArgument, ImplItem, ImplItemFn, ItemFn, ItemImpl, PathArguments,
    ReturnType, Signature, Type, TypePath, Visibility,
};

/// distob's options on one method: `#[distob(cached)]`, `#[distob(skip)]`,
/// `#[distob(remote_result)]`.
#[derive(Default)]
struct Options {
    cached: bool,
    skip: bool,
    keep: bool,
    init: bool,
}

fn take_options(attrs: &mut Vec<Attribute>) -> syn::Result<Options> {
    let mut opts = Options::default();
    let mut err: Option<syn::Error> = None;
    attrs.retain(|attr| {
        if !attr.path().is_ident("distob") {
            return true;
        }
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("cached") {
                opts.cached = true;
            } else if meta.path.is_ident("skip") {
                opts.skip = true;
            } else if meta.path.is_ident("remote_result") {
                opts.keep = true;
            } else if meta.path.is_ident("init") {
                opts.init = true;
            } else {
                return Err(meta.error(
                    "unknown distob option; expected `cached`, `skip`, `remote_result` or `init`",
                ));
            }
            Ok(())
        });
        if let Err(e) = parsed {
            match &mut err {
                Some(first) => first.combine(e),
                None => err = Some(e),
            }
        }
        false
    });
    match err {
        Some(e) => Err(e),
        None => Ok(opts),
    }
}

/// The options of `#[distob::remote(..)]` itself.
struct ImplOptions {
    name: Option<syn::LitStr>,
    on_panic: Option<syn::LitStr>,
    max_restarts: u32,
    window_secs: u64,
}

impl Default for ImplOptions {
    fn default() -> Self {
        ImplOptions {
            name: None,
            on_panic: None,
            max_restarts: 3,
            window_secs: 60,
        }
    }
}

fn impl_options(attr: proc_macro2::TokenStream) -> syn::Result<ImplOptions> {
    let mut opts = ImplOptions::default();
    if attr.is_empty() {
        return Ok(opts);
    }
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            let lit: syn::LitStr = meta.value()?.parse()?;
            if lit.value().is_empty() {
                return Err(syn::Error::new_spanned(
                    &lit,
                    "the registered name cannot be empty",
                ));
            }
            opts.name = Some(lit);
        } else if meta.path.is_ident("on_panic") {
            opts.on_panic = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("max_restarts") {
            opts.max_restarts = meta.value()?.parse::<syn::LitInt>()?.base10_parse()?;
        } else if meta.path.is_ident("restart_window_secs") {
            opts.window_secs = meta.value()?.parse::<syn::LitInt>()?.base10_parse()?;
        } else {
            return Err(meta.error(
                "unknown #[distob::remote] option; expected `name`, `on_panic`, `max_restarts` or `restart_window_secs`",
            ));
        }
        Ok(())
    });
    syn::parse::Parser::parse2(parser, attr)?;
    Ok(opts)
}

fn on_panic(opts: &ImplOptions) -> syn::Result<OnPanic> {
    let Some(lit) = &opts.on_panic else {
        return Ok(OnPanic::Poison);
    };
    match lit.value().as_str() {
        "poison" => Ok(OnPanic::Poison),
        "continue" => Ok(OnPanic::Continue),
        "restart" => Ok(OnPanic::Restart {
            max: opts.max_restarts,
            window_secs: opts.window_secs,
        }),
        _ => Err(syn::Error::new_spanned(
            lit,
            "on_panic is \"poison\" (the default), \"continue\" or \"restart\"",
        )),
    }
}

/// Parses the `impl` block of `#[distob::remote]`.
pub(crate) fn remote_impl(
    attr: proc_macro2::TokenStream,
    mut item: ItemImpl,
) -> syn::Result<RemoteImpl> {
    let options = impl_options(attr)?;
    if let Some((_, path, _)) = &item.trait_ {
        return Err(syn::Error::new_spanned(
            path,
            "#[distob::remote] goes on an inherent `impl Type { .. }` block, not a trait impl",
        ));
    }
    if !item.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &item.generics,
            "#[distob::remote] needs a concrete type: an engine registers one type per name, so the impl block cannot be generic",
        ));
    }
    let ty = (*item.self_ty).clone();
    let name = match &ty {
        Type::Path(TypePath { path, qself: None }) => match path.segments.last() {
            Some(seg) if seg.arguments.is_empty() => seg.ident.clone(),
            _ => {
                return Err(syn::Error::new_spanned(
                    &ty,
                    "#[distob::remote] needs a plain type name here",
                ))
            }
        },
        _ => {
            return Err(syn::Error::new_spanned(
                &ty,
                "#[distob::remote] needs a plain type name here",
            ))
        }
    };
    let mut methods = Vec::new();
    let mut init = None;
    let mut errors: Option<syn::Error> = None;
    for impl_item in &mut item.items {
        let ImplItem::Fn(f) = impl_item else { continue };
        match method(f) {
            Ok(Parsed::Method(m)) => methods.push(m),
            Ok(Parsed::Init(id)) => init = Some(id),
            Ok(Parsed::Nothing) => {}
            Err(e) => match &mut errors {
                Some(first) => first.combine(e),
                None => errors = Some(e),
            },
        }
    }
    if let Some(e) = errors {
        return Err(e);
    }
    Ok(RemoteImpl {
        item,
        ty,
        name,
        on_panic: on_panic(&options)?,
        registered: options.name,
        init,
        methods,
    })
}

/// What one function of the block is to the macro.
#[allow(clippy::large_enum_variant)] // one per function, at compile time
enum Parsed {
    /// A proxied method.
    Method(RemoteMethod),
    /// The `#[distob(init)]` function.
    Init(syn::Ident),
    /// Nothing (private, skipped, an associated function).
    Nothing,
}

fn method(f: &mut ImplItemFn) -> syn::Result<Parsed> {
    let opts = take_options(&mut f.attrs)?;
    if opts.init {
        return init_fn(f);
    }
    method_of(f, opts).map(|m| m.map_or(Parsed::Nothing, Parsed::Method))
}

/// The `#[distob(init)]` function: `fn name() -> Self`.
fn init_fn(f: &ImplItemFn) -> syn::Result<Parsed> {
    let sig = &f.sig;
    let returns_self = matches!(&sig.output, ReturnType::Type(_, t)
        if matches!(&**t, Type::Path(p) if p.path.is_ident("Self")));
    if !sig.inputs.is_empty() || !returns_self || sig.asyncness.is_some() {
        return Err(syn::Error::new_spanned(
            sig,
            "#[distob(init)] goes on `fn name() -> Self`: it rebuilds the object after a panic (on_panic = \"restart\")",
        ));
    }
    Ok(Parsed::Init(sig.ident.clone()))
}

fn method_of(f: &mut ImplItemFn, opts: Options) -> syn::Result<Option<RemoteMethod>> {
    let public = matches!(f.vis, Visibility::Public(_));
    if opts.skip || !public {
        if opts.cached || opts.keep {
            return Err(syn::Error::new_spanned(
                &f.sig.ident,
                "`cached` and `remote_result` apply to proxied methods: public and not `skip`",
            ));
        }
        return Ok(None);
    }
    let sig = &f.sig;
    let Some(receiver) = receiver(sig)? else {
        // An associated function (a constructor): nothing to call remotely.
        if opts.cached || opts.keep {
            return Err(syn::Error::new_spanned(
                &sig.ident,
                "`cached` and `remote_result` need a method with `&self` or `&mut self`",
            ));
        }
        return Ok(None);
    };
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            "a remote method cannot be generic: the engine runs compiled code and must know every type; make it concrete or mark it #[distob(skip)]",
        ));
    }
    if opts.cached && receiver == Receiver::Mutable {
        return Err(syn::Error::new_spanned(
            &sig.ident,
            "a #[distob(cached)] method must take `&self`: a method that mutates the object cannot be answered from a cache",
        ));
    }
    if opts.cached && opts.keep {
        return Err(syn::Error::new_spanned(
            &sig.ident,
            "`cached` and `remote_result` do not combine",
        ));
    }
    let ctx = sig.inputs.iter().nth(1).is_some_and(is_ctx);
    let args = sig
        .inputs
        .iter()
        .skip(if ctx { 2 } else { 1 })
        .map(arg)
        .collect::<syn::Result<Vec<_>>>()?;
    if let Some(extra) = sig.inputs.iter().skip(2).find(|a| is_ctx(a)) {
        return Err(syn::Error::new_spanned(
            extra,
            "`&Ctx` must be the first argument after the receiver",
        ));
    }
    let ret = ret(&sig.output)?;
    if matches!(ret, Ret::Stream(_) | Ret::FallibleStream { .. }) && (opts.cached || opts.keep) {
        return Err(syn::Error::new_spanned(
            &sig.output,
            "a method that returns `Streamed` cannot be `cached` or `remote_result`",
        ));
    }
    let docs = f
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .cloned()
        .collect();
    Ok(Some(RemoteMethod {
        name: sig.ident.clone(),
        receiver,
        is_async: sig.asyncness.is_some(),
        ctx,
        args,
        ret,
        cached: opts.cached,
        keep: opts.keep,
        docs,
    }))
}

fn receiver(sig: &Signature) -> syn::Result<Option<Receiver>> {
    match sig.inputs.first() {
        Some(FnArg::Receiver(r)) => {
            if r.reference.is_none() {
                return Err(syn::Error::new_spanned(
                    r,
                    "a remote method cannot take `self` by value: the object stays on its engine; take `&self` or `&mut self`, or mark it #[distob(skip)]",
                ));
            }
            if r.colon_token.is_some() {
                return Err(syn::Error::new_spanned(
                    r,
                    "a remote method takes `&self` or `&mut self`, not a typed `self`",
                ));
            }
            Ok(Some(if r.mutability.is_some() {
                Receiver::Mutable
            } else {
                Receiver::Shared
            }))
        }
        _ => Ok(None),
    }
}

/// Whether an argument is `&Ctx` (any path ending in `Ctx`, by shared
/// reference): engine code's context, kept off the wire.
fn is_ctx(input: &FnArg) -> bool {
    let FnArg::Typed(pt) = input else {
        return false;
    };
    let Type::Reference(r) = &*pt.ty else {
        return false;
    };
    match &*r.elem {
        Type::Path(p) if p.qself.is_none() && r.mutability.is_none() => {
            p.path.segments.last().is_some_and(|s| s.ident == "Ctx")
        }
        _ => false,
    }
}

fn arg(input: &FnArg) -> syn::Result<Arg> {
    let FnArg::Typed(pt) = input else {
        return Err(syn::Error::new_spanned(input, "unexpected `self`"));
    };
    typed_arg(&pt.ty)
}

fn typed_arg(ty: &Type) -> syn::Result<Arg> {
    if let Type::ImplTrait(_) = ty {
        return Err(syn::Error::new_spanned(
            ty,
            "a remote method cannot take `impl Trait`: the engine must know the concrete type",
        ));
    }
    if let Type::Reference(r) = ty {
        let pass = if r.mutability.is_some() {
            Pass::Mut
        } else {
            Pass::Ref
        };
        let owned: Type = match &*r.elem {
            Type::Path(p) if p.qself.is_none() && p.path.is_ident("str") => {
                syn::parse_quote!(::std::string::String)
            }
            Type::Slice(s) => {
                let elem = &s.elem;
                syn::parse_quote!(::std::vec::Vec<#elem>)
            }
            other => other.clone(),
        };
        return Ok(Arg {
            ty: ty.clone(),
            owned,
            pass,
        });
    }
    Ok(Arg {
        ty: ty.clone(),
        owned: ty.clone(),
        pass: Pass::Value,
    })
}

fn ret(output: &ReturnType) -> syn::Result<Ret> {
    let ty = match output {
        ReturnType::Default => return Ok(Ret::Value(syn::parse_quote!(()))),
        ReturnType::Type(_, ty) => &**ty,
    };
    if let Type::Reference(_) = ty {
        return Err(syn::Error::new_spanned(
            ty,
            "a remote method must return an owned value: a reference cannot cross the wire",
        ));
    }
    if let Type::ImplTrait(_) = ty {
        return Err(syn::Error::new_spanned(
            ty,
            "a remote method cannot return `impl Trait`: the client must know the concrete type",
        ));
    }
    if let Type::Path(TypePath { path, qself: None }) = ty {
        if let Some(seg) = path.segments.last() {
            if seg.ident == "Result" {
                if let PathArguments::AngleBracketed(args) = &seg.arguments {
                    let types: Vec<&Type> = args
                        .args
                        .iter()
                        .filter_map(|a| match a {
                            GenericArgument::Type(t) => Some(t),
                            _ => None,
                        })
                        .collect();
                    if let [ok, err] = types[..] {
                        if let Some(item) = streamed_item(ok) {
                            return Ok(Ret::FallibleStream {
                                item,
                                err: err.clone(),
                            });
                        }
                        return Ok(Ret::Fallible {
                            ok: ok.clone(),
                            err: err.clone(),
                        });
                    }
                }
            }
        }
    }
    if let Some(item) = streamed_item(ty) {
        return Ok(Ret::Stream(item));
    }
    Ok(Ret::Value(ty.clone()))
}

/// The item type of `Streamed<T>` (any path ending in `Streamed`).
fn streamed_item(ty: &Type) -> Option<Type> {
    let Type::Path(TypePath { path, qself: None }) = ty else {
        return None;
    };
    let seg = path.segments.last().filter(|s| s.ident == "Streamed")?;
    let PathArguments::AngleBracketed(args) = &seg.arguments else {
        return None;
    };
    match args.args.first() {
        Some(GenericArgument::Type(t)) if args.args.len() == 1 => Some(t.clone()),
        _ => None,
    }
}

/// Parses the function of `#[distob::function]`.
pub(crate) fn remote_function(item: ItemFn) -> syn::Result<RemoteFunction> {
    let sig = &item.sig;
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            "a remote function cannot be generic: the engine runs compiled code and must know every type",
        ));
    }
    if sig.asyncness.is_some() {
        return Err(syn::Error::new_spanned(
            sig.asyncness,
            "a remote function cannot be async; make it a method of a #[distob::remote] type instead",
        ));
    }
    let mut inputs = sig.inputs.iter();
    let first = inputs.next().ok_or_else(|| {
        syn::Error::new(
            sig.span(),
            "a remote function takes the remote object as its first argument, by reference",
        )
    })?;
    let (object, object_mut) = match first {
        FnArg::Typed(pt) => match &*pt.ty {
            Type::Reference(r) => ((*r.elem).clone(), r.mutability.is_some()),
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    "the first argument of a remote function is the remote object, taken by reference (`&T`)",
                ))
            }
        },
        FnArg::Receiver(r) => {
            return Err(syn::Error::new_spanned(r, "a remote function is a free function"))
        }
    };
    let args = inputs.map(arg).collect::<syn::Result<Vec<_>>>()?;
    let ret = ret(&sig.output)?;
    Ok(RemoteFunction {
        vis: item.vis.clone(),
        item,
        object,
        object_mut,
        args,
        ret,
    })
}
