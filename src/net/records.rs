//! The record layer under a TLS link once rustls has opened the session.
//!
//! rustls runs the TLS 1.3 handshake (certificates, key exchange) and hands
//! over: both sides derive this layer's keys from the session's exported
//! keying material (RFC 8446 §7.5; DTLS-SRTP keys its media the same way)
//! and seal and open the records themselves, one buffer each way. A
//! received record is decrypted where the socket put it and copied once into
//! the reader's buffer (through rustls each byte was copied three times); a
//! sent one is encrypted in the buffer the socket writes from.
//!
//! The records are those of TLS 1.3 application data (RFC 8446 §5.2): a
//! 5-byte header (`0x17 0x03 0x03` and the length), the ciphertext of at
//! most 16 KiB of plaintext and its one-byte content type, and a 16-byte
//! AES-128-GCM tag; the header is the additional data and the nonce is the
//! IV XOR the record's sequence number. Each direction has its own keys,
//! which change every 2²³ records (128 GiB, well inside AES-GCM's limit of
//! 2²⁴·⁵ records per key) without a message: epoch `e`'s key and IV are
//! HKDF-Expand(secret, "distob records" ‖ direction ‖ `e`). A clean close
//! is a `close_notify` alert record; an end of stream without one is
//! [`std::io::ErrorKind::UnexpectedEof`], as in TLS, so a cut-off stream is
//! never taken for a whole one.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use distob::net::records::{RecordReader, RecordWriter, Role};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! let secret = [7u8; 32];
//! let (a, b) = tokio::io::duplex(1 << 16);
//! let mut write = RecordWriter::new(a, &secret, Role::Dialer).unwrap();
//! let mut read = RecordReader::new(b, &secret, Role::Acceptor).unwrap();
//! write.write_all(b"sealed").await.unwrap();
//! write.shutdown().await.unwrap();
//! let mut got = Vec::new();
//! read.read_to_end(&mut got).await.unwrap();
//! assert_eq!(got, b"sealed");
//! # });
//! ```

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, NONCE_LEN};
use ring::hkdf;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How many bytes of exported keying material key the layer.
pub const SECRET_LEN: usize = 32;

const HEADER: usize = 5;
const TAG: usize = 16;
const KEY_LEN: usize = 16;
/// The most plaintext one record carries (TLS 1.3's limit).
const MAX_PLAIN: usize = 1 << 14;
/// The longest record body a peer may send: TLS 1.3's limit (2¹⁴ + 256).
const MAX_BODY: usize = MAX_PLAIN + 256;
const APPLICATION_DATA: u8 = 0x17;
const ALERT: u8 = 0x15;
/// A warning-level `close_notify` alert.
const CLOSE_NOTIFY: [u8; 2] = [1, 0];
/// Empty records taken in a row before the stream counts as an attack
/// (each costs an AES-GCM open and gives the reader nothing).
const MAX_EMPTY_RUN: u32 = 32;
/// Records sealed under one key before the next epoch's key takes over.
const EPOCH_RECORDS: u64 = 1 << 23;
/// The receive buffer: many records per read, small enough to stay in cache
/// while they are opened.
const READ_BUF: usize = 128 << 10;
/// Sealed bytes a writer gathers before it writes them to the socket.
const SEND_QUEUE: usize = 256 << 10;
const SALT: &[u8] = b"distob records v1";

/// Which end of the link a side is: the two directions have different keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The side that opened the connection (the TLS client).
    Dialer,
    /// The side that accepted it (the TLS server).
    Acceptor,
}

impl Role {
    /// The other end's role.
    pub fn peer(self) -> Role {
        match self {
            Role::Dialer => Role::Acceptor,
            Role::Acceptor => Role::Dialer,
        }
    }
}

/// What can go wrong in the record layer (the source of the `io::Error`s
/// its streams return).
#[derive(Clone, Debug, thiserror::Error)]
pub enum RecordError {
    /// A record failed authentication: altered, replayed, reordered or sealed
    /// under another key.
    #[error("a TLS record failed authentication")]
    Forged,
    /// A record's header is not that of TLS 1.3 application data.
    #[error("a TLS record of type {0:#04x} where application data belong (key updates and renegotiation are not spoken here)")]
    UnexpectedType(u8),
    /// A record longer than TLS allows, or too short to hold its tag.
    #[error("a TLS record of {0} bytes is outside the allowed lengths")]
    Length(usize),
    /// The peer sent an alert other than `close_notify`.
    #[error("the peer sent TLS alert {0:?}")]
    Alert([u8; 2]),
    /// More empty records in a row than a writer makes (none, here).
    #[error("more than {MAX_EMPTY_RUN} empty TLS records in a row")]
    EmptyFlood,
    /// The stream ended without `close_notify`.
    #[error("the TLS stream ended without close_notify")]
    Truncated,
    /// Writing after `shutdown`.
    #[error("the TLS stream was already shut down")]
    Shut,
    /// Key derivation or sealing failed (ring reports no cause).
    #[error("TLS record crypto failed")]
    Crypto,
}

impl From<RecordError> for io::Error {
    fn from(e: RecordError) -> io::Error {
        let kind = match e {
            RecordError::Truncated => io::ErrorKind::UnexpectedEof,
            RecordError::Shut => io::ErrorKind::BrokenPipe,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

fn crypto(_: ring::error::Unspecified) -> RecordError {
    RecordError::Crypto
}

/// An HKDF output length (ring asks for it as a type).
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// One direction's keys and the sequence number of its next record.
struct Keys {
    prk: hkdf::Prk,
    direction: &'static [u8],
    epoch: u64,
    key: LessSafeKey,
    iv: [u8; NONCE_LEN],
    seq: u64,
}

impl Keys {
    /// The keys of the records `writer` seals.
    fn new(secret: &[u8; SECRET_LEN], writer: Role) -> Result<Keys, RecordError> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(secret);
        let direction: &'static [u8] = match writer {
            Role::Dialer => b"dialer to acceptor",
            Role::Acceptor => b"acceptor to dialer",
        };
        let (key, iv) = derive(&prk, direction, 0)?;
        Ok(Keys {
            prk,
            direction,
            epoch: 0,
            key,
            iv,
            seq: 0,
        })
    }

    /// The next record's nonce, moving to the next epoch's key when due.
    fn next_nonce(&mut self) -> Result<Nonce, RecordError> {
        let seq = self.seq;
        self.seq += 1;
        let epoch = seq / EPOCH_RECORDS;
        if epoch != self.epoch {
            (self.key, self.iv) = derive(&self.prk, self.direction, epoch)?;
            self.epoch = epoch;
        }
        let mut nonce = self.iv;
        for (n, s) in nonce[NONCE_LEN - 8..].iter_mut().zip(seq.to_be_bytes()) {
            *n ^= s;
        }
        Ok(Nonce::assume_unique_for_key(nonce))
    }
}

/// Epoch `epoch`'s key and IV for `direction`.
fn derive(
    prk: &hkdf::Prk,
    direction: &[u8],
    epoch: u64,
) -> Result<(LessSafeKey, [u8; NONCE_LEN]), RecordError> {
    let epoch = epoch.to_be_bytes();
    let mut okm = [0u8; KEY_LEN + NONCE_LEN];
    prk.expand(&[b"distob records", direction, &epoch], Len(okm.len()))
        .and_then(|out| out.fill(&mut okm))
        .map_err(crypto)?;
    let key = UnboundKey::new(&AES_128_GCM, &okm[..KEY_LEN]).map_err(crypto)?;
    let mut iv = [0u8; NONCE_LEN];
    iv.copy_from_slice(&okm[KEY_LEN..]);
    Ok((LessSafeKey::new(key), iv))
}

fn header(body_len: usize) -> [u8; HEADER] {
    let [hi, lo] = (body_len as u16).to_be_bytes();
    [APPLICATION_DATA, 3, 3, hi, lo]
}

/// The read half: opens records into whatever buffer its reader reads into.
pub struct RecordReader<R> {
    io: R,
    keys: Keys,
    buf: Box<[u8]>,
    /// The received bytes not yet opened: `buf[start..end]`.
    start: usize,
    end: usize,
    /// The opened plaintext not yet read: a range of `buf`.
    plain: std::ops::Range<usize>,
    closed: bool,
    /// Empty records in a row.
    empty_run: u32,
    /// The first bad record's error: every read after it returns it again
    /// (a read that opened good records first returns those).
    failed: Option<RecordError>,
}

impl<R> std::fmt::Debug for RecordReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordReader")
            .field("seq", &self.keys.seq)
            .field("buffered", &(self.end - self.start))
            .finish_non_exhaustive()
    }
}

impl<R: AsyncRead + Unpin> RecordReader<R> {
    /// Reads, as `me`, the records the other side seals with keys from
    /// `secret`.
    pub fn new(io: R, secret: &[u8; SECRET_LEN], me: Role) -> Result<Self, RecordError> {
        Ok(RecordReader {
            io,
            keys: Keys::new(secret, me.peer())?,
            buf: vec![0; READ_BUF].into_boxed_slice(),
            start: 0,
            end: 0,
            plain: 0..0,
            closed: false,
            empty_run: 0,
            failed: None,
        })
    }

    /// Opens the next whole record among the received bytes; `false` if
    /// there is none yet.
    fn open_next(&mut self) -> Result<bool, RecordError> {
        let received = &self.buf[self.start..self.end];
        let Some(head) = received.first_chunk::<HEADER>().copied() else {
            return Ok(false);
        };
        if head[..3] != [APPLICATION_DATA, 3, 3] {
            return Err(RecordError::UnexpectedType(head[0]));
        }
        let len = u16::from_be_bytes([head[3], head[4]]) as usize;
        if !(TAG + 1..=MAX_BODY).contains(&len) {
            return Err(RecordError::Length(len));
        }
        if received.len() < HEADER + len {
            return Ok(false);
        }
        let body = self.start + HEADER..self.start + HEADER + len;
        self.start = body.end;
        let nonce = self.keys.next_nonce()?;
        let opened = self
            .keys
            .key
            .open_in_place(nonce, Aad::from(head), &mut self.buf[body.clone()])
            .map_err(|_| RecordError::Forged)?;
        // The content type is the last byte that is not padding.
        let typed = opened
            .iter()
            .rposition(|&b| b != 0)
            .ok_or(RecordError::Forged)?;
        let content = body.start..body.start + typed;
        self.empty_run = if content.is_empty() {
            self.empty_run + 1
        } else {
            0
        };
        if self.empty_run > MAX_EMPTY_RUN {
            return Err(RecordError::EmptyFlood);
        }
        match opened[typed] {
            APPLICATION_DATA => self.plain = content,
            ALERT => self.alert(content)?,
            other => return Err(RecordError::UnexpectedType(other)),
        }
        Ok(true)
    }

    fn alert(&mut self, content: std::ops::Range<usize>) -> Result<(), RecordError> {
        match <[u8; 2]>::try_from(&self.buf[content]) {
            Ok(CLOSE_NOTIFY) => {
                self.closed = true;
                Ok(())
            }
            Ok(other) => Err(RecordError::Alert(other)),
            Err(_) => Err(RecordError::Forged),
        }
    }

    /// Reads more bytes from the socket (all opened plaintext has been read).
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let mut spare = ReadBuf::new(&mut self.buf[self.end..]);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut spare))?;
        let n = spare.filled().len();
        if n == 0 {
            return Poll::Ready(Err(RecordError::Truncated.into()));
        }
        self.end += n;
        Poll::Ready(Ok(()))
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for RecordReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(e) = &this.failed {
            return Poll::Ready(Err(e.clone().into()));
        }
        let before = out.filled().len();
        while out.remaining() > 0 {
            if !this.plain.is_empty() {
                let n = this.plain.len().min(out.remaining());
                out.put_slice(&this.buf[this.plain.start..this.plain.start + n]);
                this.plain.start += n;
                continue;
            }
            if this.closed {
                break;
            }
            match this.open_next() {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    this.failed = Some(e.clone());
                    // What was opened before the bad record is read first.
                    if out.filled().len() > before {
                        break;
                    }
                    return Poll::Ready(Err(e.into()));
                }
            }
            if out.filled().len() > before {
                break;
            }
            ready!(this.poll_fill(cx))?;
        }
        Poll::Ready(Ok(()))
    }
}

/// The write half: seals what it is given into records, gathered until a
/// flush or until [`SEND_QUEUE`] bytes wait.
pub struct RecordWriter<W> {
    io: W,
    keys: Keys,
    out: Vec<u8>,
    sent: usize,
    /// Where the record being filled starts in `out`.
    open: Option<usize>,
    shut: bool,
}

impl<W> std::fmt::Debug for RecordWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordWriter")
            .field("seq", &self.keys.seq)
            .field("queued", &(self.out.len() - self.sent))
            .finish_non_exhaustive()
    }
}

impl<W: AsyncWrite + Unpin> RecordWriter<W> {
    /// Seals, as `me`, records with keys from `secret`.
    pub fn new(io: W, secret: &[u8; SECRET_LEN], me: Role) -> Result<Self, RecordError> {
        Ok(RecordWriter {
            io,
            keys: Keys::new(secret, me)?,
            out: Vec::with_capacity(SEND_QUEUE + HEADER + MAX_PLAIN + 1 + TAG),
            sent: 0,
            open: None,
            shut: false,
        })
    }

    /// Takes as much of `data` as the queue has room for into the open
    /// record (sealing each record it fills); how much it took.
    fn take(&mut self, mut data: &[u8]) -> Result<usize, RecordError> {
        let mut taken = 0;
        while !data.is_empty() && self.out.len() - self.sent < SEND_QUEUE {
            let start = match self.open {
                Some(start) => start,
                None => {
                    self.out.extend_from_slice(&[0; HEADER]);
                    *self.open.insert(self.out.len() - HEADER)
                }
            };
            let room = MAX_PLAIN - (self.out.len() - start - HEADER);
            let n = room.min(data.len());
            self.out.extend_from_slice(&data[..n]);
            (taken, data) = (taken + n, &data[n..]);
            if n == room {
                self.seal(APPLICATION_DATA)?;
            }
        }
        Ok(taken)
    }

    /// Seals the open record as `content_type`.
    fn seal(&mut self, content_type: u8) -> Result<(), RecordError> {
        let Some(start) = self.open.take() else {
            return Ok(());
        };
        self.out.push(content_type);
        let head = header(self.out.len() - start - HEADER + TAG);
        self.out[start..start + HEADER].copy_from_slice(&head);
        let nonce = self.keys.next_nonce()?;
        let tag = self
            .keys
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(head), &mut self.out[start + HEADER..])
            .map_err(crypto)?;
        self.out.extend_from_slice(tag.as_ref());
        Ok(())
    }

    /// Seals the open record and writes everything sealed to the socket.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.seal(APPLICATION_DATA)?;
        while self.sent < self.out.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.out.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Waits until the queue has room for more.
    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.shut {
            return Poll::Ready(Err(RecordError::Shut.into()));
        }
        // A drain once begun is finished before more is taken: the queue
        // never grows past one `SEND_QUEUE` and a record.
        if self.sent > 0 || self.out.len() >= SEND_QUEUE {
            ready!(self.poll_drain(cx))?;
        }
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for RecordWriter<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_room(cx))?;
        Poll::Ready(Ok(this.take(data)?))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        slices: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_room(cx))?;
        let mut taken = 0;
        for slice in slices {
            let n = this.take(slice)?;
            taken += n;
            if n < slice.len() {
                break;
            }
        }
        Poll::Ready(Ok(taken))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.shut {
            this.seal(APPLICATION_DATA)?;
            this.out.extend_from_slice(&[0; HEADER]);
            this.out.extend_from_slice(&CLOSE_NOTIFY);
            this.open = Some(this.out.len() - HEADER - CLOSE_NOTIFY.len());
            this.seal(ALERT)?;
            this.shut = true;
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
