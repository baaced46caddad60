//! The hub's send path: every request to an engine (calls, streams,
//! withdrawals) leaves through here, with its chain, deadline and the
//! leases of the handles it carries; and the hub's open → draining →
//! closed life.

use super::call::{Call, Decode, Withdraw};
use super::hub::{ObjectHub, Reply};
use super::stream::CallStream;
use crate::error::{Error, Result};
use crate::id::{CallId, NodeId, ObjectId, Ref};
use crate::net::wire::{Message, Meta, Op};
use crate::telemetry::{spans, CallRecord};
use crate::value::Lease;
use bytes::Bytes;
use std::sync::atomic::Ordering;
use tokio::sync::oneshot;

/// A request on its way: the receiver of its reply, its id, and its
/// deadline.
pub(crate) struct Sent {
    pub(crate) rx: oneshot::Receiver<Result<Reply>>,
    pub(crate) call: CallId,
    pub(crate) deadline: Option<std::time::Instant>,
    pub(crate) record: CallRecord,
    /// When it left, if its metrics time it.
    pub(crate) at: Option<std::time::Instant>,
}

const OPEN: u8 = 0;
const DRAINING: u8 = 1;
const CLOSED: u8 = 2;

impl ObjectHub {
    /// Whether a new call may leave: not once the hub drains or is closed.
    fn admit(&self) -> Result<()> {
        match self.inner.state.load(Ordering::Relaxed) {
            OPEN => Ok(()),
            DRAINING => Err(Error::ShuttingDown),
            _ => Err(Error::HubClosed),
        }
    }

    /// Refuses new calls from now on ([`Error::ShuttingDown`]); calls under
    /// way go on.
    pub(crate) fn begin_drain(&self) {
        let _ =
            self.inner
                .state
                .compare_exchange(OPEN, DRAINING, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Whether new calls may leave (not once the hub drains or is closed):
    /// what a service's readiness check asks.
    pub fn accepts_calls(&self) -> bool {
        self.inner.state.load(Ordering::Relaxed) == OPEN
    }

    /// Withdraws every call waiting for its reply: each fails with
    /// [`Error::Timeout`], and its engine drops it (or stops it, if async).
    pub(crate) fn withdraw_pending(&self) {
        let links = self.inner.links.read().unwrap_or_else(|p| p.into_inner());
        for link in links.iter().flatten() {
            link.withdraw_all();
        }
    }

    /// Closes every link and stops reconnecting: calls fail with
    /// [`Error::HubClosed`] from now on.
    pub(crate) fn close(&self) {
        self.inner.state.store(CLOSED, Ordering::Relaxed);
        self.inner.watch.close();
        let links = self.inner.links.read().unwrap_or_else(|p| p.into_inner());
        for link in links.iter().flatten() {
            link.shut();
        }
    }

    /// Sends a request whose payload carries the handles of `leases`: each
    /// is lent to its object's engine first (or, to this engine itself,
    /// travels as its lease), and the request names them. The request
    /// carries its chain and deadline (the chain's, the scope's, or this
    /// hub's default timeout).
    pub(crate) fn send_leased(
        &self,
        node: NodeId,
        target: Option<Ref>,
        op: Op,
        body: Bytes,
        leases: Vec<Lease>,
    ) -> Result<Sent> {
        // A stopping cluster still tells its engines to stop.
        if !matches!(op, Op::Shutdown) {
            self.admit()?;
        }
        let mut chain = super::handles::chain_for_call();
        if chain.deadline.is_none() {
            chain.deadline = self
                .default_timeout()
                .map(|d| std::time::Instant::now() + d);
        }
        let call = CallId(self.inner.next_call.fetch_add(1, Ordering::Relaxed));
        let left = chain.left_us();
        let deadline = chain.deadline;
        let (span, trace) = spans::call_span(node, &op, target, call, body.len(), chain.trace);
        if let Some(local) = self.local_for(node) {
            let meta = Meta(chain.id, Vec::new(), chain.path, left, trace);
            let rx = local.request(call, op, meta, body, leases)?;
            let record = CallRecord::new(span, None);
            return Ok(Sent {
                rx,
                call,
                deadline,
                record,
                at: None,
            });
        }
        let link = self.link(node)?;
        let refs = self.lend(&leases);
        let meta = Meta(chain.id, refs.clone(), chain.path, left, trace);
        let record = CallRecord::new(span, Some(link.metrics()));
        // Before the request goes: its reply may be read before this
        // thread runs on.
        let at = record.timed().then(std::time::Instant::now);
        let sent = link.request(call, op, meta, body);
        if sent.is_err() {
            // Never left: take the lends back.
            self.arrived(&refs);
        }
        // The leases go only now: every lend is queued before any release.
        drop(leases);
        Ok(Sent {
            rx: sent?,
            call,
            deadline,
            record,
            at,
        })
    }

    /// Sends a call whose answer is a stream (see [`CallStream`]).
    pub(crate) fn stream_leased<T, E>(
        &self,
        node: NodeId,
        target: Option<Ref>,
        op: Op,
        leases: Vec<Lease>,
    ) -> CallStream<T, E> {
        if let Some(r) = target.filter(|r| self.is_object_lost(r)) {
            return CallStream::failed(Error::ObjectLost(r), node);
        }
        if let Err(e) = self.admit() {
            return CallStream::failed(e.widen(), node);
        }
        let chain = super::handles::chain_for_call();
        let call = CallId(self.inner.next_call.fetch_add(1, Ordering::Relaxed));
        let withdraw = Withdraw {
            hub: self.clone(),
            node,
            call,
        };
        let left = chain.left_us();
        let (span, trace) = spans::call_span(node, &op, target, call, 0, chain.trace);
        let opened = match self.local_for(node) {
            Some(local) => {
                let meta = Meta(chain.id, Vec::new(), chain.path, left, trace);
                local.request_stream(call, op, meta, leases)
            }
            None => self.link(node).and_then(|link| {
                let refs = self.lend(&leases);
                let meta = Meta(chain.id, refs.clone(), chain.path, left, trace);
                let sent = link.request_stream(call, op, meta);
                if sent.is_err() {
                    self.arrived(&refs);
                }
                sent
            }),
        };
        match opened {
            Ok(rx) => CallStream::open(rx, withdraw, span),
            Err(e) => CallStream::failed(e.widen(), node),
        }
    }

    /// Withdraws call `call` to `node`: its waiter goes at once, and the
    /// engine is told (it drops the call if it has not started).
    pub(crate) fn withdraw(&self, node: NodeId, call: CallId) {
        let cancel = Message::Cancel { call };
        if let Some(local) = self.local_for(node) {
            // A stopped engine has nothing left to drop.
            let _ = local.send(cancel);
            return;
        }
        if let Ok(link) = self.link(node) {
            link.forget(call);
            // A closed link's engine is gone, and the call with it.
            let _ = link.writer.send(&cancel, Bytes::new());
        }
    }

    /// Sends a request and returns its [`Call`].
    pub(crate) fn submit<T, E>(
        &self,
        node: NodeId,
        target: Option<Ref>,
        op: Op,
        body: Bytes,
        decode: Decode<T, E>,
    ) -> Call<T, E> {
        self.submit_leased(node, target, op, body, Vec::new(), decode)
    }

    /// [`submit`](ObjectHub::submit) of a request whose payload carries the
    /// handles of `leases`.
    pub(crate) fn submit_leased<T, E>(
        &self,
        node: NodeId,
        target: Option<Ref>,
        op: Op,
        body: Bytes,
        leases: Vec<Lease>,
        decode: Decode<T, E>,
    ) -> Call<T, E> {
        if let Some(r) = target.filter(|r| self.is_object_lost(r)) {
            return Call::ready(Err(Error::ObjectLost(r)), node, target);
        }
        match self.send_leased(node, target, op, body, leases) {
            Ok(sent) => {
                let withdraw = Withdraw {
                    hub: self.clone(),
                    node,
                    call: sent.call,
                };
                Call::pending(sent, decode, target, withdraw)
            }
            Err(e) => {
                self.unsent(node, target, &e);
                Call::ready(Err(e.widen()), node, target)
            }
        }
    }

    /// Counts a call that failed before it was sent (its engine known lost,
    /// the hub draining), as a sent one would be when it fails.
    fn unsent(&self, node: NodeId, target: Option<Ref>, e: &Error) {
        if let Ok(link) = self.link(node) {
            if crate::telemetry::on() {
                link.metrics()
                    .call_done(e.kind(), std::time::Duration::ZERO);
            }
        }
        self.inner.failures.note(node, target, e.kind());
    }

    /// Sends a request answered by `Done`.
    pub(crate) fn submit_done(
        &self,
        node: NodeId,
        op: Op,
        body: Bytes,
        leases: Vec<Lease>,
    ) -> Call<()> {
        self.submit_leased(node, None, op, body, leases, super::remote::decode_done)
    }

    /// Asks engine `node` to stop (it replies first, then shuts down).
    pub fn shutdown_engine(&self, node: NodeId) -> Call<()> {
        self.submit(
            node,
            None,
            Op::Shutdown,
            Bytes::new(),
            super::remote::decode_done,
        )
    }

    /// A fresh object id for a new object on `node` (named by the client, so
    /// the handle exists before the engine answers).
    pub(crate) fn new_ref<T: 'static>(&self, node: NodeId) -> Ref {
        let name = crate::actors::registry::stable_name::<T>();
        Ref::new(node, ObjectId::new(), crate::id::TypeTag::of_name(name))
    }
}
