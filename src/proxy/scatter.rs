//! Scatter and gather: values onto engines and back.

use super::call::Call;
use super::hub::ObjectHub;
use super::link::BULK_THRESHOLD;
use super::remote::{decode_done, Remote};
use crate::error::{Error, Result};
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
        let type_name = crate::actors::registry::stable_name::<T>();
        let shape = value::is_raw_array::<T>()
            .then(|| value::array_header(&enc.head).ok().map(|h| h.shape))
            .flatten();
        let remote = Remote::created(self, id, enc.len() as u64, shape);
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
        let ack = self.submit_leased(node, Some(id), op, enc.body, enc.leases, decode_done);
        Ok((remote, ack))
    }

    /// Puts `x` on `node` and waits until the engine holds it.
    pub async fn scatter_to<T: Value>(&self, node: NodeId, x: T) -> Result<Remote<T>> {
        let (remote, ack) = self.put(node, x)?;
        ack.await?;
        Ok(remote)
    }

    /// One copy of `x` on every engine, in node order; returns once every
    /// engine holds it. This client sends `x` once, to the first engine;
    /// the engines relay it among themselves in a binomial tree (in round
    /// `r` each of the first 2^r holders sends to one more engine), so the
    /// copies take log₂(engines) rounds and no engine sends more than
    /// log₂(engines) times.
    ///
    /// ```
    /// # async fn demo() -> distob::Result<()> {
    /// let cluster = distob::Cluster::local(5).await?;
    /// let copies = cluster.broadcast(vec![1.0_f64, 2.0]).await?;
    /// let nodes: Vec<u32> = copies.iter().map(|c| c.node().0).collect();
    /// assert_eq!(nodes, [0, 1, 2, 3, 4]);
    /// assert_eq!(copies[4].fetch().await?, vec![1.0, 2.0]);
    /// # Ok(()) }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
    /// ```
    pub async fn broadcast<T: Value>(&self, x: T) -> Result<Vec<Remote<T>>> {
        let nodes = self.engines();
        let Some(&first) = nodes.first() else {
            return Err(Error::HubClosed);
        };
        let (root, put) = self.put(first, x)?;
        let mut copies = Vec::with_capacity(nodes.len());
        let mut acks = Vec::with_capacity(nodes.len());
        copies.push(root);
        acks.push(put);
        // Engine i gets its copy from engine i - 2^⌊log₂ i⌋, which got its
        // own in an earlier round; every copy is issued now and waits on
        // its source's arrival there.
        for (i, &node) in nodes.iter().enumerate().skip(1) {
            let source = i - (1 << i.ilog2());
            let (copy, ack) = copies[source].copy_to_acked(node)?;
            copies.push(copy);
            acks.push(ack);
        }
        futures::future::try_join_all(acks).await?;
        Ok(copies)
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
