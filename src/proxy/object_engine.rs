//! [`ObjectEngine`]: one engine's own view of its objects, over the wire.

use super::call::Call;
use super::hub::{ObjectHub, Reply};
use super::remote::unexpected;
use crate::error::Result;
use crate::id::{NodeId, Ref, TypeTag};
use crate::net::wire::{EngineStats, ObjectInfo, Op, Outcome};
use bytes::Bytes;

/// The dict of one engine's objects (every client's), keyed by id, as the
/// engine itself reports it.
///
/// ```
/// # async fn demo() -> distob::Result<()> {
/// let cluster = distob::Cluster::local(2).await?;
/// let x = cluster.scatter_to(distob::NodeId(1), 7i64).await?;
/// let engine = cluster.hub().engine(distob::NodeId(1));
/// assert_eq!(engine.len().await?, 1);
/// assert!(engine.contains(&x.id()).await?);
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct ObjectEngine {
    hub: ObjectHub,
    node: NodeId,
}

fn decode_stats(reply: Reply) -> Result<EngineStats> {
    match reply.outcome {
        Outcome::Stats(stats) => Ok(*stats),
        _ => Err(unexpected()),
    }
}

fn decode_listing(reply: Reply) -> Result<Vec<ObjectInfo>> {
    match reply.outcome {
        Outcome::Listing(list) => Ok(list),
        _ => Err(unexpected()),
    }
}

impl ObjectEngine {
    pub(crate) fn new(hub: ObjectHub, node: NodeId) -> Self {
        ObjectEngine { hub, node }
    }

    /// The engine's node id.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// Every object on the engine: id, type name, encoded size.
    pub fn list(&self) -> Call<Vec<ObjectInfo>> {
        self.hub
            .submit(self.node, None, Op::List, Bytes::new(), decode_listing)
    }

    /// The engine's counters: objects, requests, calls, bytes received.
    pub fn stats(&self) -> Call<EngineStats> {
        self.hub
            .submit(self.node, None, Op::Stats, Bytes::new(), decode_stats)
    }

    /// How many objects the engine holds.
    pub async fn len(&self) -> Result<usize> {
        Ok(self.list().await?.len())
    }

    /// Whether the engine holds no objects.
    pub async fn is_empty(&self) -> Result<bool> {
        Ok(self.len().await? == 0)
    }

    /// The refs of the engine's objects.
    pub async fn refs(&self) -> Result<Vec<Ref>> {
        Ok(self
            .list()
            .await?
            .into_iter()
            .map(|o| Ref::new(self.node, o.object, TypeTag::of_name(&o.type_name)))
            .collect())
    }

    /// Whether the engine holds the object.
    pub async fn contains(&self, r: &Ref) -> Result<bool> {
        if r.node != self.node {
            return Ok(false);
        }
        Ok(self.list().await?.iter().any(|o| o.object == r.object))
    }
}
