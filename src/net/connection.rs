//! Framed reading and writing over any `AsyncRead`/`AsyncWrite` (TCP or in memory).
//!
//! [`FrameReader`] owns a connection's read side and reads bodies straight
//! into their final [`AlignedBuf`], assembling chunked bodies in place.
//! [`FrameWriter`] (in `writer`, re-exported here) is the write side.
//! [`Liveness`] is how a TCP link notices a dead peer.

use super::buf::AlignedBuf;
use super::codec::{self, Frame, Limits, PREFIX_LEN};
use super::error::NetError;
use super::wire::Message;
use super::writer::WRITE_TURN;
pub use super::writer::{write_frame, FrameWriter, WriteMode, DEFAULT_CHUNK};
use bytes::{Buf, BytesMut};
use std::collections::HashMap;
use std::future::Future;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// How much the reader asks the socket for at a time.
const READ_AHEAD: usize = 64 << 10;

/// The default time a peer may stall in the middle of a frame.
pub const DEFAULT_FRAME_TIMEOUT: Duration = Duration::from_secs(30);

/// How a TCP link notices a dead peer. The kernel does the watching, so a
/// peer busy in a long computation still answers, while one whose host or
/// link is gone — killed, unplugged, cut silently with no FIN — is noticed
/// within about `idle + interval × probes` when the link is quiet, and
/// within `unacked` when data are waiting for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Liveness {
    /// Quiet time before the first probe (whole seconds).
    pub idle: Duration,
    /// Time between probes (whole seconds: the kernel's unit).
    pub interval: Duration,
    /// Unanswered probes before the link is declared dead.
    pub probes: u32,
    /// Longest time sent data may stay unacknowledged (Linux).
    pub unacked: Duration,
}

impl Default for Liveness {
    /// A dead peer is noticed within about 3 s: a quiet link after 1 s
    /// and two unanswered probes 1 s apart, a link with data waiting once
    /// they have gone unacknowledged for 2.5 s (plus the retransmission
    /// that notices it).
    fn default() -> Self {
        Liveness {
            idle: Duration::from_secs(1),
            interval: Duration::from_secs(1),
            probes: 2,
            unacked: Duration::from_millis(2500),
        }
    }
}

impl Liveness {
    /// Applies the settings (and `TCP_NODELAY`) to a TCP stream.
    pub fn apply(&self, stream: &tokio::net::TcpStream) -> std::io::Result<()> {
        stream.set_nodelay(true)?;
        let sock = socket2::SockRef::from(stream);
        let keepalive = socket2::TcpKeepalive::new()
            .with_time(self.idle)
            .with_interval(self.interval)
            .with_retries(self.probes);
        sock.set_tcp_keepalive(&keepalive)?;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        sock.set_tcp_user_timeout(Some(self.unacked))?;
        Ok(())
    }
}

/// Reads frames from one connection.
#[derive(Debug)]
pub struct FrameReader<R> {
    io: R,
    buf: BytesMut,
    limits: Limits,
    frame_timeout: Duration,
    streams: HashMap<u32, (AlignedBuf, u64)>,
    assembling: u64,
    /// Bytes read from the connection so far, for progress (see
    /// [`counting`](FrameReader::counting)).
    counter: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    /// How long to poll for the next frame before parking (see
    /// [`Latency`](super::Latency)).
    spin: Option<Duration>,
    /// Whether the last wait was short enough to be worth polling for:
    /// after a spin that ran out, the reader parks until bytes come again
    /// within [`SPIN_AGAIN`] spin times of its starting to wait.
    spin_hot: bool,
}

/// A parked wait no longer than this many spin times makes the reader
/// poll again on its next wait.
const SPIN_AGAIN: u32 = 4;

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader with the given limits.
    pub fn new(io: R, limits: Limits) -> Self {
        FrameReader {
            io,
            buf: BytesMut::with_capacity(READ_AHEAD),
            limits,
            frame_timeout: DEFAULT_FRAME_TIMEOUT,
            streams: HashMap::new(),
            assembling: 0,
            counter: None,
            spin: None,
            spin_hot: true,
        }
    }

    /// Polls for up to `spin` for the next frame before parking (`None`:
    /// park at once), as a [`Latency`](super::Latency) mode says.
    pub fn with_spin(mut self, spin: Option<Duration>) -> Self {
        self.spin = spin;
        self
    }

    /// Sets how long the peer may stall in the middle of a frame before the
    /// read fails with [`NetError::Timeout`].
    pub fn with_frame_timeout(mut self, timeout: Duration) -> Self {
        self.frame_timeout = timeout;
        self
    }

    /// The byte stream back. Bytes read ahead and not yet decoded are lost,
    /// so call this only where the peer has sent nothing more.
    pub fn into_inner(self) -> R {
        self.io
    }

    /// The next whole frame (chunked bodies assembled); `Ok(None)` when the
    /// peer closed the connection between frames.
    pub async fn next(&mut self) -> Result<Option<Frame>, NetError> {
        loop {
            if let Some(frame) = self.buffered()? {
                return Ok(Some(frame));
            }
            let Some((head_len, body_len)) = self.read_prefix().await? else {
                return Ok(None);
            };
            while self.buf.len() < PREFIX_LEN + head_len {
                self.fill_mid_frame().await?;
            }
            self.buf.advance(PREFIX_LEN);
            let message = codec::decode_head(&self.buf[..head_len]);
            self.buf.advance(head_len);
            let wire = (PREFIX_LEN + head_len + body_len) as u64;
            match self.piece(message?, body_len)? {
                Ok(mut piece) => {
                    self.read_body(&mut piece.dest.as_bytes_mut()[piece.at.clone()])
                        .await?;
                    if let Some(frame) = self.piece_read(piece, wire) {
                        return Ok(Some(frame));
                    }
                }
                Err(message) => {
                    let mut body = AlignedBuf::zeroed(body_len);
                    self.read_body(body.as_bytes_mut()).await?;
                    return Ok(Some(Frame {
                        message,
                        body,
                        wire_len: wire,
                    }));
                }
            }
        }
    }

    /// The next frame if the bytes already read hold all of it — nothing
    /// to wait for (pipelined calls arrive many to a read). A chunk read
    /// whole is assembled and the next frame looked for.
    pub fn buffered(&mut self) -> Result<Option<Frame>, NetError> {
        loop {
            let Some((head_len, body_len)) = codec::parse_prefix(&self.buf, &self.limits)? else {
                return Ok(None);
            };
            let wire = PREFIX_LEN + head_len + body_len;
            if self.buf.len() < wire {
                return Ok(None);
            }
            let message = codec::decode_head(&self.buf[PREFIX_LEN..PREFIX_LEN + head_len])?;
            self.buf.advance(PREFIX_LEN + head_len);
            let frame = match self.piece(message, body_len)? {
                Ok(mut piece) => {
                    piece.dest.as_bytes_mut()[piece.at.clone()]
                        .copy_from_slice(&self.buf[..body_len]);
                    self.buf.advance(body_len);
                    self.piece_read(piece, wire as u64)
                }
                Err(message) => {
                    let mut body = AlignedBuf::zeroed(body_len);
                    body.as_bytes_mut().copy_from_slice(&self.buf[..body_len]);
                    self.buf.advance(body_len);
                    Some(Frame {
                        message,
                        body,
                        wire_len: wire as u64,
                    })
                }
            };
            if frame.is_some() {
                return Ok(frame);
            }
        }
    }

    /// The next frame as [`buffered`](Self::buffered) has it, reading from
    /// the connection while no byte of a frame waits (a wait between frames
    /// needs no timer, and no future).
    pub(super) fn poll_whole_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Whole, NetError>> {
        loop {
            if let Some(frame) = self.buffered()? {
                return Poll::Ready(Ok(Whole::Frame(frame)));
            }
            if !self.buf.is_empty() || self.spin.is_some() {
                return Poll::Ready(Ok(Whole::Partial));
            }
            self.buf.reserve(READ_AHEAD);
            let read = std::pin::pin!(self.io.read_buf(&mut self.buf));
            match std::task::ready!(read.poll(cx)) {
                Ok(0) => return Poll::Ready(Ok(Whole::Closed)),
                Ok(n) => self.count(n),
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        }
    }

    /// Where a chunk frame's `len` bytes go: its stream's buffer (new for
    /// a first chunk), checked against the body's length and the limits.
    /// Any other message comes back as it is.
    fn piece(&mut self, message: Message, len: usize) -> Result<Result<Piece, Message>, NetError> {
        let Message::Chunk {
            stream,
            offset,
            total,
            last,
        } = message
        else {
            return Ok(Err(message));
        };
        let fits = offset
            .checked_add(len as u64)
            .is_some_and(|end| end <= total && total <= self.limits.max_body);
        let (dest, so_far) = match self.streams.remove(&stream) {
            Some((d, n)) if d.len() as u64 == total && fits => (d, n),
            None if fits && self.assembling + total <= self.limits.max_body => {
                self.assembling += total;
                (AlignedBuf::zeroed(total as usize), 0)
            }
            _ => {
                let len = len as u64;
                return Err(codec::DecodeError::BadChunk { offset, len, total }.into());
            }
        };
        let start = offset as usize;
        Ok(Ok(Piece {
            stream,
            last,
            dest,
            so_far,
            at: start..start + len,
        }))
    }

    /// A chunk is in its buffer (the frame took `wire` bytes): the whole
    /// frame if it was the last, else the buffer is kept for the next.
    fn piece_read(&mut self, piece: Piece, wire: u64) -> Option<Frame> {
        let wire_len = piece.so_far + wire;
        match piece.last {
            Some(message) => {
                self.assembling -= piece.dest.len() as u64;
                Some(Frame {
                    message: *message,
                    body: piece.dest,
                    wire_len,
                })
            }
            None => {
                self.streams.insert(piece.stream, (piece.dest, wire_len));
                None
            }
        }
    }

    async fn read_prefix(&mut self) -> Result<Option<(usize, usize)>, NetError> {
        loop {
            if let Some(lens) = codec::parse_prefix(&self.buf, &self.limits)? {
                return Ok(Some(lens));
            }
            let n = if self.buf.is_empty() {
                self.fill().await?
            } else {
                self.fill_mid_frame().await?
            };
            if n == 0 {
                return Ok(None);
            }
        }
    }

    async fn fill(&mut self) -> Result<usize, NetError> {
        self.buf.reserve(READ_AHEAD);
        let n = match self.spin {
            Some(spin) if self.buf.is_empty() && self.spin_hot => self.spin_read(spin).await?,
            Some(spin) if self.buf.is_empty() => {
                let waited = std::time::Instant::now();
                let n = self.io.read_buf(&mut self.buf).await?;
                self.spin_hot = waited.elapsed() <= spin * SPIN_AGAIN;
                n
            }
            _ => self.io.read_buf(&mut self.buf).await?,
        };
        self.count(n);
        Ok(n)
    }

    /// Reads, polling without parking for up to `spin` — one look at the
    /// connection per turn of the runtime, the thread's other tasks run in
    /// between — then parking as a plain read does.
    async fn spin_read(&mut self, spin: Duration) -> Result<usize, NetError> {
        let until = std::time::Instant::now() + spin;
        loop {
            let read = std::future::poll_fn(|cx| {
                let read = std::pin::pin!(self.io.read_buf(&mut self.buf));
                std::task::Poll::Ready(match std::future::Future::poll(read, cx) {
                    std::task::Poll::Ready(n) => Some(n),
                    std::task::Poll::Pending => None,
                })
            })
            .await;
            if let Some(n) = read {
                return Ok(n?);
            }
            if std::time::Instant::now() >= until {
                // Frames come further apart than the spin: park until
                // they come close again (a bulk transfer's acks, an idle
                // link), so as not to poll where it buys nothing.
                self.spin_hot = false;
                return Ok(self.io.read_buf(&mut self.buf).await?);
            }
            // Tokio runs a yielded task again only after a non-blocking
            // poll of its I/O driver: the look at the socket.
            tokio::task::yield_now().await;
        }
    }

    fn count(&self, n: usize) {
        if let Some(c) = &self.counter {
            c.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Adds every byte read from the connection to `counter` as it comes
    /// (mid-frame too): what a transfer's progress is measured by.
    pub fn counting(mut self, counter: std::sync::Arc<std::sync::atomic::AtomicU64>) -> Self {
        self.counter = Some(counter);
        self
    }

    /// Reads more while a frame is incomplete: EOF is an error, and so is a stall.
    async fn fill_mid_frame(&mut self) -> Result<usize, NetError> {
        match tokio::time::timeout(self.frame_timeout, self.fill()).await {
            Ok(Ok(0)) => Err(NetError::Truncated),
            Ok(result) => result,
            Err(_) => Err(NetError::Timeout),
        }
    }

    async fn read_body(&mut self, dest: &mut [u8]) -> Result<(), NetError> {
        let have = self.buf.len().min(dest.len());
        dest[..have].copy_from_slice(&self.buf[..have]);
        self.buf.advance(have);
        let rest = &mut dest[have..];
        if rest.is_empty() {
            return Ok(());
        }
        if rest.len() < READ_AHEAD {
            while self.buf.len() < rest.len() {
                self.fill_mid_frame().await?;
            }
            rest.copy_from_slice(&self.buf[..rest.len()]);
            self.buf.advance(rest.len());
            return Ok(());
        }
        // A large body is read a turn at a time, letting the thread's other
        // tasks run between turns (see WRITE_TURN).
        for turn in rest.chunks_mut(WRITE_TURN) {
            match tokio::time::timeout(self.frame_timeout, read_exact_timed(&mut self.io, turn))
                .await
            {
                Ok(result) => result?,
                Err(_) => return Err(NetError::Timeout),
            }
            self.count(turn.len());
            tokio::task::yield_now().await;
        }
        Ok(())
    }
}

async fn read_exact_timed<R: AsyncRead + Unpin>(
    io: &mut R,
    dest: &mut [u8],
) -> Result<(), NetError> {
    match io.read_exact(dest).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(NetError::Truncated),
        Err(e) => Err(e.into()),
    }
}

/// A chunk frame's piece of a body being assembled.
struct Piece {
    stream: u32,
    /// On the last piece: the message the whole body belongs to.
    last: Option<Box<Message>>,
    /// The whole body's buffer.
    dest: AlignedBuf,
    /// Wire bytes of the body's chunks before this one.
    so_far: u64,
    /// Where in the body this piece goes.
    at: std::ops::Range<usize>,
}

/// What [`FrameReader::poll_whole_frame`] found.
// Returned straight to the caller once per frame: boxing the frame would
// allocate once per frame instead.
#[allow(clippy::large_enum_variant)]
pub(super) enum Whole {
    Frame(Frame),
    /// Part of a frame is here, or the reader spins: [`FrameReader::next`]
    /// goes on from there.
    Partial,
    /// The peer closed the connection between frames.
    Closed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::wire::Message;
    use bytes::Bytes;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_large_body_is_freed_on_the_dropper_thread_once_written() {
        /// A body that tells which thread freed it.
        struct Tattle(Vec<u8>, std::sync::mpsc::Sender<Option<String>>);
        impl AsRef<[u8]> for Tattle {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }
        impl Drop for Tattle {
            fn drop(&mut self) {
                let _ = self
                    .1
                    .send(std::thread::current().name().map(str::to_owned));
            }
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, server) =
            tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        let (_r, w) = client.unwrap().into_split();
        let writer = FrameWriter::tcp(w, WriteMode::Batched);
        let (freed_tx, freed) = std::sync::mpsc::channel();
        let body = Bytes::from_owner(Tattle(vec![7u8; crate::net::buf::DROP_ASIDE + 5], freed_tx));
        writer.send(&Message::Ping { seq: 9 }, body).unwrap();
        let mut reader = FrameReader::new(server.unwrap().0, Limits::default());
        let frame = tokio::time::timeout(Duration::from_secs(20), reader.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(frame.body.len(), crate::net::buf::DROP_ASIDE + 5);
        let by = freed.recv_timeout(Duration::from_secs(20)).unwrap();
        assert_eq!(by.as_deref(), Some("distob-dropper"));
    }

    #[tokio::test]
    async fn chunked_bodies_arrive_whole_between_small_frames() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let writer = FrameWriter::stream(a, WriteMode::Immediate);
        let big: Vec<u8> = (0..(DEFAULT_CHUNK * 2 + 123))
            .map(|i| (i % 251) as u8)
            .collect();
        writer
            .send(&Message::Ping { seq: 1 }, Bytes::new())
            .unwrap();
        writer
            .send(&Message::Pong { seq: 2 }, Bytes::from(big.clone()))
            .unwrap();
        writer
            .send(&Message::Ping { seq: 3 }, Bytes::from_static(b"x"))
            .unwrap();
        let mut reader = FrameReader::new(b, Limits::default());
        let within = Duration::from_secs(10);
        let f1 = tokio::time::timeout(within, reader.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(f1.message, Message::Ping { seq: 1 });
        let f2 = tokio::time::timeout(within, reader.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(f2.message, Message::Pong { seq: 2 });
        assert!(f2.body.as_bytes() == &big[..]);
        let f3 = tokio::time::timeout(within, reader.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(f3.body.as_bytes(), b"x");
        writer.close();
        drop(writer);
        let end = tokio::time::timeout(within, reader.next())
            .await
            .unwrap()
            .unwrap();
        assert!(end.is_none());
    }

    #[tokio::test]
    async fn liveness_settings_reach_the_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, _server) =
            tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        let client = client.unwrap();
        let live = Liveness::default();
        live.apply(&client).unwrap();
        let sock = socket2::SockRef::from(&client);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), live.idle);
        assert_eq!(sock.tcp_keepalive_retries().unwrap(), live.probes);
        #[cfg(target_os = "linux")]
        assert_eq!(sock.tcp_user_timeout().unwrap(), Some(live.unacked));
        assert!(client.nodelay().unwrap());
    }

    #[tokio::test]
    async fn a_stalled_frame_times_out() {
        let (mut a, b) = tokio::io::duplex(1024);
        a.write_all(&[10, 0, 0, 0, 0, 0, 0, 0, 1]).await.unwrap();
        let mut reader =
            FrameReader::new(b, Limits::default()).with_frame_timeout(Duration::from_millis(50));
        let r = tokio::time::timeout(Duration::from_secs(5), reader.next())
            .await
            .unwrap();
        assert!(matches!(r, Err(NetError::Timeout)), "{r:?}");
    }

    #[tokio::test]
    async fn a_spinning_reader_parks_once_frames_come_further_apart_than_its_spin() {
        let (mut a, b) = tokio::io::duplex(1 << 16);
        let spin = Duration::from_millis(2);
        let mut reader = FrameReader::new(b, Limits::default()).with_spin(Some(spin));
        let within = Duration::from_secs(10);
        let ping = |seq| async move {
            let mut buf = Vec::new();
            write_frame(&mut buf, &Message::Ping { seq }, &[])
                .await
                .unwrap();
            buf
        };
        // A frame long after the reader began to wait: the spin runs out.
        let late = ping(1).await;
        let writer = async {
            tokio::time::sleep(spin * 10).await;
            a.write_all(&late).await.unwrap();
        };
        let (got, ()) = tokio::join!(tokio::time::timeout(within, reader.next()), writer);
        assert!(got.unwrap().unwrap().is_some());
        assert!(!reader.spin_hot, "the reader polls on after a spin ran out");
        // Frames close together again: the reader polls again.
        a.write_all(&ping(2).await).await.unwrap();
        let got = tokio::time::timeout(within, reader.next()).await.unwrap();
        assert!(got.unwrap().is_some());
        assert!(
            reader.spin_hot,
            "the reader stays parked though frames come close"
        );
    }
}
