//! Scatter and gather: values onto engines and back.

use super::call::Call;
use super::hub::{HeldObject, ObjectHub};
use super::link::BULK_THRESHOLD;
use super::remote::{decode_done, Remote};
use crate::error::Result;
use crate::id::NodeId;
use crate::net::wire::Op;
use crate::value::{self, Value};
use bytes::Bytes;
use futures::future::TryJoinAll;
use std::future::Future;

impl ObjectHub {
    /// Sends `x` to `node`; returns its proxy at once and the engine's
    /// acknowledgement as a [`Call`].
    pub fn put<T: Value>(&self, node: NodeId, x: T) -> Result<(Remote<T>, Call<()>)> {
        let enc = value::encode(x)?;
        let id = self.new_ref::<T>(node);
        let type_name = std::any::type_name::<T>();
        let shape = value::is_raw_array::<T>()
            .then(|| value::array_header(&enc.head).ok().map(|h| h.shape))
            .flatten();
        self.hold(
            id,
            HeldObject {
                type_name,
                nbytes: enc.len() as u64,
            },
        );
        let remote = Remote::adopt_shaped(id, self.clone(), shape);
        if enc.body.len() > BULK_THRESHOLD {
            // The bytes take the bulk connection, so that calls behind them
            // are not held up; the object is expected on the main one first,
            // so that calls on it made from now on wait for it in order.
            let expect = Op::Expect {
                object: id.object,
                type_name: type_name.to_owned(),
            };
            let expected: Call<()> = self.submit(node, Some(id), expect, Bytes::new(), decode_done);
            drop(expected);
        }
        let op = Op::Put {
            object: id.object,
            type_name: type_name.to_owned(),
            head: enc.head,
        };
        let ack = self.submit(node, Some(id), op, enc.body, decode_done);
        Ok((remote, ack))
    }

    /// Puts `x` on `node` and waits until the engine holds it.
    pub async fn scatter_to<T: Value>(&self, node: NodeId, x: T) -> Result<Remote<T>> {
        let (remote, ack) = self.put(node, x)?;
        ack.await?;
        Ok(remote)
    }

    /// Puts `x` on the next engine in round-robin order.
    pub async fn scatter<T: Value>(&self, x: T) -> Result<Remote<T>> {
        let node = self.next_engine()?;
        self.scatter_to(node, x).await
    }

    /// Spreads `xs` round-robin over the engines, all in flight at once; the
    /// round-robin position carries over to the next scatter.
    pub async fn scatter_each<T: Value>(&self, xs: Vec<T>) -> Result<Vec<Remote<T>>> {
        let mut remotes = Vec::with_capacity(xs.len());
        let mut acks = Vec::with_capacity(xs.len());
        for x in xs {
            let node = self.next_engine()?;
            let (remote, ack) = self.put(node, x)?;
            remotes.push(remote);
            acks.push(ack);
        }
        for ack in acks {
            ack.await?;
        }
        Ok(remotes)
    }

    /// Brings values back: a `Remote<T>` gives a `T`; slices and `Vec`s of
    /// them (nested too) give `Vec`s. Every request is sent before any reply
    /// is awaited.
    pub async fn gather<G: Gather + ?Sized>(&self, x: &G) -> Result<G::Output> {
        x.start_gather().await
    }
}

/// Things that can be gathered: [`Remote<T>`], and slices and `Vec`s of
/// gatherable things.
pub trait Gather {
    /// What gathering gives.
    type Output;
    /// The future of the gathered value; its requests are already sent.
    type Future: Future<Output = Result<Self::Output>>;
    /// Sends every request now; the future collects the replies.
    fn start_gather(&self) -> Self::Future;
}

impl<T: Value> Gather for Remote<T> {
    type Output = T;
    type Future = Call<T>;
    fn start_gather(&self) -> Call<T> {
        self.fetch()
    }
}

impl<G: Gather> Gather for [G] {
    type Output = Vec<G::Output>;
    type Future = TryJoinAll<G::Future>;
    fn start_gather(&self) -> Self::Future {
        futures::future::try_join_all(self.iter().map(Gather::start_gather))
    }
}

impl<G: Gather> Gather for Vec<G> {
    type Output = Vec<G::Output>;
    type Future = TryJoinAll<G::Future>;
    fn start_gather(&self) -> Self::Future {
        self.as_slice().start_gather()
    }
}
