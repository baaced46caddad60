#![allow(unreachable_pub)]
//! The baselines: raw tokio TCP (a ping-pong and a transfer, against a
//! server process of this program) and an in-process channel ping-pong.

use super::{BoxError, PING};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The raw TCP peer for baselines, in its own process like an engine:
/// 'P' echoes 64-byte messages, 'S' swallows N bytes then acks, 'G' sends N bytes.
pub fn raw_server() -> Result<(), BoxError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            println!("{}", listener.local_addr()?);
            // The source of downloads, written before any is timed.
            let source = std::sync::Arc::new(vec![1u8; 400 << 20]);
            loop {
                let (mut s, _) = listener.accept().await?;
                s.set_nodelay(true)?;
                let source = source.clone();
                tokio::spawn(async move {
                    let mut mode = [0u8; 1];
                    s.read_exact(&mut mode).await?;
                    match mode[0] {
                        b'P' => {
                            let mut buf = [0u8; PING];
                            while s.read_exact(&mut buf).await.is_ok() {
                                s.write_all(&buf).await?;
                            }
                        }
                        b'S' => {
                            // Receive into a fresh buffer that holds it all,
                            // as an engine receiving an array must.
                            let n = s.read_u64().await? as usize;
                            let mut buf = vec![0u8; n];
                            s.read_exact(&mut buf).await?;
                            s.write_all(&[1]).await?;
                        }
                        b'R' => {
                            // Receive into one reused, cache-resident 1 MiB buffer.
                            let n = s.read_u64().await? as usize;
                            let mut buf = vec![0u8; 1 << 20];
                            let mut left = n;
                            while left > 0 {
                                let k = left.min(buf.len());
                                s.read_exact(&mut buf[..k]).await?;
                                left -= k;
                            }
                            s.write_all(&[1]).await?;
                        }
                        b'G' => {
                            let n = (s.read_u64().await? as usize).min(source.len());
                            s.write_all(&source[..n]).await?;
                        }
                        _ => {}
                    }
                    Ok::<_, std::io::Error>(())
                });
            }
        })
}

pub struct RawServer(std::process::Child);

impl Drop for RawServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn start_raw_server() -> Result<(RawServer, std::net::SocketAddr), BoxError> {
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .env("DISTOB_BENCH_SERVER", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line)?;
    Ok((RawServer(child), line.trim().parse()?))
}

/// A connection to the raw server's ping-pong, timed a block at a time so
/// that its blocks can take turns with those of the figure it is the
/// baseline of.
pub struct RawPing(TcpStream);

impl RawPing {
    pub async fn connect(addr: std::net::SocketAddr) -> Result<RawPing, BoxError> {
        let mut s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        s.write_all(b"P").await?;
        Ok(RawPing(s))
    }

    /// The round trips of `n` pings, in microseconds.
    pub async fn times(&mut self, n: usize) -> Result<Vec<f64>, BoxError> {
        let mut buf = [7u8; PING];
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            self.0.write_all(&buf).await?;
            self.0.read_exact(&mut buf).await?;
            out.push(t.elapsed().as_secs_f64() * 1e6);
        }
        Ok(out)
    }
}

/// `n` timed pings after `n / 10` untimed ones.
pub async fn raw_ping_pong(addr: std::net::SocketAddr, n: usize) -> Result<Vec<f64>, BoxError> {
    let mut ping = RawPing::connect(addr).await?;
    ping.times(n / 10).await?;
    ping.times(n).await
}

/// Moves `n` bytes over raw loopback TCP from one buffer into a fresh one:
/// up ('S'), down ('G'), or up into a reused 1 MiB buffer ('R').
pub async fn raw_transfer(
    addr: std::net::SocketAddr,
    mode: u8,
    n: usize,
) -> Result<Duration, BoxError> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let src = if mode == b'G' {
        Vec::new()
    } else {
        vec![1u8; n]
    };
    let t = Instant::now();
    s.write_all(&[mode]).await?;
    s.write_u64(n as u64).await?;
    if mode == b'G' {
        let mut dest = vec![0u8; n];
        s.read_exact(&mut dest).await?;
    } else {
        s.write_all(&src).await?;
        let mut ack = [0u8; 1];
        s.read_exact(&mut ack).await?;
    }
    Ok(t.elapsed())
}

/// Ping-pong between this thread and another over tokio channels: the
/// in-process floor for a round trip.
pub async fn channel_ping_pong(n: usize) -> Vec<f64> {
    let (to_tx, mut to_rx) = tokio::sync::mpsc::channel::<[u8; PING]>(1);
    let (back_tx, mut back_rx) = tokio::sync::mpsc::channel::<[u8; PING]>(1);
    let echo = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().build();
        if let Ok(rt) = rt {
            rt.block_on(async move {
                while let Some(m) = to_rx.recv().await {
                    if back_tx.send(m).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let mut out = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        let t = Instant::now();
        if to_tx.send([3u8; PING]).await.is_err() || back_rx.recv().await.is_none() {
            break;
        }
        if i >= n / 10 {
            out.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    drop(to_tx);
    let _ = echo.join();
    out
}
