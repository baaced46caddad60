//! TLS on links that cross a real network, with the cluster key bound to
//! each session.
//!
//! Which links use TLS is a [`TlsPolicy`]: by default ([`TlsPolicy::Auto`])
//! a link to a non-loopback address is TLS, a loopback or in-process link is
//! not (there is no wire to read). An engine tells the two apart by the first
//! byte a dialer sends: a TLS record starts with `0x16`, which as the first
//! byte of a frame's length prefix would announce a head over 350 MiB, far
//! beyond any limit, so no valid frame is mistaken for TLS.
//!
//! Certificates prove nothing here: each engine makes a fresh self-signed
//! one when its first TLS link arrives, and the dialer accepts any
//! certificate whose handshake signature is valid. What authenticates the
//! peer is the cluster-key handshake that follows inside the TLS session:
//! both proofs cover the session's exported keying material (RFC 5705,
//! [`Binding`]). A relay that ends one TLS session and opens another holds
//! two different exports, so the proofs it passes along fail and neither
//! side ever sends data through it, and a dialer that asked for TLS cannot be
//! downgraded to plaintext (a plaintext session binds to all zeros).
//!
//! rustls runs the handshake only. Once it is done the acceptor sends a
//! few bytes through the session and the dialer reads them, and both hand
//! the session over to the record layer in `net::records`, keyed from the
//! session's exporter: it decrypts records where the socket put them
//! instead of copying each byte three times on the way. Neither rustls
//! session may hold bytes of the other side's later records at the
//! handover: the dialer sends nothing before it has the acceptor's bytes,
//! and the acceptor nothing after them before the dialer's `Hello`.
//!
//! Without the `tls` feature every link is plaintext and
//! [`TlsPolicy::Always`] refuses to connect.

use super::error::NetError;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// 32 bytes that tie a cluster-key handshake to one transport session: the
/// TLS exporter's output, or all zeros for a plaintext link.
pub type Binding = [u8; 32];

/// The binding of a plaintext link.
pub const PLAINTEXT: Binding = [0; 32];

/// The first byte of every TLS record that opens a session (a handshake
/// record).
pub const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// When a link uses TLS.
///
/// ```
/// use distob::net::TlsPolicy;
/// let here = "127.0.0.1".parse().unwrap();
/// let there = "10.0.0.2".parse().unwrap();
/// assert!(!TlsPolicy::Auto.wants_tls(here));
/// assert_eq!(TlsPolicy::Auto.wants_tls(there), cfg!(feature = "tls"));
/// assert!(!TlsPolicy::Never.wants_tls(there));
/// assert_eq!(TlsPolicy::default(), TlsPolicy::Auto);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsPolicy {
    /// TLS to and from non-loopback addresses, plaintext on loopback (the
    /// default). An engine refuses plaintext from a non-loopback peer.
    #[default]
    Auto,
    /// TLS on every TCP link, loopback too (in-process links stay plain).
    Always,
    /// Never TLS: for networks that are already private. An engine that
    /// listens on a non-loopback address so prints a warning.
    Never,
}

impl std::str::FromStr for TlsPolicy {
    type Err = UnknownPolicy;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(TlsPolicy::Auto),
            "always" => Ok(TlsPolicy::Always),
            "never" => Ok(TlsPolicy::Never),
            _ => Err(UnknownPolicy),
        }
    }
}

impl std::fmt::Display for TlsPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TlsPolicy::Auto => "auto",
            TlsPolicy::Always => "always",
            TlsPolicy::Never => "never",
        })
    }
}

/// A TLS policy name other than `auto`, `always` or `never`.
#[derive(Debug, thiserror::Error)]
#[error("a TLS policy is auto, always or never")]
pub struct UnknownPolicy;

impl TlsPolicy {
    /// Whether a link to (or from) `peer` uses TLS.
    pub fn wants_tls(self, peer: IpAddr) -> bool {
        match self {
            TlsPolicy::Auto => cfg!(feature = "tls") && !peer.is_loopback(),
            TlsPolicy::Always => true,
            TlsPolicy::Never => false,
        }
    }

    /// Whether an engine under this policy takes a connection from `peer`
    /// that is (`tls`) or is not TLS. A build without the feature takes
    /// plaintext from anywhere under `Auto` (and warns when it listens on a
    /// non-loopback address).
    pub fn admits(self, peer: IpAddr, tls: bool) -> bool {
        match self {
            TlsPolicy::Never => !tls,
            TlsPolicy::Always => tls,
            TlsPolicy::Auto => tls || !cfg!(feature = "tls") || peer.is_loopback(),
        }
    }
}

#[cfg(not(feature = "tls"))]
pub use disabled::{accept, connect, Identity, TlsStream};
#[cfg(feature = "tls")]
pub use enabled::{accept, connect, Identity, TlsStream};

/// TLS was asked for in a build without the `tls` feature.
#[derive(Debug, thiserror::Error)]
#[error("TLS was asked for, but distob was built without the `tls` feature")]
pub struct TlsUnavailable;

#[cfg(not(feature = "tls"))]
mod disabled {
    use super::{Binding, NetError, TlsUnavailable};
    use tokio::net::TcpStream;

    /// Without the feature the streams are never made.
    pub type TlsStream = TcpStream;

    /// Without the feature there is no identity to make.
    #[derive(Clone, Debug)]
    pub struct Identity(());

    impl Identity {
        /// Fails: the build has no TLS.
        pub fn generate() -> Result<Identity, NetError> {
            Err(NetError::Tls(Box::new(TlsUnavailable)))
        }
    }

    /// Fails: the build has no TLS.
    pub async fn connect(_stream: TcpStream) -> Result<(TlsStream, Binding), NetError> {
        Err(NetError::Tls(Box::new(TlsUnavailable)))
    }

    /// Fails: the build has no TLS.
    pub async fn accept(
        _stream: TcpStream,
        _identity: &Identity,
    ) -> Result<(TlsStream, Binding), NetError> {
        Err(NetError::Tls(Box::new(TlsUnavailable)))
    }
}

#[cfg(feature = "tls")]
mod enabled {
    use super::{Binding, NetError};
    use crate::net::records::{RecordReader, RecordWriter, Role, SECRET_LEN};
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{ring, CryptoProvider};
    use rustls::pki_types::{
        CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime,
    };
    use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme};
    use std::pin::Pin;
    use std::sync::{Arc, OnceLock};
    use std::task::{Context, Poll};
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
    use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
    use tokio::net::TcpStream;

    /// The bytes the acceptor sends through rustls once its handshake is
    /// done. The dialer sends nothing until it has read them, so the
    /// acceptor's rustls holds none of the dialer's later bytes. The other
    /// way it rests on the cluster-key handshake: the acceptor speaks only
    /// after the dialer's `Hello` (`handshake::accept`), so nothing follows
    /// these bytes that the dialer's rustls could read ahead and drop.
    const HANDOVER: &[u8] = b"records";
    const RECORDS_LABEL: &[u8] = b"EXPORTER-distob-records-v1";

    const EXPORTER_LABEL: &[u8] = b"EXPORTER-distob-cluster-key-v1";
    /// The name a dialer asks for; certificates carry it, nobody checks it.
    const SERVER_NAME: &str = "distob-engine";

    fn provider() -> Arc<CryptoProvider> {
        static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
        PROVIDER
            .get_or_init(|| {
                // AES-128-GCM first: as safe for these sessions and about a
                // third cheaper per byte than AES-256 (ring's first choice).
                let mut p = ring::default_provider();
                let first = ring::cipher_suite::TLS13_AES_128_GCM_SHA256;
                p.cipher_suites.retain(|s| s.suite() != first.suite());
                p.cipher_suites.insert(0, first);
                Arc::new(p)
            })
            .clone()
    }

    fn tls_error(e: impl std::error::Error + Send + Sync + 'static) -> NetError {
        NetError::Tls(Box::new(e))
    }

    /// An engine's TLS identity: a fresh self-signed certificate and key.
    #[derive(Clone)]
    pub struct Identity {
        config: Arc<ServerConfig>,
    }

    impl std::fmt::Debug for Identity {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Identity(..)")
        }
    }

    impl Identity {
        /// Makes a new key pair and self-signed certificate (a few
        /// milliseconds).
        pub fn generate() -> Result<Identity, NetError> {
            let made = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_string()])
                .map_err(tls_error)?;
            let key =
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
            let mut config = ServerConfig::builder_with_provider(provider())
                .with_protocol_versions(&[&rustls::version::TLS13])
                .map_err(tls_error)?
                .with_no_client_auth()
                .with_single_cert(vec![made.cert.der().clone()], key)
                .map_err(tls_error)?;
            // No resumption: a ticket would only be more bytes in rustls'
            // buffers at the handover.
            config.send_tls13_tickets = 0;
            Ok(Identity {
                config: Arc::new(config),
            })
        }
    }

    /// Accepts any certificate whose handshake signature checks out: the
    /// peer is authenticated by the cluster key bound to the session.
    #[derive(Debug)]
    struct KeyBoundVerifier(Arc<CryptoProvider>);

    impl ServerCertVerifier for KeyBoundVerifier {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            _message: &[u8],
            _cert: &CertificateDer<'_>,
            _dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            // Only TLS 1.3 is offered.
            Err(rustls::Error::PeerIncompatible(
                rustls::PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig,
            ))
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    fn client_config() -> Result<Arc<ClientConfig>, NetError> {
        static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
        if let Some(c) = CONFIG.get() {
            return Ok(c.clone());
        }
        let provider = provider();
        let config = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_error)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(KeyBoundVerifier(provider)))
            .with_no_client_auth();
        Ok(CONFIG.get_or_init(|| Arc::new(config)).clone())
    }

    /// Opens a TLS session over `stream` as the dialer; returns it with its
    /// binding for the cluster-key handshake.
    pub async fn connect(stream: TcpStream) -> Result<(TlsStream, Binding), NetError> {
        let connector = tokio_rustls::TlsConnector::from(client_config()?);
        let name = ServerName::try_from(SERVER_NAME).map_err(tls_error)?;
        let mut tls = connector.connect(name, stream).await?;
        let mut handover = [0; HANDOVER.len()];
        tls.read_exact(&mut handover).await?;
        if handover != HANDOVER {
            return Err(NetError::Protocol {
                expected: "the TLS record layer's handover",
            });
        }
        let (stream, session) = tls.into_inner();
        hand_over(stream, &session, Role::Dialer)
    }

    /// Accepts a TLS session over `stream` as the engine; returns it with its
    /// binding for the cluster-key handshake.
    pub async fn accept(
        stream: TcpStream,
        identity: &Identity,
    ) -> Result<(TlsStream, Binding), NetError> {
        let acceptor = tokio_rustls::TlsAcceptor::from(identity.config.clone());
        let mut tls = acceptor.accept(stream).await?;
        tls.write_all(HANDOVER).await?;
        tls.flush().await?;
        let (stream, session) = tls.into_inner();
        hand_over(stream, &session, Role::Acceptor)
    }

    /// The session's binding, and its stream under the record layer keyed
    /// from the session's exporter.
    fn hand_over(
        stream: TcpStream,
        session: &rustls::ConnectionCommon<impl Sized>,
        me: Role,
    ) -> Result<(TlsStream, Binding), NetError> {
        let binding = session
            .export_keying_material([0; 32], EXPORTER_LABEL, None)
            .map_err(tls_error)?;
        let secret = session
            .export_keying_material([0; SECRET_LEN], RECORDS_LABEL, None)
            .map_err(tls_error)?;
        let (read, write) = stream.into_split();
        let stream = TlsStream {
            read: RecordReader::new(read, &secret, me).map_err(tls_error)?,
            write: RecordWriter::new(write, &secret, me).map_err(tls_error)?,
        };
        Ok((stream, binding))
    }

    /// A TLS link's byte stream once rustls has handed the session over to
    /// the record layer.
    #[derive(Debug)]
    pub struct TlsStream {
        read: RecordReader<OwnedReadHalf>,
        write: RecordWriter<OwnedWriteHalf>,
    }

    impl TlsStream {
        /// The read and write halves, each used on its own (no lock
        /// between them).
        pub fn into_split(self) -> (RecordReader<OwnedReadHalf>, RecordWriter<OwnedWriteHalf>) {
            (self.read, self.write)
        }
    }

    impl AsyncRead for TlsStream {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.get_mut().read).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for TlsStream {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            Pin::new(&mut self.get_mut().write).poll_write(cx, buf)
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.get_mut().write).poll_flush(cx)
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.get_mut().write).poll_shutdown(cx)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_each_policy_admits() {
        let (lo, far): (IpAddr, IpAddr) =
            ("127.0.0.1".parse().unwrap(), "192.0.2.7".parse().unwrap());
        let tls_everywhere = cfg!(feature = "tls");
        for (policy, peer, tls, admitted) in [
            (TlsPolicy::Auto, lo, false, true),
            (TlsPolicy::Auto, lo, true, true),
            (TlsPolicy::Auto, far, true, true),
            (TlsPolicy::Auto, far, false, !tls_everywhere),
            (TlsPolicy::Always, lo, false, false),
            (TlsPolicy::Always, far, true, true),
            (TlsPolicy::Never, far, true, false),
            (TlsPolicy::Never, far, false, true),
        ] {
            assert_eq!(
                policy.admits(peer, tls),
                admitted,
                "{policy:?} {peer} tls={tls}"
            );
        }
        assert_eq!("always".parse::<TlsPolicy>().ok(), Some(TlsPolicy::Always));
        assert!("sometimes".parse::<TlsPolicy>().is_err());
    }
}
