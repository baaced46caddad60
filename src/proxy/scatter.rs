//! Scatter and gather: values onto engines and back.

use super::call::Call;
use super::hub::ObjectHub;
use super::link::BULK_THRESHOLD;
use super::progress::{Meter, Transfer};
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
        self.put_noted(node, x, None)
    }

    /// [`put`](ObjectHub::put), noting the bytes it sends in `meter`.
    pub(crate) fn put_noted<T: Value>(
        &self,
        node: NodeId,
        x: T,
        meter: Option<&Meter>,
    ) -> Result<(Remote<T>, Call<()>)> {
        let mut slot = Some(x);
        if value::is_raw_array::<T>() && self.in_process(node) {
            if let Some(shared) = value::share_array(&mut slot) {
                if let Some(m) = meter {
                    m.moved(self, node, shared.nbytes);
                }
                return Ok(self.put_shared::<T>(node, shared));
            }
        }
        let enc = match slot {
            Some(x) => value::encode(x)?,
            None => value::Encoded::default(),
        };
        if let Some(m) = meter {
            m.outgoing(self, node, enc.len() as u64);
        }
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

    /// An array put on an engine of this process without a copy: lent to
    /// the process's exchange, from which the engine takes it over
    /// (`Op::Adopt`, in order with the calls before and after it).
    fn put_shared<T: 'static>(
        &self,
        node: NodeId,
        shared: value::SharedArray,
    ) -> (Remote<T>, Call<()>) {
        let id = self.new_ref::<T>(node);
        let remote = Remote::created(self, id, shared.nbytes, Some(shared.shape));
        // Hosted as an `ArrayD` whatever its dimension type here.
        let type_name = crate::actors::registry::registered_name(shared.hosted_as)
            .unwrap_or_else(crate::actors::registry::stable_name::<T>);
        let op = Op::Adopt {
            object: id.object,
            type_name: type_name.to_owned(),
            token: crate::actors::exchange::lend(shared.value),
        };
        let ack = self.submit(node, Some(id), op, Bytes::new(), decode_done);
        (remote, ack)
    }

    /// Puts `x` on `node`; the transfer ends once the engine holds it.
    pub fn scatter_to<T: Value>(&self, node: NodeId, x: T) -> Transfer<'_, Remote<T>> {
        Transfer::new(move |meter| async move {
            let (remote, ack) = self.put_noted(node, x, Some(&meter))?;
            ack.await?;
            Ok(remote)
        })
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
    pub fn scatter<T: Value>(&self, x: T) -> Transfer<'_, Remote<T>> {
        Transfer::new(move |meter| async move {
            let node = self.next_engine()?;
            let (remote, ack) = self.put_noted(node, x, Some(&meter))?;
            ack.await?;
            Ok(remote)
        })
    }

    /// Spreads `xs` round-robin over the engines, all in flight at once; the
    /// round-robin position carries over to the next scatter.
    pub fn scatter_each<T: Value>(&self, xs: Vec<T>) -> Transfer<'_, Vec<Remote<T>>> {
        Transfer::new(move |meter| async move {
            let mut remotes = Vec::with_capacity(xs.len());
            let mut acks = Vec::with_capacity(xs.len());
            for x in xs {
                let node = self.next_engine()?;
                let (remote, ack) = self.put_noted(node, x, Some(&meter))?;
                remotes.push(remote);
                acks.push(ack);
            }
            for ack in acks {
                ack.await?;
            }
            Ok(remotes)
        })
    }

    /// Brings values back: a `Remote<T>` gives a `T`; slices and `Vec`s of
    /// them (nested too) give `Vec`s. Every request is sent before any reply
    /// is awaited.
    pub fn gather<'a, G: Gather + Sync + ?Sized>(&'a self, x: &'a G) -> Transfer<'a, G::Output> {
        Transfer::new(move |meter| async move {
            let mut sizes = Vec::new();
            x.sizes(&mut sizes);
            for (node, size) in sizes {
                meter.incoming(self, node, size);
            }
            x.start_gather().await
        })
    }
}

/// Things that can be gathered: [`Remote<T>`], and slices and `Vec`s of
/// gatherable things.
pub trait Gather {
    /// What gathering gives.
    type Output: Send;
    /// The future of the gathered value; its requests are already sent.
    type Future: Future<Output = Result<Self::Output>> + Send;
    /// Sends every request now; the future collects the replies.
    fn start_gather(&self) -> Self::Future;
    /// The engines the values come from and their sizes, as far as this
    /// client knows them (for [`Transfer::progress`]).
    fn sizes(&self, out: &mut Vec<(NodeId, u64)>) {
        let _ = out;
    }
}

impl<T: Value> Gather for Remote<T> {
    type Output = T;
    type Future = Call<T>;
    fn start_gather(&self) -> Call<T> {
        self.fetch()
    }
    fn sizes(&self, out: &mut Vec<(NodeId, u64)>) {
        if let Some(held) = self.hub().get(&self.id()) {
            out.push((self.node(), held.nbytes));
        }
    }
}

impl<G: Gather> Gather for [G] {
    type Output = Vec<G::Output>;
    type Future = TryJoinAll<G::Future>;
    fn start_gather(&self) -> Self::Future {
        futures::future::try_join_all(self.iter().map(Gather::start_gather))
    }
    fn sizes(&self, out: &mut Vec<(NodeId, u64)>) {
        self.iter().for_each(|g| g.sizes(out));
    }
}

impl<G: Gather> Gather for Vec<G> {
    type Output = Vec<G::Output>;
    type Future = TryJoinAll<G::Future>;
    fn start_gather(&self) -> Self::Future {
        self.as_slice().start_gather()
    }
    fn sizes(&self, out: &mut Vec<(NodeId, u64)>) {
        self.as_slice().sizes(out);
    }
}
