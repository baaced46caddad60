use super::*;
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: [u8; SECRET_LEN] = [42; SECRET_LEN];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn pair(
    capacity: usize,
) -> (
    RecordWriter<tokio::io::DuplexStream>,
    RecordReader<tokio::io::DuplexStream>,
) {
    let (a, b) = tokio::io::duplex(capacity);
    (
        RecordWriter::new(a, &SECRET, Role::Dialer).unwrap(),
        RecordReader::new(b, &SECRET, Role::Acceptor).unwrap(),
    )
}

/// Seals `chunks` (vectored, `per_write` slices at a time, flushing after
/// each write) and reads them back `read_size` bytes at a time.
async fn round_trip(chunks: &[Vec<u8>], per_write: usize, read_size: usize, capacity: usize) {
    let (mut write, mut read) = pair(capacity);
    let sent: Vec<u8> = chunks.concat();
    let writing = async {
        for group in chunks.chunks(per_write.max(1)) {
            let mut slices: Vec<io::IoSlice<'_>> =
                group.iter().map(|c| io::IoSlice::new(c)).collect();
            let mut slices = &mut slices[..];
            while !slices.is_empty() {
                let n = write.write_vectored(slices).await.unwrap();
                io::IoSlice::advance_slices(&mut slices, n);
            }
            write.flush().await.unwrap();
        }
        write.shutdown().await.unwrap();
    };
    let reading = async {
        let mut got = Vec::new();
        let mut buf = vec![0; read_size.max(1)];
        loop {
            let n = read.read(&mut buf).await.unwrap();
            if n == 0 {
                break got;
            }
            got.extend_from_slice(&buf[..n]);
        }
    };
    let ((), got) = tokio::join!(writing, reading);
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "the bytes read differ from those sent");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn what_is_sealed_opens_unchanged(
        sizes in prop::collection::vec(0usize..70_000, 0..12),
        per_write in 1usize..4,
        read_size in 1usize..100_000,
        capacity in 1usize..200_000,
    ) {
        let chunks: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| (0..n).map(|j| (i * 31 + j * 7) as u8).collect())
            .collect();
        runtime().block_on(round_trip(&chunks, per_write, read_size, capacity));
    }
}

/// The bytes a writer puts on the wire for `data`, shut down cleanly.
fn sealed(data: &[u8]) -> Vec<u8> {
    runtime().block_on(async {
        let mut wire = Vec::new();
        let mut write = RecordWriter::new(&mut wire, &SECRET, Role::Dialer).unwrap();
        write.write_all(data).await.unwrap();
        write.shutdown().await.unwrap();
        drop(write);
        wire
    })
}

fn open_all(wire: &[u8], me: Role) -> io::Result<Vec<u8>> {
    runtime().block_on(async {
        let mut read = RecordReader::new(wire, &SECRET, me).unwrap();
        let mut got = Vec::new();
        read.read_to_end(&mut got).await.map(|_| got)
    })
}

fn cause(e: &io::Error) -> Option<&RecordError> {
    e.get_ref().and_then(|c| c.downcast_ref::<RecordError>())
}

#[test]
fn records_are_tls13_application_data_of_at_most_16_kib() {
    let data = vec![5u8; 40_000];
    let wire = sealed(&data);
    let mut at = 0;
    let mut lengths = Vec::new();
    while at < wire.len() {
        assert_eq!(wire[at..at + 3], [0x17, 3, 3]);
        let len = u16::from_be_bytes([wire[at + 3], wire[at + 4]]) as usize;
        lengths.push(len);
        at += HEADER + len;
    }
    assert_eq!(at, wire.len());
    // Two full records, the rest, and the close_notify alert.
    let full = MAX_PLAIN + 1 + TAG;
    assert_eq!(
        lengths,
        [full, full, 40_000 - 2 * MAX_PLAIN + 1 + TAG, 2 + 1 + TAG]
    );
    assert!(
        !wire.windows(64).any(|w| w.iter().all(|&b| b == 5)),
        "the plaintext shows on the wire"
    );
    assert_eq!(open_all(&wire, Role::Acceptor).unwrap(), data);
}

#[test]
fn an_altered_byte_anywhere_fails_authentication() {
    let wire = sealed(b"the engine's answer");
    for at in [HEADER, HEADER + 4, wire.len() - 1] {
        let mut bad = wire.clone();
        bad[at] ^= 1;
        let e = open_all(&bad, Role::Acceptor).unwrap_err();
        assert!(matches!(cause(&e), Some(RecordError::Forged)), "{e}");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
    // A length that lies is caught too: as forged or as the wrong shape.
    let mut bad = wire.clone();
    bad[4] ^= 1;
    assert!(open_all(&bad, Role::Acceptor).is_err());
}

#[test]
fn each_direction_has_its_own_keys() {
    let wire = sealed(b"from the dialer");
    // Read by the dialer itself (a record reflected back to it): it does
    // not open.
    let e = open_all(&wire, Role::Dialer).unwrap_err();
    assert!(matches!(cause(&e), Some(RecordError::Forged)), "{e}");
}

#[test]
fn a_replayed_or_reordered_record_fails() {
    runtime().block_on(async {
        let mut wire = Vec::new();
        let mut write = RecordWriter::new(&mut wire, &SECRET, Role::Dialer).unwrap();
        write.write_all(b"one").await.unwrap();
        write.flush().await.unwrap();
        drop(write);
        let twice = [wire.clone(), wire].concat();
        let mut read = RecordReader::new(&twice[..], &SECRET, Role::Acceptor).unwrap();
        let mut first = [0; 3];
        read.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"one");
        let e = read.read(&mut first).await.unwrap_err();
        assert!(matches!(cause(&e), Some(RecordError::Forged)), "{e}");
    });
}

#[test]
fn an_end_without_close_notify_is_an_error_not_an_end() {
    let wire = sealed(b"whole");
    let alert = HEADER + 2 + 1 + TAG;
    let cut = &wire[..wire.len() - alert];
    let e = open_all(cut, Role::Acceptor).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    // Cut inside a record.
    let e = open_all(&wire[..HEADER + 3], Role::Acceptor).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
}

#[test]
fn other_record_types_are_refused() {
    let mut wire = sealed(b"x");
    wire[0] = 0x16; // a handshake record: a key update, say
    let e = open_all(&wire, Role::Acceptor).unwrap_err();
    assert!(
        matches!(cause(&e), Some(RecordError::UnexpectedType(0x16))),
        "{e}"
    );
    let mut long = sealed(b"x");
    long[3..5].copy_from_slice(&((MAX_BODY + 1) as u16).to_be_bytes());
    let e = open_all(&long, Role::Acceptor).unwrap_err();
    assert!(matches!(cause(&e), Some(RecordError::Length(_))), "{e}");
}

#[test]
fn keys_change_at_each_epoch_without_a_message() {
    runtime().block_on(async {
        let (mut write, mut read) = pair(1 << 20);
        write.keys.seq = EPOCH_RECORDS - 2;
        read.keys.seq = EPOCH_RECORDS - 2;
        let data: Vec<u8> = (0..5 * MAX_PLAIN).map(|i| i as u8).collect();
        let writing = async {
            write.write_all(&data).await.unwrap();
            write.shutdown().await.unwrap();
            write.keys.epoch
        };
        let reading = async {
            let mut got = Vec::new();
            read.read_to_end(&mut got).await.unwrap();
            (got, read.keys.epoch)
        };
        let (write_epoch, (got, read_epoch)) = tokio::join!(writing, reading);
        assert_eq!(got, data);
        assert_eq!((write_epoch, read_epoch), (1, 1));
    });
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(&SECRET);
    let (_, iv0) = derive(&prk, b"d", 0).unwrap();
    let (_, iv1) = derive(&prk, b"d", 1).unwrap();
    assert_ne!(iv0, iv1);
}

#[test]
fn writes_after_shutdown_are_refused() {
    runtime().block_on(async {
        let (mut write, _read) = pair(1 << 16);
        write.shutdown().await.unwrap();
        let e = write.write(b"late").await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    });
}
