//! `impl` blocks and functions → IR, with every rule checked and reported
//! as a compile error at the offending tokens.

use crate::ir::{Arg, Pass, Receiver, RemoteFunction, RemoteImpl, RemoteMethod, Ret};
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
            } else {
                return Err(meta
                    .error("unknown distob option; expected `cached`, `skip` or `remote_result`"));
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
#[derive(Default)]
struct ImplOptions {
    name: Option<syn::LitStr>,
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
            Ok(())
        } else {
            Err(meta.error("unknown #[distob::remote] option; expected `name = \"...\"`"))
        }
    });
    syn::parse::Parser::parse2(parser, attr)?;
    Ok(opts)
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
    let mut errors: Option<syn::Error> = None;
    for impl_item in &mut item.items {
        let ImplItem::Fn(f) = impl_item else { continue };
        match method(f) {
            Ok(Some(m)) => methods.push(m),
            Ok(None) => {}
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
        registered: options.name,
        methods,
    })
}

fn method(f: &mut ImplItemFn) -> syn::Result<Option<RemoteMethod>> {
    let opts = take_options(&mut f.attrs)?;
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
                        return Ok(Ret::Fallible {
                            ok: ok.clone(),
                            err: err.clone(),
                        });
                    }
                }
            }
        }
    }
    Ok(Ret::Value(ty.clone()))
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
