//! Async methods under way: the future of a method that awaits, polled in
//! its call chain (the calls it makes belong to it, inside its serve span)
//! until it is done or its call is withdrawn, holding its object's mailbox.

use super::hosted::Produced;
use super::object::{finish, panic_message, Keep, ObjectActor};
use super::reply::ReplyTo;
use crate::net::wire::{Fault, MethodId};
use crate::proxy::handles;
use actix::prelude::*;
use futures::FutureExt;
use std::panic::AssertUnwindSafe;

impl ObjectActor {
    pub(super) fn await_method(
        &mut self,
        fut: futures::future::LocalBoxFuture<'static, Result<Produced, Fault>>,
        call: Running,
        ctx: &mut Context<Self>,
    ) {
        let mut inner = call.chain.clone();
        inner.path.push(self.id);
        self.busy.set(Some(inner.id));
        // A cancel of this call stops the method at its next await.
        let stop = std::rc::Rc::new(super::state::Stop::default());
        let running = (call.reply.session, call.reply.call);
        if let Some(engine) = self.engine.upgrade() {
            engine.running.borrow_mut().insert(running, stop.clone());
        }
        let fut = InChain {
            chain: inner,
            fut: AssertUnwindSafe(fut).catch_unwind(),
            stop,
        }
        .map(|r| r.unwrap_or_else(|p| Err(Fault::Panic(panic_message(&*p)))));
        ctx.wait(fut.into_actor(self).map(move |result, act, ctx| {
            act.busy.set(None);
            if let Some(engine) = act.engine.upgrade() {
                engine.running.borrow_mut().remove(&running);
            }
            if call.announced {
                act.change_done();
            }
            if let Err(fault) = &result {
                act.supervise(call.method, fault);
            }
            match (result, call.keep) {
                (Ok(Produced::Stream(items)), None) => act.stream(items, call.reply, ctx),
                (result, keep) => {
                    finish(result, call.reply, keep, &act.engine);
                    act.drain(ctx);
                }
            }
        }));
    }
}

/// An async method under way: what its end needs.
pub(crate) struct Running {
    pub(super) chain: handles::Chain,
    pub(super) reply: ReplyTo,
    pub(super) keep: Option<Keep>,
    pub(super) announced: bool,
    pub(super) method: Option<MethodId>,
}

/// A method's future, polled as part of its call chain (calls it makes
/// belong to the chain), until it is done or its call is withdrawn.
struct InChain<F> {
    chain: handles::Chain,
    fut: F,
    stop: std::rc::Rc<super::state::Stop>,
}

impl<F: std::future::Future<Output = Caught> + Unpin> std::future::Future for InChain<F> {
    type Output = Caught;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Caught> {
        let this = &mut *self;
        if this.stop.check(cx) {
            return std::task::Poll::Ready(Ok(Err(Fault::Cancelled)));
        }
        handles::in_chain(&this.chain, || std::pin::Pin::new(&mut this.fut).poll(cx))
    }
}

type Caught = std::thread::Result<Result<Produced, Fault>>;
