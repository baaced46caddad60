//! Names and kills on the engine side: the directory entries this engine
//! keeps (for the names a hash picks it for), pins of named objects it
//! hosts, and kills (see [`names`](crate::proxy::names) on the hub side).

use super::engine::EngineState;
use super::object::ReplyTo;
use super::table::NAMED;
use crate::id::ObjectId;
use crate::net::wire::{Fault, HandleRef, Op, Outcome};
use crate::proxy::names::{check_name, directory_node};
use bytes::Bytes;
use std::rc::Rc;

/// Records `name` for `object` unless it is taken: the object is pinned on
/// its engine first (its name then holds it), and the claim answered once
/// it is.
pub(super) fn claim(
    engine: Rc<EngineState>,
    name: String,
    object: HandleRef,
    type_name: String,
    reply: ReplyTo,
) {
    if let Err(e) = check_name(&name) {
        return reply.fault(Fault::Refused(format!("bad name: {e}")));
    }
    if engine.names.borrow().contains_key(&name) {
        return reply.fault(Fault::NameTaken(name));
    }
    engine
        .names
        .borrow_mut()
        .insert(name.clone(), (object, type_name));
    let pin = Op::Pin {
        object: object.1,
        name: name.clone(),
    };
    let pinned = engine
        .hub
        .submit_done(object.0, pin, Bytes::new(), Vec::new());
    actix_rt::spawn(async move {
        match pinned.await {
            Ok(()) => reply.done(),
            Err(e) => {
                let mut names = engine.names.borrow_mut();
                if names.get(&name).is_some_and(|(o, _)| *o == object) {
                    names.remove(&name);
                }
                reply.fault(Fault::Refused(format!("cannot pin the object: {e}")));
            }
        }
    });
}

/// What `name` names here.
pub(super) fn lookup(engine: &EngineState, name: &str, reply: ReplyTo) {
    if let Err(e) = check_name(name) {
        return reply.fault(Fault::Refused(format!("bad name: {e}")));
    }
    let found = engine.names.borrow().get(name).cloned();
    reply.outcome(Outcome::Found(Box::new(found)), Bytes::new());
}

/// The object is named: the name holds it until it is killed.
pub(super) fn pin(engine: &EngineState, object: ObjectId, name: String, reply: ReplyTo) {
    if !engine.hold(&object, NAMED) {
        return reply.fault(engine.missing(&object));
    }
    if let Some(entry) = engine.objects.borrow_mut().get_mut(&object) {
        entry.name = Some(name);
    }
    reply.done();
}

/// The object `name` named is gone.
pub(super) fn unname(engine: &EngineState, name: &str, object: HandleRef, reply: ReplyTo) {
    let mut names = engine.names.borrow_mut();
    if names.get(name).is_some_and(|(o, _)| *o == object) {
        names.remove(name);
    }
    reply.done();
}

/// Ends the object for every holder, and its name on its directory engine
/// (answered once the name is gone, so that a lookup after the kill finds
/// nothing).
pub(super) fn kill(engine: &EngineState, object: ObjectId, reply: ReplyTo) {
    let Some(name) = engine.kill(&object) else {
        return reply.fault(engine.missing(&object));
    };
    let dir = name.and_then(|name| Some((directory_node(&name, &engine.hub.engines())?, name)));
    let Some((dir, name)) = dir else {
        return reply.done();
    };
    let unname = Op::Unname {
        name,
        object: HandleRef(engine.node, object),
    };
    let unnamed = engine
        .hub
        .submit_done(dir, unname, Bytes::new(), Vec::new());
    actix_rt::spawn(async move {
        // The kill stands even if the directory engine is gone: its names
        // went with it.
        let _ = unnamed.await;
        reply.done();
    });
}
