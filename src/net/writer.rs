//! [`FrameWriter`]: a cheap, cloneable handle to a connection's write side.
//! Callers encode their frame into a shared buffer and, when nobody is
//! writing, write it to the socket themselves (no thread hop). What a full
//! socket does not take is finished by one flusher task per connection,
//! which also batches every frame queued meanwhile into one vectored write.
//! Large bodies go out a turn at a time on TCP (one write takes at most a
//! turn); stream sinks (TLS, pipes) take whole segments. Large bodies are
//! freed off the writing thread. A sender that queues a long burst of
//! small frames without yielding (a loop issuing calls) writes it to a
//! TCP socket as it grows, a [`BURST`] at a time, so the peer works while
//! the rest is sent.

use super::codec;
use super::error::NetError;
use super::wire::Message;
use bytes::{Buf, Bytes, BytesMut};
use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;

/// Bodies up to this size are copied into the shared write buffer; larger
/// ones are written from their own memory.
const INLINE_BODY: usize = 16 << 10;

/// Largest piece of a chunked body (kept well under the frame limit, so that
/// other frames can be written between pieces).
pub const DEFAULT_CHUNK: usize = 8 << 20;

/// When a [`FrameWriter`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// The sender writes to the socket itself when no write is under way:
    /// lowest latency (clients).
    Immediate,
    /// Frames are queued and written by the flusher task once the current
    /// burst of work yields: fewest system calls (engines).
    Batched,
    /// `Batched` for senders on an async runtime thread (the flusher runs
    /// on that same thread as soon as the sender yields, and a burst of
    /// calls becomes one write); `Immediate` for blocking senders (clients).
    Adaptive,
}

enum Sink {
    Tcp(OwnedWriteHalf),
    Stream(tokio::sync::Mutex<Box<dyn AsyncWrite + Send + Unpin>>),
}

#[derive(Default)]
struct State {
    staging: BytesMut,
    queue: VecDeque<Bytes>,
    queued: usize,
    flushing: bool,
    closed: bool,
    next_stream: u32,
    /// Bytes ever queued, and ever written.
    pushed: u64,
    written: u64,
    /// Large bodies sent in chunks, each with the count of bytes queued up
    /// to its last chunk: held here until written, then freed on the
    /// dropper thread rather than by whoever writes the last chunk.
    large: VecDeque<(u64, Bytes)>,
}

impl State {
    fn seal(&mut self) {
        if !self.staging.is_empty() {
            let seg = self.staging.split().freeze();
            self.queued += seg.len();
            self.pushed += seg.len() as u64;
            self.queue.push_back(seg);
        }
    }

    fn push(&mut self, body: Bytes) {
        self.queued += body.len();
        self.pushed += body.len() as u64;
        self.queue.push_back(body);
    }

    /// `n` more bytes are written: large bodies wholly written go.
    fn written(&mut self, n: usize) {
        self.written += n as u64;
        while self
            .large
            .front()
            .is_some_and(|(end, _)| *end <= self.written)
        {
            if let Some((_, body)) = self.large.pop_front() {
                super::buf::drop_aside(body);
            }
        }
    }

    fn advance(&mut self, n: usize) {
        self.skip(n);
        // After the queue let go of its pieces: the body's last reference
        // is then the one freed aside.
        self.written(n);
    }

    /// Takes `n` written bytes off the front of the queue.
    fn skip(&mut self, mut n: usize) {
        self.queued -= n;
        while n > 0 {
            let Some(front) = self.queue.front_mut() else {
                return;
            };
            if n >= front.len() {
                n -= front.len();
                self.queue.pop_front();
            } else {
                front.advance(n);
                n = 0;
            }
        }
    }

    fn is_drained(&self) -> bool {
        self.queue.is_empty() && self.staging.is_empty()
    }
}

struct Shared {
    /// Set at creation, or later for a writer made before its connection
    /// (frames sent meanwhile wait in the queue).
    sink: std::sync::OnceLock<Sink>,
    state: Mutex<State>,
    wake: Notify,
    mode: WriteMode,
    chunk: usize,
    /// Bytes of frames queued so far (heads and bodies).
    bytes: std::sync::atomic::AtomicU64,
}

/// A cloneable handle to one connection's write side.
#[derive(Clone)]
pub struct FrameWriter {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FrameWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameWriter")
            .field("mode", &self.shared.mode)
            .finish_non_exhaustive()
    }
}

impl FrameWriter {
    /// A writer over a TCP write half. Spawns its flusher task on the
    /// current tokio runtime.
    pub fn tcp(half: OwnedWriteHalf, mode: WriteMode) -> Self {
        Self::start(Sink::Tcp(half), mode)
    }

    /// A writer over any byte stream (for example an in-memory duplex).
    /// Every write goes through the flusher task.
    pub fn stream(io: impl AsyncWrite + Send + Unpin + 'static, mode: WriteMode) -> Self {
        Self::start(Sink::Stream(tokio::sync::Mutex::new(Box::new(io))), mode)
    }

    /// A writer whose connection comes later ([`attach_tcp`](FrameWriter::attach_tcp),
    /// [`attach_stream`](FrameWriter::attach_stream)): frames sent before
    /// then are queued, in order, and written once it is attached. Spawns
    /// its flusher task on the current tokio runtime.
    pub fn deferred(mode: WriteMode) -> Self {
        Self::spawn(std::sync::OnceLock::new(), mode)
    }

    /// Gives a [`deferred`](FrameWriter::deferred) writer its TCP write
    /// half; false (and the half dropped) if it has one already.
    pub fn attach_tcp(&self, half: OwnedWriteHalf) -> bool {
        self.attach(Sink::Tcp(half))
    }

    /// Gives a [`deferred`](FrameWriter::deferred) writer its byte stream;
    /// false if it has one already.
    pub fn attach_stream(&self, io: impl AsyncWrite + Send + Unpin + 'static) -> bool {
        self.attach(Sink::Stream(tokio::sync::Mutex::new(Box::new(io))))
    }

    fn attach(&self, sink: Sink) -> bool {
        let attached = self.shared.sink.set(sink).is_ok();
        // What was queued meanwhile goes now.
        self.lock().flushing = true;
        self.shared.wake.notify_one();
        attached
    }

    fn start(sink: Sink, mode: WriteMode) -> Self {
        Self::spawn(std::sync::OnceLock::from(sink), mode)
    }

    fn spawn(sink: std::sync::OnceLock<Sink>, mode: WriteMode) -> Self {
        let shared = Arc::new(Shared {
            sink,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            mode,
            chunk: DEFAULT_CHUNK,
            bytes: Default::default(),
        });
        tokio::spawn(flusher(shared.clone()));
        FrameWriter { shared }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a panic while encoding into the buffer; the
        // state is still a valid queue, so go on with it.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues one frame and starts writing it. Frames from one caller are
    /// written in the order of the calls. Fails once the connection closed.
    pub fn send(&self, message: &Message, body: Bytes) -> Result<(), NetError> {
        self.send_counted(message, body).map(drop)
    }

    /// [`send`](FrameWriter::send), giving the frame's size in bytes (head
    /// and body).
    pub fn send_counted(&self, message: &Message, body: Bytes) -> Result<u64, NetError> {
        let mut st = self.lock();
        if st.closed {
            return Err(NetError::Closed);
        }
        let mut heads = 0;
        let len = body.len();
        if body.len() <= self.shared.chunk {
            let before = st.staging.len();
            codec::encode_head(message, body.len(), &mut st.staging)?;
            heads += st.staging.len() - before;
            if body.len() <= INLINE_BODY {
                st.staging.extend_from_slice(&body);
            } else {
                st.seal();
                st.push(body);
            }
        } else {
            let stream = st.next_stream;
            st.next_stream = st.next_stream.wrapping_add(1);
            let total = body.len() as u64;
            let mut offset = 0;
            while offset < body.len() {
                let end = (offset + self.shared.chunk).min(body.len());
                let last = (end == body.len()).then(|| Box::new(message.clone()));
                let chunk = Message::Chunk {
                    stream,
                    offset: offset as u64,
                    total,
                    last,
                };
                let before = st.staging.len();
                codec::encode_head(&chunk, end - offset, &mut st.staging)?;
                heads += st.staging.len() - before;
                st.seal();
                st.push(body.slice(offset..end));
                offset = end;
            }
            if body.len() >= super::buf::DROP_ASIDE {
                let end = st.pushed;
                st.large.push_back((end, body));
            }
        }
        let size = (heads + len) as u64;
        self.shared
            .bytes
            .fetch_add(size, std::sync::atomic::Ordering::Relaxed);
        // A burst of small frames that has not yielded yet goes out as it
        // grows, so that the peer starts on it while the rest is still
        // being sent (not while a large body or a backlog waits ahead).
        let burst = st.staging.len() >= BURST && st.queued < BURST;
        if st.flushing && !burst {
            return Ok(size);
        }
        let inline = burst
            || match self.shared.mode {
                WriteMode::Immediate => true,
                WriteMode::Batched => false,
                WriteMode::Adaptive => tokio::runtime::Handle::try_current().is_err(),
            };
        if let (true, Some(Sink::Tcp(half))) = (inline, self.shared.sink.get()) {
            // The caller writes at most one turn itself; the flusher does
            // the rest.
            match write_now(&mut st, half, WRITE_TURN) {
                Ok(Wrote::All) => return Ok(size),
                Ok(_) => {}
                Err(e) => {
                    // Nothing more goes out: the flusher wakes to find the
                    // writer closed and drained, and ends.
                    st.closed = true;
                    st.queue.clear();
                    st.staging.clear();
                    st.flushing = true;
                    drop(st);
                    self.shared.wake.notify_one();
                    return Err(e.into());
                }
            }
        }
        if st.flushing {
            return Ok(size);
        }
        st.flushing = true;
        drop(st);
        self.shared.wake.notify_one();
        Ok(size)
    }

    /// Bytes of every frame sent through this writer so far (heads and
    /// bodies, once queued).
    pub fn bytes_sent(&self) -> u64 {
        self.shared.bytes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Bytes of frames the connection has taken so far (written to the
    /// socket or stream): what a transfer's progress is measured by.
    pub fn bytes_written(&self) -> u64 {
        self.lock().written
    }

    /// Bytes queued and not yet taken by the socket.
    pub fn queued(&self) -> usize {
        let st = self.lock();
        st.queued + st.staging.len()
    }

    /// Whether the connection is closed for writing.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Refuses further frames; what is queued is still written, then the
    /// flusher ends and the write side closes once every handle is dropped.
    pub fn close(&self) {
        self.lock().closed = true;
        self.shared.wake.notify_one();
    }
}

/// How far one write of queued frames got.
#[derive(Debug, PartialEq, Eq)]
enum Wrote {
    /// Everything queued is written.
    All,
    /// The socket takes no more now.
    Blocked,
    /// [`WRITE_TURN`] bytes went out and more are queued: let other tasks
    /// run before going on.
    Turn,
}

/// The most one turn of the flusher writes before it lets the thread's
/// other tasks run: while the peer reads as fast as we write, the socket
/// never says "would block", and a large body would otherwise hold the
/// thread (and the small replies waiting on it) for the whole transfer.
/// 128 KiB (≈ 0.1 ms of loopback transfer) keeps a small call beside a
/// 1 GiB scatter under 1.5 ms at p99 (1 MiB turns gave 3–4.5 ms) at no
/// cost in transfer rate.
pub(crate) const WRITE_TURN: usize = 128 << 10;

/// Bytes of small frames queued since the last write (a loop issuing
/// calls, not yet yielded) past which the sender writes them to a TCP
/// socket itself, even where the flusher would (`Batched`), unless as
/// much again waits ahead of them (a large body, a socket that is full):
/// the peer then works on the first of a long burst while the rest is
/// sent, instead of after the whole burst is queued. 64 KiB is about a
/// thousand small calls, one write each.
const BURST: usize = 64 << 10;

/// Writes what the socket takes without waiting, up to `limit` bytes.
fn write_now(st: &mut State, half: &OwnedWriteHalf, limit: usize) -> std::io::Result<Wrote> {
    let mut written = 0;
    loop {
        st.seal();
        if st.queue.is_empty() {
            return Ok(Wrote::All);
        }
        if written >= limit {
            return Ok(Wrote::Turn);
        }
        let slices = turn_slices(&st.queue, limit - written);
        match half.try_write_vectored(&slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                drop(slices);
                st.advance(n);
                written += n;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(Wrote::Blocked),
            Err(e) => return Err(e),
        }
    }
}

/// The queue's first buffers (at most 64) as one vectored write of at most
/// `room` bytes, the last cut short: a single write of a large body would
/// otherwise take whatever the socket holds (megabytes on loopback) and
/// hold the thread for as long as the copy takes.
fn turn_slices(queue: &VecDeque<Bytes>, mut room: usize) -> Vec<IoSlice<'_>> {
    let mut slices = Vec::with_capacity(queue.len().min(64));
    for b in queue.iter().take(64) {
        if room == 0 {
            break;
        }
        let n = b.len().min(room);
        slices.push(IoSlice::new(&b[..n]));
        room -= n;
    }
    slices
}

async fn flusher(shared: Arc<Shared>) {
    loop {
        shared.wake.notified().await;
        let done = match shared.sink.get() {
            Some(Sink::Tcp(half)) => flush_tcp(&shared, half).await,
            Some(Sink::Stream(io)) => flush_stream(&shared, io).await,
            // Not attached yet: what is queued waits for the connection,
            // unless the writer is closed first.
            None if shared.state.lock().is_ok_and(|st| !st.closed) => continue,
            None => return,
        };
        let closing = {
            let mut st = shared
                .state
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if done.is_err() {
                st.closed = true;
                st.queue.clear();
                st.staging.clear();
            }
            st.closed && st.is_drained()
        };
        if closing {
            if let Some(Sink::Stream(io)) = shared.sink.get() {
                // The peer may be gone already; there is nothing to report to.
                let _ = io.lock().await.shutdown().await;
            }
            return;
        }
    }
}

async fn flush_tcp(shared: &Shared, half: &OwnedWriteHalf) -> std::io::Result<()> {
    loop {
        half.writable().await?;
        let wrote = {
            let mut st = shared
                .state
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let wrote = write_now(&mut st, half, WRITE_TURN)?;
            if wrote == Wrote::All {
                st.flushing = false;
            }
            wrote
        };
        match wrote {
            Wrote::All => return Ok(()),
            Wrote::Turn => tokio::task::yield_now().await,
            Wrote::Blocked => {}
        }
    }
}

async fn flush_stream(
    shared: &Shared,
    io: &tokio::sync::Mutex<Box<dyn AsyncWrite + Send + Unpin>>,
) -> std::io::Result<()> {
    loop {
        let segments = {
            let mut st = shared
                .state
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            st.seal();
            if st.queue.is_empty() {
                st.flushing = false;
                return Ok(());
            }
            st.queued = 0;
            std::mem::take(&mut st.queue)
        };
        let mut io = io.lock().await;
        let mut n = 0;
        for seg in segments {
            io.write_all(&seg).await?;
            n += seg.len();
        }
        io.flush().await?;
        shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .written(n);
    }
}

/// Writes one frame directly (used before a [`FrameWriter`] exists: the handshake).
pub async fn write_frame<W: AsyncWrite + Unpin>(
    io: &mut W,
    message: &Message,
    body: &[u8],
) -> Result<(), NetError> {
    let mut buf = BytesMut::new();
    codec::encode(message, body, &mut buf)?;
    io.write_all(&buf).await?;
    io.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(lens: &[usize]) -> VecDeque<Bytes> {
        lens.iter().map(|&n| Bytes::from(vec![7u8; n])).collect()
    }

    fn lens(slices: &[IoSlice<'_>]) -> Vec<usize> {
        slices.iter().map(|s| s.len()).collect()
    }

    #[test]
    fn a_turn_writes_at_most_its_room() {
        let q = queue(&[8 << 20, 53, 8 << 20]);
        assert_eq!(lens(&turn_slices(&q, WRITE_TURN)), [WRITE_TURN]);
        let q = queue(&[100, 53, 8 << 20]);
        assert_eq!(lens(&turn_slices(&q, 1000)), [100, 53, 847]);
        assert_eq!(lens(&turn_slices(&q, 153)), [100, 53]);
    }

    #[test]
    fn small_buffers_go_whole_and_at_most_64() {
        let q = queue(&[10; 100]);
        let slices = turn_slices(&q, WRITE_TURN);
        assert_eq!(lens(&slices), [10; 64]);
        assert!(slices.iter().all(|s| s.iter().all(|&b| b == 7)));
    }

    #[test]
    fn a_long_burst_is_written_before_its_sender_yields() -> Result<(), Box<dyn std::error::Error>>
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            let ours = std::net::TcpStream::connect(listener.local_addr()?)?;
            let (_peer, _) = listener.accept()?;
            ours.set_nonblocking(true)?;
            let (_, half) = tokio::net::TcpStream::from_std(ours)?.into_split();
            // Batched: only the flusher writes, and on this one thread it
            // cannot run until the sender yields.
            let writer = FrameWriter::tcp(half, WriteMode::Batched);
            // One turn of the runtime's driver: the socket is known writable.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            let reply = |i| {
                Message::Reply(
                    crate::id::CallId(i),
                    crate::net::wire::Outcome::Done,
                    Vec::new(),
                )
            };
            let mut i = 0;
            while writer.bytes_sent() < (BURST / 2) as u64 {
                writer.send(&reply(i), Bytes::new())?;
                i += 1;
            }
            assert_eq!(
                writer.bytes_written(),
                0,
                "a short burst waits for the flusher"
            );
            while writer.bytes_sent() < 4 * BURST as u64 {
                writer.send(&reply(i), Bytes::new())?;
                i += 1;
            }
            let early = writer.bytes_written();
            assert!(
                early >= 3 * BURST as u64,
                "only {early} bytes went out before the sender yielded"
            );
            Ok(())
        })
    }
}
