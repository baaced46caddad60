//! Opening a [`Link`]: its main and bulk connections to an engine, over
//! TCP or an in-process pipe, each after the cluster-key handshake, paired
//! on the engine (`Op::Pair`) so that large replies take the bulk one.

use super::link::{lock, Link};
use super::runtime::current_or_background;
use crate::actors::LocalDialer;
use crate::error::{Error, Result};
use crate::id::{CallId, NodeId};
use crate::net::handshake::HANDSHAKE_TIMEOUT;
use crate::net::tls::PLAINTEXT;
use crate::net::wire::{Meta, Op, Outcome};
use crate::net::{
    dial_tcp_into, handshake, ClusterKey, FrameReader, FrameWriter, Limits, LinkOptions, NetError,
    WriteMode, Writer,
};
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;

impl Link {
    /// The main and the bulk connection to one engine, over TCP, dialed as
    /// node `me`.
    pub(super) async fn open_pair(
        me: NodeId,
        node: NodeId,
        addr: SocketAddr,
        key: ClusterKey,
        links: LinkOptions,
    ) -> Result<Arc<Link>> {
        let (main, bulk) = tokio::try_join!(
            Link::open(me, node, addr, &key, links),
            Link::open(me, node, addr, &key, links)
        )?;
        Link::pair(main, bulk).await
    }

    /// A link to engine `node` that connects in the background (an engine's
    /// link to a peer, opened when first used): requests made meanwhile wait
    /// in its writer, in order, and fail with [`Error::EngineLost`] if it
    /// cannot connect.
    pub(super) fn connecting(
        me: NodeId,
        node: NodeId,
        addr: SocketAddr,
        key: ClusterKey,
        links: LinkOptions,
    ) -> Arc<Link> {
        let link = Link::new(node, addr, FrameWriter::deferred(WriteMode::Adaptive));
        let opening = link.clone();
        current_or_background().spawn(async move {
            match opening.connect(me, &key, links).await {
                Ok(()) => {
                    // The bulk connection is an optimisation: without it,
                    // large bodies share the main one.
                    match Link::open(me, node, addr, &key, links).await {
                        Ok(bulk) => {
                            if let Err(e) = Link::pair(opening.clone(), bulk).await {
                                tracing::debug!(%node, error = %e, "no bulk link to peer");
                            }
                        }
                        Err(e) => tracing::debug!(%node, error = %e, "no bulk link to peer"),
                    }
                }
                Err(e) => {
                    tracing::warn!(%node, %addr, error = %e, "cannot reach peer engine");
                    opening.lose();
                }
            }
        });
        link
    }

    /// Dials this link's engine into its deferred writer and starts reading.
    async fn connect(
        self: &Arc<Self>,
        me: NodeId,
        key: &ClusterKey,
        links: LinkOptions,
    ) -> Result<()> {
        let into = Writer::Into(self.writer.clone());
        if let Some(dialer) = crate::actors::in_process_dialer(self.addr, key) {
            let reader = local_handshake(me, self.node, dialer, key, into).await?;
            self.read_from(reader);
            return Ok(());
        }
        let dialed = dial_tcp_into(self.addr, key, me, links, Limits::default(), into).await?;
        check_peer(self.node, dialed.peer)?;
        self.read_from(dialed.reader);
        Ok(())
    }

    /// Tells the engine the two connections belong together (so that large
    /// replies can come back on the bulk one) and joins them here.
    async fn pair(main: Arc<Link>, bulk: Arc<Link>) -> Result<Arc<Link>> {
        let random = crate::net::key::random_bytes()?;
        let token = u64::from_le_bytes(*random.first_chunk::<8>().unwrap_or(&[0; 8]));
        for (link, is_bulk) in [(&bulk, true), (&main, false)] {
            // Call id 0 is never a hub's: the hub counts from 1.
            let rx = link.request(
                CallId(0),
                Op::Pair {
                    token,
                    bulk: is_bulk,
                },
                Meta::default(),
                Bytes::new(),
            )?;
            let reply = tokio::time::timeout(HANDSHAKE_TIMEOUT, rx)
                .await
                .map_err(|_| Error::Timeout)?
                .map_err(|_| Error::EngineLost(link.node))??;
            match reply.outcome {
                Outcome::Done => {}
                Outcome::Fault(f) => return Err(super::call::fault_error(f, link.node, None)),
                _ => {
                    return Err(Error::Protocol(NetError::Protocol {
                        expected: "Done for Pair",
                    }))
                }
            }
        }
        *lock(&main.bulk) = Some(bulk);
        Ok(main)
    }

    /// The main and the bulk connection to an in-process engine.
    pub(super) async fn open_local_pair(
        node: NodeId,
        addr: SocketAddr,
        dialer: LocalDialer,
        key: ClusterKey,
    ) -> Result<Arc<Link>> {
        let (main, bulk) = tokio::try_join!(
            Link::open_local(node, addr, dialer.clone(), key.clone()),
            Link::open_local(node, addr, dialer, key)
        )?;
        Link::pair(main, bulk).await
    }

    async fn open(
        me: NodeId,
        node: NodeId,
        addr: SocketAddr,
        key: &ClusterKey,
        links: LinkOptions,
    ) -> Result<Arc<Link>> {
        let into = Writer::New(WriteMode::Adaptive);
        let dialed = dial_tcp_into(addr, key, me, links, Limits::default(), into).await?;
        check_peer(node, dialed.peer)?;
        let link = Link::new(node, addr, dialed.writer);
        link.read_from(dialed.reader);
        Ok(link)
    }

    /// Opens an in-process link to a local engine.
    pub(super) async fn open_local(
        node: NodeId,
        addr: SocketAddr,
        dialer: LocalDialer,
        key: ClusterKey,
    ) -> Result<Arc<Link>> {
        let writer = FrameWriter::deferred(WriteMode::Adaptive);
        let into = Writer::Into(writer.clone());
        let reader = local_handshake(NodeId::CLIENT, node, dialer, &key, into).await?;
        let link = Link::new(node, addr, writer);
        link.read_from(reader);
        Ok(link)
    }
}

/// The dialer's handshake over an in-process pipe to engine `node`, its
/// frames going to `writer`; the link's reader.
async fn local_handshake(
    me: NodeId,
    node: NodeId,
    dialer: LocalDialer,
    key: &ClusterKey,
    writer: Writer,
) -> Result<FrameReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>> {
    let stream = dialer.dial().ok_or(Error::EngineLost(node))?;
    let (read, mut write) = tokio::io::split(stream);
    let mut reader = FrameReader::new(read, Limits::default());
    let dial = handshake::dial(&mut reader, &mut write, key, me, &PLAINTEXT);
    let peer = tokio::time::timeout(HANDSHAKE_TIMEOUT, dial)
        .await
        .map_err(|_| Error::Timeout)??;
    check_peer(node, peer)?;
    writer.stream(write);
    Ok(reader)
}

/// The engine at an address must be the node the cluster names for it.
fn check_peer(node: NodeId, peer: NodeId) -> Result<()> {
    if peer == node {
        Ok(())
    } else {
        Err(Error::Protocol(NetError::Protocol {
            expected: "the engine node id named for this address",
        }))
    }
}
