//! What a [`Cluster`] does with objects: scatter, broadcast, gather,
//! names and attach, through its hub.

use super::Cluster;
use crate::error::Result;
use crate::id::NodeId;
use crate::proxy::{Gather, Remote, Transfer};
use crate::value::Value;

impl Cluster {
    /// One copy of `x` on every engine, relayed engine to engine (see
    /// [`ObjectHub::broadcast`](crate::ObjectHub::broadcast)).
    pub async fn broadcast<T: Value>(&self, x: T) -> Result<Vec<Remote<T>>> {
        self.inner.hub.broadcast(x).await
    }

    /// Puts `x` on the next engine in round-robin order (a [`Transfer`]:
    /// `.await` it, or ask it for its [`progress`](Transfer::progress)).
    pub fn scatter<T: Value>(&self, x: T) -> Transfer<'_, Remote<T>> {
        self.inner.hub.scatter(x)
    }

    /// Spreads `xs` round-robin over the engines (continuing where the last
    /// scatter stopped).
    pub fn scatter_each<T: Value>(&self, xs: Vec<T>) -> Transfer<'_, Vec<Remote<T>>> {
        self.inner.hub.scatter_each(xs)
    }

    /// Puts `x` on engine `node`.
    pub fn scatter_to<T: Value>(&self, node: NodeId, x: T) -> Transfer<'_, Remote<T>> {
        self.inner.hub.scatter_to(node, x)
    }

    /// Splits an array along `axis` over the engines (see
    /// [`ObjectHub::scatter_axis`](crate::ObjectHub::scatter_axis)).
    pub fn scatter_axis<A: crate::value::Element + Value>(
        &self,
        a: ndarray::ArrayD<A>,
        axis: isize,
    ) -> Transfer<'_, crate::DistArray<A>> {
        self.inner.hub.scatter_axis(a, axis)
    }

    /// A handle to the object `r` names, checked to be a `T`
    /// ([`Error::WrongType`](crate::Error::WrongType) if not); this client becomes one of its
    /// holders (see [`ObjectHub::attach`](crate::ObjectHub::attach)).
    pub async fn attach<T: 'static>(&self, r: crate::Ref) -> Result<Remote<T>> {
        self.inner.hub.attach(r).await
    }

    /// The object named `name`, if there is one (see
    /// [`ObjectHub::lookup`](crate::ObjectHub::lookup)).
    pub async fn lookup<T: 'static>(&self, name: &str) -> Result<Option<Remote<T>>> {
        self.inner.hub.lookup(name).await
    }

    /// Puts `x` on the next engine under the cluster-wide `name`, detached:
    /// it lives until killed, whatever clients come and go
    /// ([`Error::NameTaken`](crate::Error::NameTaken) if the name is held; see
    /// [`ObjectHub::scatter_named`](crate::ObjectHub::scatter_named)).
    ///
    /// ```
    /// # async fn demo() -> distob::Result<()> {
    /// let cluster = distob::Cluster::local(2).await?;
    /// let jobs = cluster.scatter_named("jobs", vec![1u32, 2]).await?;
    /// let again = cluster.lookup::<Vec<u32>>("jobs").await?.expect("named");
    /// assert_eq!(again.id(), jobs.id());
    /// assert!(matches!(
    ///     cluster.scatter_named("jobs", vec![3u32]).await,
    ///     Err(distob::Error::NameTaken(_))
    /// ));
    /// jobs.kill().await?;
    /// assert!(cluster.lookup::<Vec<u32>>("jobs").await?.is_none());
    /// # Ok(()) }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
    /// ```
    pub async fn scatter_named<T: Value>(&self, name: &str, x: T) -> Result<Remote<T>> {
        self.inner.hub.scatter_named(name, x).await
    }

    /// The object named `name`, or a new one from `make()` under that name:
    /// clients that race get the same object (see
    /// [`ObjectHub::get_or_scatter_named`](crate::ObjectHub::get_or_scatter_named)).
    pub async fn get_or_scatter_named<T: Value>(
        &self,
        name: &str,
        make: impl FnOnce() -> T,
    ) -> Result<Remote<T>> {
        self.inner.hub.get_or_scatter_named(name, make).await
    }

    /// Brings values back (see [`Gather`]; a [`Transfer`], like a
    /// scatter).
    pub fn gather<'a, G: Gather + Sync + ?Sized>(&'a self, x: &'a G) -> Transfer<'a, G::Output> {
        self.inner.hub.gather(x)
    }

    /// Runs a registered function (`#[distob::function]`) on the engine that
    /// holds `obj`, with `obj` as its first argument and `args` (a tuple) as
    /// the others.
    pub fn call<F, T, A, R>(&self, f: F, obj: &Remote<T>, args: A) -> crate::Call<R>
    where
        F: crate::call::RemoteFn<T, A, R>,
        A: serde::Serialize,
        R: Value,
    {
        obj.apply(f, args)
    }
}
