//! [`Ctx`]: what engine code gets to act in the cluster.

use super::engine::EngineState;
use crate::error::Result;
use crate::id::{NodeId, Ref};
use crate::proxy::{ObjectHub, Remote};
use crate::value::Value;

/// What a method of a hosted object gets to act in the cluster: its
/// engine, a handle to its own object, new objects, and every object it can
/// name. A `#[distob::remote]` method takes it as its first argument after
/// the receiver (`ctx: &distob::Ctx`); the macro keeps it off the wire and
/// out of the proxy's signature.
///
/// Handles an object holds are called from its methods exactly as from a
/// client: a call is sent at once and returns a [`Call`](crate::Call); an
/// `async fn` method awaits it, a sync method that drops it has sent a
/// one-way message. Calls to objects on the same engine go straight to
/// them; calls to other engines go over this engine's own authenticated
/// links. Calls made while a method runs belong to its call chain: one that
/// comes back to an object whose mailbox an `async` method up the chain
/// holds fails at once with [`Error::Reentrant`](crate::Error::Reentrant).
///
/// ```
/// use distob::{Ctx, Remote};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// pub struct Node { next: Option<Remote<Node>> }
///
/// #[distob::remote]
/// impl Node {
///     pub fn link(&mut self, next: Remote<Node>) { self.next = Some(next); }
///     /// How many nodes from here to the end, counted engine to engine.
///     pub async fn depth(&self, ctx: &Ctx) -> u32 {
///         let _here = ctx.node();
///         match &self.next {
///             Some(next) => next.depth().await.map_or(0, |d| d + 1),
///             None => 1,
///         }
///     }
/// }
///
/// # async fn demo() -> distob::Result<()> {
/// let cluster = distob::Cluster::local(2).await?;
/// let tail: RemoteNode = cluster.scatter(Node { next: None }).await?;
/// let head: RemoteNode = cluster.scatter(Node { next: None }).await?;
/// head.link(tail.clone()).await?;
/// drop(tail);                      // the head holds it now
/// assert_eq!(head.depth().await?, 2);
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
/// ```
#[derive(Clone)]
pub struct Ctx {
    hub: ObjectHub,
    this: Ref,
    chain: u64,
    deadline: Option<std::time::Instant>,
    engine: std::rc::Weak<EngineState>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("this", &self.this)
            .field("chain", &self.chain)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// A timer of an object's ([`Ctx::after`], [`Ctx::every`]): it ends with the
/// object, or when cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Timer(u64);

impl Ctx {
    pub(crate) fn new(
        engine: &std::rc::Rc<EngineState>,
        this: Ref,
        chain: u64,
        deadline: Option<std::time::Instant>,
    ) -> Ctx {
        Ctx {
            hub: engine.hub.clone(),
            this,
            chain,
            deadline,
            engine: std::rc::Rc::downgrade(engine),
        }
    }

    /// Runs `f` (engine code, given a `Ctx` of this object) once, after
    /// `d`. Timers run beside the object's calls (not in its mailbox: a call
    /// they make to [`this`](Ctx::this) takes its turn there), end with the
    /// object, and show in its listing
    /// ([`ObjectInfo::timers`](crate::cluster::ObjectInfo::timers)).
    pub fn after(&self, d: std::time::Duration, f: impl FnOnce(&Ctx) + 'static) -> Timer {
        let mut f = Some(f);
        self.timer(d, None, move |ctx| {
            if let Some(f) = f.take() {
                f(ctx);
            }
        })
    }

    /// Runs `f` every `period` (the first time after one period) until the
    /// object goes or the timer is [cancelled](Ctx::cancel_timer); see
    /// [`after`](Ctx::after).
    ///
    /// ```
    /// use distob::{Ctx, call::Timer};
    /// use serde::{Deserialize, Serialize};
    /// use std::time::Duration;
    ///
    /// #[derive(Default, Serialize, Deserialize)]
    /// pub struct Buffer { pending: Vec<u32>, flushed: usize }
    ///
    /// #[distob::remote]
    /// impl Buffer {
    ///     /// Flushes every 10 ms from now on.
    ///     pub fn start(&self, ctx: &Ctx) -> Timer {
    ///         ctx.every(Duration::from_millis(10), |ctx| drop(ctx.this::<Buffer>().flush()))
    ///     }
    ///     pub fn push(&mut self, x: u32) { self.pending.push(x); }
    ///     pub fn flush(&mut self) { self.flushed += self.pending.len(); self.pending.clear(); }
    ///     pub fn flushed(&self) -> usize { self.flushed }
    /// }
    ///
    /// # async fn demo() -> distob::Result<()> {
    /// let cluster = distob::Cluster::local(1).await?;
    /// let b: RemoteBuffer = cluster.scatter(Buffer::default()).await?;
    /// b.start().await?;
    /// b.push(7).await?;
    /// tokio::time::sleep(Duration::from_millis(100)).await;
    /// assert_eq!(b.flushed().await?, 1);
    /// # Ok(()) }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
    /// ```
    pub fn every(&self, period: std::time::Duration, f: impl FnMut(&Ctx) + 'static) -> Timer {
        self.timer(period, Some(period), f)
    }

    /// Stops a timer of this object (one that has ended already: nothing).
    pub fn cancel_timer(&self, timer: Timer) {
        if let Some(engine) = self.engine.upgrade() {
            engine.end_timer(&self.this.object, timer.0);
        }
    }

    fn timer(
        &self,
        first: std::time::Duration,
        period: Option<std::time::Duration>,
        mut f: impl FnMut(&Ctx) + 'static,
    ) -> Timer {
        let Some(engine) = self.engine.upgrade() else {
            return Timer(0);
        };
        let id = engine.new_timer_id();
        let this = self.this;
        let weak = self.engine.clone();
        let task = actix_rt::spawn(async move {
            tokio::time::sleep(first).await;
            loop {
                let Some(engine) = weak.upgrade() else { return };
                let chain = crate::proxy::handles::chain_for_call();
                let ctx = Ctx::new(&engine, this, chain.id, None);
                drop(engine);
                crate::proxy::handles::in_chain(&chain, || f(&ctx));
                let Some(period) = period else { break };
                tokio::time::sleep(period).await;
            }
            if let Some(engine) = weak.upgrade() {
                engine.end_timer(&this.object, id);
            }
        });
        engine.add_timer(&this.object, id, task.abort_handle());
        Timer(id)
    }

    /// The deadline of the call this method serves, if it has one: calls
    /// made from here inherit it.
    pub fn deadline(&self) -> Option<std::time::Instant> {
        self.deadline
    }

    /// The time left before [`deadline`](Ctx::deadline), if there is one.
    pub fn remaining(&self) -> Option<std::time::Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(std::time::Instant::now()))
    }

    /// The engine this code runs on.
    pub fn node(&self) -> NodeId {
        self.this.node
    }

    /// Every engine of the cluster this engine knows of, itself included.
    pub fn engines(&self) -> Vec<NodeId> {
        self.hub.engines()
    }

    /// The address of the object this method runs on.
    pub fn this_ref(&self) -> Ref {
        self.this
    }

    /// A handle to the object this method runs on, to give to others. (An
    /// object that keeps a handle to itself holds itself: it lives until
    /// killed.)
    pub fn this<T: 'static>(&self) -> Remote<T> {
        let name = super::registry::stable_name::<T>();
        let r = Ref::new(
            self.this.node,
            self.this.object,
            crate::id::TypeTag::of_name(name),
        );
        Remote::from_handle(self.hub.handle_for(r, name, None))
    }

    /// A new object made by engine code, on this engine; the handle comes
    /// at once (calls on it wait for it).
    pub fn scatter<T: Value>(&self, x: T) -> Result<Remote<T>> {
        self.scatter_to(self.node(), x)
    }

    /// A new object made by engine code on engine `node`; the handle comes
    /// at once (calls on it wait for it, a failure surfaces at the first).
    pub fn scatter_to<T: Value>(&self, node: NodeId, x: T) -> Result<Remote<T>> {
        let (remote, ack) = self.hub.put(node, x)?;
        // Not awaited: the put keeps its place before the calls that follow.
        drop(ack);
        Ok(remote)
    }

    /// A handle to the object `r` names, checked to be a `T` (see
    /// [`Cluster::attach`](crate::Cluster::attach)).
    pub async fn attach<T: 'static>(&self, r: Ref) -> Result<Remote<T>> {
        self.hub.attach(r).await
    }

    /// The object named `name`, if there is one (see
    /// [`Cluster::lookup`](crate::Cluster::lookup)).
    pub async fn lookup<T: 'static>(&self, name: &str) -> Result<Option<Remote<T>>> {
        self.hub.lookup(name).await
    }

    /// This engine's own hub: what engine code holds, and its links.
    pub fn hub(&self) -> &ObjectHub {
        &self.hub
    }

    /// The call chain this method runs in.
    pub fn chain(&self) -> u64 {
        self.chain
    }
}
