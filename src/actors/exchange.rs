//! In-process engines hand values to each other by reference: a copy from
//! one engine of this process to another (`copy_to`, `broadcast`) passes the
//! shared value itself instead of its bytes. Arrays are shared
//! copy-on-write, so each engine still holds a copy of its own as far as
//! anyone can tell: a change made on one makes that one unique first.

use super::engine::{EngineState, LocalDialer};
use crate::id::ObjectId;
use crate::net::wire::Fault;
use crate::net::ClusterKey;
use std::any::Any;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// A value on its way from one in-process engine to another.
pub(crate) struct Handoff {
    pub(crate) object: ObjectId,
    pub(crate) type_name: String,
    pub(crate) value: Arc<dyn Any + Send + Sync>,
    pub(crate) nbytes: u64,
    pub(crate) reply: oneshot::Sender<Result<(), Fault>>,
}

/// An in-process engine's inbox, with the fingerprint of its cluster key
/// (values go only between engines of the same cluster), and the dialer
/// that reaches it through an in-memory pipe.
type Inbox = ([u8; 32], mpsc::UnboundedSender<Handoff>, LocalDialer);

type Directory = Mutex<HashMap<SocketAddr, Inbox>>;

/// The in-process engines of this process, by the address they listen on.
fn directory() -> &'static Directory {
    static DIRECTORY: OnceLock<Directory> = OnceLock::new();
    DIRECTORY.get_or_init(Default::default)
}

fn lock() -> std::sync::MutexGuard<'static, HashMap<SocketAddr, Inbox>> {
    directory().lock().unwrap_or_else(|p| p.into_inner())
}

/// Lists the engine listening at `addr`, of the cluster whose key has
/// `fingerprint`, as in-process; it receives handoffs from the returned
/// receiver until [`delist`] is called.
pub(crate) fn enlist(addr: SocketAddr, fingerprint: [u8; 32], dialer: LocalDialer) -> Listed {
    let (tx, rx) = mpsc::unbounded_channel();
    lock().insert(addr, (fingerprint, tx.clone(), dialer));
    Listed { addr, tx, rx }
}

/// An engine's place on the list.
pub(crate) struct Listed {
    addr: SocketAddr,
    tx: mpsc::UnboundedSender<Handoff>,
    pub(crate) rx: mpsc::UnboundedReceiver<Handoff>,
}

/// Takes the engine off the list (unless another engine took its address
/// since).
pub(crate) fn delist(listed: &Listed) {
    let mut dir = lock();
    if dir
        .get(&listed.addr)
        .is_some_and(|(_, tx, _)| tx.same_channel(&listed.tx))
    {
        dir.remove(&listed.addr);
    }
}

/// The in-process engine at `addr`, if there is one of the same cluster
/// (key `fingerprint`).
pub(crate) fn find(
    addr: SocketAddr,
    fingerprint: &[u8; 32],
) -> Option<mpsc::UnboundedSender<Handoff>> {
    lock()
        .get(&addr)
        .filter(|(f, tx, _)| f == fingerprint && !tx.is_closed())
        .map(|(_, tx, _)| tx.clone())
}

/// The in-memory dialer of the in-process engine at `addr`, if there is
/// one of the cluster of `key` (links to it then need no socket).
pub(crate) fn in_process_dialer(addr: SocketAddr, key: &ClusterKey) -> Option<LocalDialer> {
    let fingerprint = key.fingerprint();
    lock()
        .get(&addr)
        .filter(|(f, tx, _)| *f == fingerprint && !tx.is_closed())
        .map(|(_, _, dialer)| dialer.clone())
}

/// Values lent between clients and engines of this process (`Op::Lend`,
/// `Op::Adopt`), by token, with when they were lent: a token nobody takes
/// (its call was dropped, its engine went first) goes after [`LENT_FOR`],
/// at the next lend or take.
type Lent = Mutex<LentMap>;
type LentMap = HashMap<u64, (Arc<dyn Any + Send + Sync>, std::time::Instant)>;

/// How long a lent value waits for its client.
const LENT_FOR: std::time::Duration = std::time::Duration::from_secs(30);

fn lent() -> std::sync::MutexGuard<'static, LentMap> {
    static LENT: OnceLock<Lent> = OnceLock::new();
    LENT.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Puts a value where a client of this process takes it by the token.
/// Tokens are random, so that one session cannot guess another's.
pub(crate) fn lend(value: Arc<dyn Any + Send + Sync>) -> u64 {
    let token = uuid::Uuid::new_v4().as_u64_pair().0;
    let mut all = lent();
    all.retain(|_, (_, at)| at.elapsed() < LENT_FOR);
    all.insert(token, (value, std::time::Instant::now()));
    token
}

/// The value lent under `token`, taken (once).
pub(crate) fn take_lent(token: u64) -> Option<Arc<dyn Any + Send + Sync>> {
    let mut all = lent();
    let taken = all.remove(&token).map(|(value, _)| value);
    all.retain(|_, (_, at)| at.elapsed() < LENT_FOR);
    taken
}

/// A shared value of another engine or a client of this process, hosted
/// here without a copy (types that share: arrays).
pub(crate) fn adopted(
    type_name: &str,
    value: &(dyn Any + Send + Sync),
) -> Result<super::object::Held, Fault> {
    super::registry::lookup(type_name)
        .and_then(|entry| entry.adopt)
        .and_then(|adopt| adopt(value))
        .map(super::object::Held::Hosted)
        .ok_or_else(|| Fault::Refused(format!("a {type_name} cannot be handed over")))
}

/// Takes a handoff in on the receiving engine: the value becomes the
/// expected object (or a new one).
pub(crate) fn receive(engine: &Rc<EngineState>, h: Handoff) {
    let held = adopted(&h.type_name, &*h.value);
    // A copy adds no holder: the client that expects it holds it.
    let done = engine.fill_or_insert(h.object, held, &h.type_name, h.nbytes, None);
    // The pusher may have given up; the object stands either way.
    let _ = h.reply.send(done);
}
