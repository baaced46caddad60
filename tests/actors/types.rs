//! The actors the cases use.

use distob::{Ctx, NodeId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counter {
    pub n: i64,
}

#[distob::remote]
impl Counter {
    pub fn incr(&mut self, by: i64) -> i64 {
        self.n += by;
        self.n
    }

    pub fn get(&self) -> i64 {
        self.n
    }
}

/// One link of a chain: holds a handle to the next.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Hop {
    next: Option<RemoteHop>,
}

#[distob::remote]
impl Hop {
    pub fn link(&mut self, next: RemoteHop) {
        self.next = Some(next);
    }

    /// Passes `n + 1` on to the next link; the last says where it runs and
    /// how many hops came before it.
    pub async fn pass(&self, ctx: &Ctx, n: u32) -> Result<(u32, u32), String> {
        match &self.next {
            Some(next) => next.pass(n + 1).await.map_err(|e| e.to_string()),
            None => Ok((ctx.node().0, n)),
        }
    }
}

/// Two handles and a label, as a value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pair {
    pub left: RemoteCounter,
    pub right: RemoteCounter,
    pub label: String,
}

/// Holds pairs of handles, sums counters, makes objects.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Hub {
    pub pairs: Vec<Pair>,
}

#[distob::remote]
impl Hub {
    /// The sum of the counters, each asked engine to engine (all in flight
    /// at once).
    pub async fn total(&self, counters: Vec<RemoteCounter>) -> Result<i64, String> {
        let calls: Vec<_> = counters.iter().map(|c| c.get()).collect();
        let mut sum = 0;
        for call in calls {
            sum += call.await.map_err(|e| e.to_string())?;
        }
        Ok(sum)
    }

    pub fn keep(&mut self, pair: Pair) {
        self.pairs.push(pair);
    }

    pub async fn kept_total(&self) -> Result<i64, String> {
        let mut sum = 0;
        for p in &self.pairs {
            sum += p.left.get().await.map_err(|e| e.to_string())?;
            sum += p.right.get().await.map_err(|e| e.to_string())?;
        }
        Ok(sum)
    }

    pub fn kept(&self) -> Option<Pair> {
        self.pairs.first().cloned()
    }

    /// A counter made by engine code on `node`.
    pub fn make(&self, ctx: &Ctx, node: NodeId, n: i64) -> Result<RemoteCounter, String> {
        ctx.scatter_to(node, Counter { n })
            .map_err(|e| e.to_string())
    }

    /// The count of the counter named `name`, found by engine code.
    pub async fn named_get(&self, ctx: &Ctx, name: String) -> Result<Option<i64>, String> {
        let found = ctx
            .lookup::<Counter>(&name)
            .await
            .map_err(|e| e.to_string())?;
        match found {
            Some(c) => c.get().await.map(Some).map_err(|e| e.to_string()),
            None => Ok(None),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Ping {
    pub n: i64,
}

#[distob::remote]
impl Ping {
    pub fn get(&self) -> i64 {
        self.n
    }

    /// Asks `other` to call back into this object while this waits.
    pub async fn via(&self, ctx: &Ctx, other: RemotePong) -> Result<i64, String> {
        other
            .call_back(ctx.this::<Ping>())
            .await
            .map_err(|e| e.to_string())
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Pong;

#[distob::remote]
impl Pong {
    /// Calls `ping` and says how it went.
    pub async fn call_back(&self, ping: RemotePing) -> Result<i64, String> {
        ping.get().await.map_err(|e| format!("{e:?}"))
    }

    pub fn echo(&self, x: i64) -> i64 {
        x
    }
}

/// Keeps handles it is given.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Keeper {
    kept: Vec<RemoteCounter>,
}

#[distob::remote]
impl Keeper {
    pub fn keep(&mut self, c: RemoteCounter) {
        self.kept.push(c);
    }

    pub async fn total(&self) -> Result<i64, String> {
        let calls: Vec<_> = self.kept.iter().map(|c| c.get()).collect();
        let mut sum = 0;
        for call in calls {
            sum += call.await.map_err(|e| e.to_string())?;
        }
        Ok(sum)
    }

    pub fn forget(&mut self) {
        self.kept.clear();
    }
}

/// A type registered under a fixed name.
#[derive(Debug, Serialize, Deserialize)]
pub struct Renamed(pub i64);

#[distob::remote(name = "actors.Renamed")]
impl Renamed {
    pub fn value(&self) -> i64 {
        self.0
    }
}

/// Calls the counters it is handed, holding none.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Relay;

#[distob::remote]
impl Relay {
    pub async fn touch(&self, c: RemoteCounter) -> Result<i64, String> {
        c.incr(1).await.map_err(|e| e.to_string())
    }
}
