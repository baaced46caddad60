//! `.npy` files read and written by the engines: round trips with the
//! `ndarray-npy` crate both ways, on 1 to 4 engines and along each axis,
//! block directories, no array bytes through the client, and bad files —
//! each a clear error naming the file, with the engines still serving and
//! nothing left half-written.
#![allow(clippy::unwrap_used)]

mod common;

use common::within;
use distob::Cluster;
use ndarray::{ArrayD, IxDyn};
use std::path::Path;

fn sample(shape: &[usize]) -> ArrayD<f64> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|i| i as f64 * 1.5 - 7.0).collect()).unwrap()
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"))
        .collect()
}

#[tokio::test]
async fn files_written_by_the_engines_are_read_by_ndarray_npy_and_back() {
    let dir = tempfile::tempdir().unwrap();
    for engines in 1..=4 {
        let cluster = within(Cluster::local(engines)).await.unwrap();
        for axis in [0, 1, 2] {
            let a = sample(&[7, 5, 3]);
            let d = within(cluster.scatter_axis(a.clone(), axis)).await.unwrap();
            let path = dir.path().join(format!("ours-{engines}-{axis}.npy"));
            within(d.save_npy(&path)).await.unwrap();
            let read: ArrayD<f64> = ndarray_npy::read_npy(&path).unwrap();
            assert_eq!(read, a, "{engines} engines, axis {axis}");

            let theirs = dir.path().join(format!("theirs-{engines}-{axis}.npy"));
            ndarray_npy::write_npy(&theirs, &a).unwrap();
            let loaded = within(cluster.load_npy::<f64>(&theirs, axis))
                .await
                .unwrap();
            assert_eq!(loaded.axis(), axis as usize);
            assert_eq!(within(cluster.gather(&loaded)).await.unwrap(), a);
        }
        let ints = ArrayD::from_shape_fn(IxDyn(&[9]), |i| i[0] as i32 - 4);
        let path = dir.path().join(format!("ints-{engines}.npy"));
        ndarray_npy::write_npy(&path, &ints).unwrap();
        let d = within(cluster.load_npy::<i32>(&path, 0)).await.unwrap();
        assert_eq!(within(cluster.gather(&d)).await.unwrap(), ints);
    }
    assert!(leftovers(dir.path()).is_empty());
}

#[tokio::test]
async fn loading_and_saving_move_no_array_bytes_through_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.npy");
    let cluster = within(Cluster::local(2)).await.unwrap();
    let before = cluster.hub().bytes_written();
    let d = cluster.random(3).uniform::<f64>(&[500_000, 4], 0).unwrap();
    within(d.save_npy(&path)).await.unwrap();
    let back = within(cluster.load_npy::<f64>(&path, 0)).await.unwrap();
    let (a, b) = (
        within(d.sum()).await.unwrap(),
        within(back.sum()).await.unwrap(),
    );
    assert_eq!(a, b);
    let sent = cluster.hub().bytes_written() - before;
    assert!(
        sent < 64 * 1024,
        "the client sent {sent} bytes for a 16 MB file"
    );
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 128 + 16_000_000);
}

#[tokio::test]
async fn block_directories_round_trip_on_another_number_of_engines() {
    let dir = tempfile::tempdir().unwrap();
    let blocks = dir.path().join("x-blocks");
    let a = sample(&[10, 4]);
    let three = within(Cluster::local(3)).await.unwrap();
    let d = within(three.scatter_axis(a.clone(), 0)).await.unwrap();
    within(d.save_blocks(&blocks)).await.unwrap();
    assert!(blocks.join("layout.json").exists());
    let first: ArrayD<f64> = ndarray_npy::read_npy(blocks.join("block-00000.npy")).unwrap();
    assert_eq!(first.shape(), &[4, 4]);
    let two = within(Cluster::local(2)).await.unwrap();
    let back = within(two.load_blocks::<f64>(&blocks)).await.unwrap();
    assert_eq!(back.block_lens(), vec![4, 4, 2]);
    assert_eq!(within(two.gather(&back)).await.unwrap(), a);
}

/// A valid file's bytes with its header's text edited.
fn edited(dir: &Path, name: &str, from: &str, to: &str) -> std::path::PathBuf {
    let good = dir.join("good.npy");
    ndarray_npy::write_npy(&good, &sample(&[4, 3])).unwrap();
    let mut out = std::fs::read(&good).unwrap();
    assert_eq!(
        from.len(),
        to.len(),
        "an edit must keep the header's length"
    );
    let at = out
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .unwrap();
    out[at..at + from.len()].copy_from_slice(to.as_bytes());
    let path = dir.join(name);
    std::fs::write(&path, out).unwrap();
    path
}

#[tokio::test]
async fn bad_files_are_clear_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = within(Cluster::local(2)).await.unwrap();
    let good = sample(&[4, 3]);

    let truncated = dir.path().join("truncated.npy");
    ndarray_npy::write_npy(&truncated, &good).unwrap();
    let len = std::fs::metadata(&truncated).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&truncated)
        .unwrap()
        .set_len(len - 8)
        .unwrap();

    let other_type = dir.path().join("f32.npy");
    ndarray_npy::write_npy(&other_type, &good.mapv(|x| x as f32)).unwrap();

    let fortran = dir.path().join("fortran.npy");
    ndarray_npy::write_npy(&fortran, &good.t()).unwrap();

    let big_endian = edited(dir.path(), "big.npy", "'<f8'", "'>f8'");
    let lying = edited(dir.path(), "lying.npy", "(4, 3)", "(5, 3)");
    let not_npy = dir.path().join("text.npy");
    std::fs::write(&not_npy, "just some text, long enough to be read").unwrap();
    let missing = dir.path().join("missing.npy");

    let cases = [
        (&truncated, "bytes after it"),
        (&other_type, "not f64"),
        (&fortran, "Fortran"),
        (&big_endian, "big-endian"),
        (&lying, "header says"),
        (&not_npy, "not a .npy"),
        (&missing, "No such file"),
    ];
    for (path, why) in cases {
        let err = within(cluster.load_npy::<f64>(path, 0)).await.unwrap_err();
        let text = format!("{err}");
        let name = path.to_string_lossy();
        assert!(
            text.contains(&*name) && text.contains(why),
            "{name}: {text}"
        );
    }
    // The engines still serve.
    let d = within(cluster.scatter_axis(good.clone(), 0)).await.unwrap();
    assert_eq!(within(d.sum()).await.unwrap(), good.sum());
}

#[tokio::test]
async fn a_failed_save_leaves_nothing_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kept.npy");
    std::fs::write(&path, b"what was there before").unwrap();
    let cluster = within(Cluster::local(2)).await.unwrap();
    // Blocks that fail to compute (ln of integers is refused on the engines).
    let broken = cluster.ones::<i64>(&[6], 0).unwrap().ln();
    let err = within(broken.save_npy(&path)).await.unwrap_err();
    assert!(!format!("{err}").is_empty());
    assert_eq!(std::fs::read(&path).unwrap(), b"what was there before");
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
    // A place that cannot be written: an error naming it, nothing left.
    let nowhere = dir.path().join("kept.npy").join("x.npy");
    let good = cluster.ones::<f64>(&[6], 0).unwrap();
    let err = within(good.save_npy(&nowhere)).await.unwrap_err();
    assert!(format!("{err}").contains("x.npy"), "{err}");
    assert!(leftovers(dir.path()).is_empty());
}

#[tokio::test]
async fn a_block_directory_is_replaced_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let blocks = dir.path().join("x");
    let cluster = within(Cluster::local(2)).await.unwrap();
    let first = within(cluster.scatter_axis(sample(&[6, 2]), 0))
        .await
        .unwrap();
    within(first.save_blocks(&blocks)).await.unwrap();
    // Saved again over it: the new one, whole.
    let second = cluster.ones::<f64>(&[9, 2], 0).unwrap();
    within(second.save_blocks(&blocks)).await.unwrap();
    let back = within(cluster.load_blocks::<f64>(&blocks)).await.unwrap();
    assert_eq!(
        within(cluster.gather(&back)).await.unwrap(),
        ArrayD::<f64>::ones(IxDyn(&[9, 2]))
    );
    // A save that fails leaves the last good directory as it was.
    let broken = cluster.ones::<i64>(&[4], 0).unwrap().ln();
    assert!(within(broken.save_blocks(&blocks)).await.is_err());
    let back = within(cluster.load_blocks::<f64>(&blocks)).await.unwrap();
    assert_eq!(back.shape(), &[9, 2]);
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
    // A layout that does not match its files is refused, naming the file.
    let layout = blocks.join("layout.json");
    let text = std::fs::read_to_string(&layout).unwrap().replace("9", "8");
    std::fs::write(&layout, text).unwrap();
    let err = within(cluster.load_blocks::<f64>(&blocks))
        .await
        .unwrap_err();
    assert!(format!("{err}").contains("layout.json"), "{err}");
}
