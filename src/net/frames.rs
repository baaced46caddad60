//! [`Frames`]: a [`FrameReader`] as a stream of frames, for actors.
//!
//! A frame the reader already holds is handed over without a future (many
//! pipelined calls arrive in one read), a wait between frames polls the
//! socket directly, and only a frame read in part (or a spinning reader)
//! waits through a boxed [`FrameReader::next`].

use super::codec::Frame;
use super::connection::{FrameReader, Whole};
use super::error::NetError;
use futures::Stream;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::AsyncRead;

/// A reader as a stream of frames (what an actor adds with `add_stream`).
/// A frame the reader already holds is handed over without a future, and
/// a wait between frames polls the connection directly; only a frame read
/// in part (or a spinning reader) waits through a future of
/// [`FrameReader::next`], built once for that wait.
pub struct Frames<R> {
    state: FramesState<R>,
}

impl<R> std::fmt::Debug for Frames<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            FramesState::Ready(_) => "ready",
            FramesState::Waiting(_) => "waiting",
            FramesState::Done => "done",
        };
        f.debug_struct("Frames").field("state", &state).finish()
    }
}

type Waiting<R> = Pin<Box<dyn Future<Output = (FrameReader<R>, Result<Option<Frame>, NetError>)>>>;

enum FramesState<R> {
    Ready(FrameReader<R>),
    Waiting(Waiting<R>),
    Done,
}

impl<R: AsyncRead + Unpin + 'static> Frames<R> {
    /// The frames `reader` reads, until the peer closes or a read fails
    /// (the error is the stream's last item).
    pub fn new(reader: FrameReader<R>) -> Self {
        Frames {
            state: FramesState::Ready(reader),
        }
    }

    /// The stream's item for what a read gave, and what the stream does
    /// next.
    fn end_of(
        read: Result<Option<Frame>, NetError>,
        reader: FrameReader<R>,
    ) -> (Option<Result<Frame, NetError>>, FramesState<R>) {
        match read {
            Ok(Some(frame)) => (Some(Ok(frame)), FramesState::Ready(reader)),
            Ok(None) => (None, FramesState::Done),
            Err(e) => (Some(Err(e)), FramesState::Done),
        }
    }
}

impl<R: AsyncRead + Unpin + 'static> Stream for Frames<R> {
    type Item = Result<Frame, NetError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let FramesState::Ready(reader) = &mut self.state {
            match reader.poll_whole_frame(cx) {
                Poll::Ready(Ok(Whole::Frame(frame))) => return Poll::Ready(Some(Ok(frame))),
                // Something only the full reader can wait for (a frame
                // begun, a long body, a spin).
                Poll::Ready(Ok(Whole::Partial)) => {}
                Poll::Ready(Ok(Whole::Closed)) => {
                    self.state = FramesState::Done;
                    return Poll::Ready(None);
                }
                Poll::Ready(Err(e)) => {
                    self.state = FramesState::Done;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        let waiting = match std::mem::replace(&mut self.state, FramesState::Done) {
            FramesState::Ready(mut reader) => Box::pin(async move {
                let read = reader.next().await;
                (reader, read)
            }),
            FramesState::Waiting(waiting) => waiting,
            FramesState::Done => return Poll::Ready(None),
        };
        self.poll_waiting(waiting, cx)
    }
}

impl<R: AsyncRead + Unpin + 'static> Frames<R> {
    fn poll_waiting(
        &mut self,
        mut waiting: Waiting<R>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame, NetError>>> {
        match waiting.as_mut().poll(cx) {
            Poll::Pending => {
                self.state = FramesState::Waiting(waiting);
                Poll::Pending
            }
            Poll::Ready((reader, read)) => {
                let (item, next) = Self::end_of(read, reader);
                self.state = next;
                Poll::Ready(item)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::codec::{self, Limits};
    use crate::net::wire::Message;
    use bytes::BytesMut;
    use futures::StreamExt;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    /// The bytes of `frames`, and of a body sent in `pieces` chunks after
    /// each, as a writer would put them on the wire.
    fn wire_bytes(frames: u64, pieces: u64) -> BytesMut {
        let mut out = BytesMut::new();
        for seq in 0..frames {
            let body = vec![seq as u8; (seq % 7) as usize];
            codec::encode(&Message::Ping { seq }, &body, &mut out).unwrap();
            let total = pieces * 3;
            for piece in 0..pieces {
                let last = (piece + 1 == pieces).then(|| Box::new(Message::Pong { seq }));
                let chunk = Message::Chunk {
                    stream: seq as u32,
                    offset: piece * 3,
                    total,
                    last,
                };
                codec::encode(&chunk, &[piece as u8; 3], &mut out).unwrap();
            }
        }
        out
    }

    /// Checks that `frames` are what `wire_bytes(n, pieces)` encodes.
    fn check_frames(frames: &[Frame], n: u64, pieces: u64) {
        assert_eq!(frames.len() as u64, 2 * n);
        for (seq, pair) in frames.chunks(2).enumerate() {
            let seq = seq as u64;
            assert_eq!(pair[0].message, Message::Ping { seq });
            assert_eq!(
                pair[0].body.as_bytes(),
                &vec![seq as u8; (seq % 7) as usize][..]
            );
            assert_eq!(pair[1].message, Message::Pong { seq });
            let whole: Vec<u8> = (0..pieces).flat_map(|p| [p as u8; 3]).collect();
            assert_eq!(pair[1].body.as_bytes(), &whole[..]);
        }
    }

    #[tokio::test]
    async fn frames_read_ahead_together_are_handed_over_whole_and_in_order() {
        // All at once (every frame already read: the path without
        // futures), and trickled a few bytes at a time (frames split
        // across reads: the waiting path).
        for trickle in [None, Some(5usize)] {
            let bytes = wire_bytes(300, 4);
            let (mut a, b) = tokio::io::duplex(1 << 20);
            let feed = tokio::spawn(async move {
                match trickle {
                    None => a.write_all(&bytes).await.unwrap(),
                    Some(n) => {
                        for piece in bytes.chunks(n) {
                            a.write_all(piece).await.unwrap();
                            tokio::task::yield_now().await;
                        }
                    }
                }
            });
            let frames = Frames::new(FrameReader::new(b, Limits::default()));
            let read = tokio::time::timeout(Duration::from_secs(20), frames.collect::<Vec<_>>())
                .await
                .unwrap();
            feed.await.unwrap();
            let frames: Vec<Frame> = read.into_iter().map(Result::unwrap).collect();
            check_frames(&frames, 300, 4);
        }
    }

    #[tokio::test]
    async fn a_bad_frame_read_ahead_ends_the_stream_with_its_error() {
        let mut bytes = wire_bytes(3, 1);
        // A chunk whose piece overruns its body.
        let bad = Message::Chunk {
            stream: 99,
            offset: 2,
            total: 3,
            last: None,
        };
        codec::encode(&bad, &[0u8; 3], &mut bytes).unwrap();
        let (mut a, b) = tokio::io::duplex(1 << 16);
        a.write_all(&bytes).await.unwrap();
        let frames = Frames::new(FrameReader::new(b, Limits::default()));
        let read = tokio::time::timeout(Duration::from_secs(20), frames.collect::<Vec<_>>())
            .await
            .unwrap();
        assert_eq!(read.len(), 7);
        assert!(matches!(read[6], Err(NetError::Decode(_))), "{:?}", read[6]);
    }

    #[tokio::test]
    async fn a_frame_cut_off_by_a_close_is_truncated_a_close_between_frames_ends() {
        let bytes = wire_bytes(2, 1);
        for (cut, last) in [(bytes.len() - 3, true), (bytes.len(), false)] {
            let (mut a, b) = tokio::io::duplex(1 << 16);
            a.write_all(&bytes[..cut]).await.unwrap();
            drop(a);
            let frames = Frames::new(FrameReader::new(b, Limits::default()));
            let read = tokio::time::timeout(Duration::from_secs(20), frames.collect::<Vec<_>>())
                .await
                .unwrap();
            assert_eq!(read.len(), 4);
            assert_eq!(
                matches!(read[3], Err(NetError::Truncated)),
                last,
                "{:?}",
                read[3]
            );
        }
    }
}
