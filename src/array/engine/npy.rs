//! `.npy` files read and written by the engines, each its own part: the
//! format (version 1.0 and 2.0 headers; little-endian `f8 f4 i8 i4 u1 b1`,
//! C order), and the registered functions the client's plans call. Every
//! error names the file. A file is written under a temporary name beside
//! its place and renamed there only when every part is in.

use super::create::BlockInfo;
use super::keep;
use crate::actors::hosted::Produced;
use crate::actors::registry::{FunctionEntry, ObjectSlot};
use crate::array::engine::kernels::{Kernel, RawBytes};
use crate::macro_support::{decode_args, ok_value};
use crate::net::buf::fresh_vec;
use crate::net::wire::Fault;
use crate::value::DType;
use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// What a file's header says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Header {
    pub(crate) dtype: DType,
    pub(crate) shape: Vec<usize>,
    /// Where the data start.
    pub(crate) offset: u64,
}

fn fault(path: &str, what: impl std::fmt::Display) -> Fault {
    Fault::Refused(format!("{path}: {what}"))
}

fn descr(dtype: DType) -> &'static str {
    match dtype {
        DType::F64 => "<f8",
        DType::F32 => "<f4",
        DType::I64 => "<i8",
        DType::I32 => "<i4",
        DType::U8 => "|u1",
        DType::Bool => "|b1",
    }
}

fn dtype_of(path: &str, d: &str) -> Result<DType, Fault> {
    let native = |d: &str| d.replace('=', "<");
    match native(d).as_str() {
        "<f8" => Ok(DType::F64),
        "<f4" => Ok(DType::F32),
        "<i8" => Ok(DType::I64),
        "<i4" => Ok(DType::I32),
        "|u1" | "<u1" => Ok(DType::U8),
        "|b1" | "<b1" => Ok(DType::Bool),
        other if other.starts_with('>') => Err(fault(
            path,
            format!("big-endian data ('{other}') is not supported; save it little-endian"),
        )),
        other => Err(fault(
            path,
            format!("element type '{other}' is not supported"),
        )),
    }
}

/// The header block for an array: magic, version, length, dict, padded
/// with spaces to a multiple of 64 bytes and ended by a newline.
pub(crate) fn header_bytes(dtype: DType, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let tuple = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {tuple}, }}",
        descr(dtype)
    );
    let (version, prefix) = if dict.len() + 11 < 65_536 {
        (1u8, 10)
    } else {
        (2u8, 12)
    };
    let total = (prefix + dict.len() + 1).div_ceil(64) * 64;
    dict.push_str(&" ".repeat(total - prefix - dict.len() - 1));
    dict.push('\n');
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Reads and checks a file's header: the format, the element type, C
/// order, and that the data are exactly as long as the shape says.
pub(crate) fn read_header(path: &str) -> Result<Header, Fault> {
    let mut f = File::open(path).map_err(|e| fault(path, e))?;
    let len = f.metadata().map_err(|e| fault(path, e))?.len();
    let mut head = [0u8; 12];
    f.read_exact(&mut head[..10])
        .map_err(|_| fault(path, "too short for a .npy header"))?;
    if &head[..6] != MAGIC {
        return Err(fault(path, "not a .npy file"));
    }
    let (dict_len, prefix) = match head[6] {
        1 => (u16::from_le_bytes([head[8], head[9]]) as usize, 10),
        2 | 3 => {
            f.read_exact(&mut head[10..12])
                .map_err(|_| fault(path, "truncated header"))?;
            (
                u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize,
                12,
            )
        }
        v => return Err(fault(path, format!("unknown .npy version {v}"))),
    };
    let mut dict = vec![0u8; dict_len];
    f.read_exact(&mut dict)
        .map_err(|_| fault(path, "truncated header"))?;
    let dict = String::from_utf8_lossy(&dict);
    let dtype = dtype_of(path, &field(path, &dict, "descr")?.replace(['\'', '"'], ""))?;
    if field(path, &dict, "fortran_order")? != "False" {
        return Err(fault(path, "Fortran-ordered arrays are not supported"));
    }
    let shape = parse_shape(path, &field(path, &dict, "shape")?)?;
    let offset = (prefix + dict_len) as u64;
    let want = data_bytes(path, dtype, &shape)?;
    if len - offset.min(len) != want {
        return Err(fault(
            path,
            format!(
                "the header says {shape:?} ({want} bytes of data) but the file has {} bytes after it",
                len.saturating_sub(offset)
            ),
        ));
    }
    Ok(Header {
        dtype,
        shape,
        offset,
    })
}

/// The text of one `'key': value` of the header's dict.
fn field(path: &str, dict: &str, key: &str) -> Result<String, Fault> {
    let missing = || fault(path, format!("the header has no '{key}'"));
    let at = dict
        .find(&format!("'{key}'"))
        .or_else(|| dict.find(&format!("\"{key}\"")))
        .ok_or_else(missing)?;
    let rest = dict[at + key.len() + 2..].trim_start();
    let rest = rest.strip_prefix(':').ok_or_else(missing)?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')').map(|i| i + 1)
    } else {
        rest.find([',', '}'])
    }
    .ok_or_else(missing)?;
    Ok(rest[..end].trim().to_owned())
}

fn parse_shape(path: &str, t: &str) -> Result<Vec<usize>, Fault> {
    let inner = t
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| fault(path, format!("bad shape {t}")))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| fault(path, format!("bad shape {t}")))
}

/// Element types as `.npy` stores them.
pub(crate) trait NpyElement: Kernel + RawBytes + crate::value::Value {
    /// `n` elements read from `at`, appended to `out`.
    fn read_into(f: &File, at: u64, n: usize, out: &mut Vec<Self>) -> std::io::Result<()>;
    /// The elements' bytes.
    fn bytes(xs: &[Self]) -> std::borrow::Cow<'_, [u8]>;
}

/// Bytes read from a file at a time.
const READ_PIECE: usize = 1 << 20;

macro_rules! pod_npy {
    ($($t:ty),*) => {$(
        impl NpyElement for $t {
            fn read_into(f: &File, at: u64, n: usize, out: &mut Vec<Self>) -> std::io::Result<()> {
                // Straight into the block's memory, no buffer between, a
                // piece at a time (each zeroed while it is in cache).
                let piece = READ_PIECE / std::mem::size_of::<$t>();
                let mut done = 0;
                while done < n {
                    let (start, len) = (out.len(), (n - done).min(piece));
                    out.resize(start + len, <$t>::default());
                    let at = at + (done * std::mem::size_of::<$t>()) as u64;
                    f.read_exact_at(bytemuck::cast_slice_mut(&mut out[start..]), at)?;
                    done += len;
                }
                Ok(())
            }
            fn bytes(xs: &[Self]) -> std::borrow::Cow<'_, [u8]> {
                std::borrow::Cow::Borrowed(bytemuck::cast_slice(xs))
            }
        }
    )*};
}
pod_npy!(f64, f32, i64, i32, u8);

impl NpyElement for bool {
    fn read_into(f: &File, at: u64, n: usize, out: &mut Vec<Self>) -> std::io::Result<()> {
        let mut raw = vec![0u8; n];
        f.read_exact_at(&mut raw, at)?;
        for b in raw {
            out.push(match b {
                0 => false,
                1 => true,
                _ => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "a bool that is not 0 or 1",
                    ))
                }
            });
        }
        Ok(())
    }
    fn bytes(xs: &[Self]) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Owned(xs.iter().map(|&b| u8::from(b)).collect())
    }
}

/// One engine's part of a file: its block of the whole array.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Part {
    pub(crate) path: String,
    pub(crate) header: Header,
    pub(crate) info: BlockInfo,
}

fn read_part<A: NpyElement>(part: &Part) -> Result<ArrayD<A>, Fault> {
    let path = &part.path;
    if part.header.dtype != A::DTYPE {
        return Err(fault(
            path,
            format!("holds {} elements, not {}", part.header.dtype, A::DTYPE),
        ));
    }
    let f = File::open(path).map_err(|e| fault(path, e))?;
    let size = A::DTYPE.size() as u64;
    let mut data = fresh_vec(part.info.block_shape().iter().product());
    for (g, len) in part.info.runs() {
        A::read_into(&f, part.header.offset + g * size, len, &mut data)
            .map_err(|e| fault(path, e))?;
    }
    ArrayD::from_shape_vec(IxDyn(&part.info.block_shape()), data).map_err(|e| fault(path, e))
}

fn write_part<A: NpyElement>(block: &ArrayD<A>, part: &Part) -> Result<(), Fault> {
    let path = &part.path;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| fault(path, e))?;
    let block = block.as_standard_layout();
    let xs = block.as_slice().unwrap_or(&[]);
    if block.shape() != part.info.block_shape().as_slice() {
        return Err(fault(
            path,
            format!(
                "a block of shape {:?} where {:?} was planned",
                block.shape(),
                part.info.block_shape()
            ),
        ));
    }
    let size = A::DTYPE.size() as u64;
    let mut at = 0;
    for (g, len) in part.info.runs() {
        let bytes = A::bytes(&xs[at..at + len]);
        f.write_all_at(&bytes, part.header.offset + g * size)
            .map_err(|e| fault(path, e))?;
        at += len;
    }
    f.sync_data().map_err(|e| fault(path, e))
}

/// Creates the file (under its temporary name) with its header, at its
/// full length, for the parts to be written into.
fn create(path: &str, dtype: DType, shape: &[usize]) -> Result<u64, Fault> {
    let head = header_bytes(dtype, shape);
    let data = data_bytes(path, dtype, shape)?;
    let result = (|| {
        let mut f = File::create(path).map_err(|e| fault(path, e))?;
        f.write_all(&head).map_err(|e| fault(path, e))?;
        f.set_len(head.len() as u64 + data)
            .map_err(|e| fault(path, e))?;
        Ok(head.len() as u64)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// The data's length in bytes, checked against overflow.
fn data_bytes(path: &str, dtype: DType, shape: &[usize]) -> Result<u64, Fault> {
    shape
        .iter()
        .try_fold(dtype.size() as u64, |n, &d| n.checked_mul(d as u64))
        .ok_or_else(|| fault(path, format!("a shape of {shape:?} is too large")))
}

/// A whole array into one file, under a temporary name first.
pub(crate) fn save_whole<A: NpyElement>(a: &ArrayD<A>, path: &str) -> Result<(), Fault> {
    let tmp = temporary(path);
    let result = (|| {
        let head = header_bytes(A::DTYPE, a.shape());
        let mut f = File::create(&tmp).map_err(|e| fault(path, e))?;
        f.write_all(&head).map_err(|e| fault(path, e))?;
        let std = a.as_standard_layout();
        f.write_all(&A::bytes(std.as_slice().unwrap_or(&[])))
            .map_err(|e| fault(path, e))?;
        f.sync_data().map_err(|e| fault(path, e))?;
        std::fs::rename(&tmp, path).map_err(|e| fault(path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `tmp` moved to `path` (a directory replacing a directory there), or
/// removed if it cannot be.
fn renamed(tmp: &str, path: &str) -> Result<(), Fault> {
    let aside = (Path::new(path).is_dir() && Path::new(tmp).is_dir()).then(|| temporary(path));
    if let Some(old) = &aside {
        if let Err(e) = std::fs::rename(path, old) {
            let _ = std::fs::remove_dir_all(tmp);
            return Err(fault(path, e));
        }
    }
    match std::fs::rename(tmp, path) {
        Ok(()) => {
            if let Some(old) = aside {
                let _ = std::fs::remove_dir_all(old);
            }
            Ok(())
        }
        Err(e) => {
            if let Some(old) = aside {
                let _ = std::fs::rename(old, path);
            }
            let _ = std::fs::remove_file(tmp).or_else(|_| std::fs::remove_dir_all(tmp));
            Err(fault(path, e))
        }
    }
}

/// The temporary name a file is written under, beside it.
pub(crate) fn temporary(path: &str) -> String {
    let p = Path::new(path);
    let name = p
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let tmp = format!(".{name}.{}.partial", uuid::Uuid::new_v4().simple());
    p.with_file_name(tmp).to_string_lossy().into_owned()
}

/// What the file functions other than the per-part ones are asked to do.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum FileTask {
    /// Read a header.
    Header(String),
    /// Create a file for parts: path, element type, shape; gives the data offset.
    Create(String, DType, Vec<usize>),
    /// Move a finished file to its place (or remove it, when `false`).
    Finish {
        tmp: String,
        path: String,
        keep: bool,
    },
    /// Write a small text file (atomically).
    WriteText(String, String),
    /// Read a small text file.
    ReadText(String),
    /// Make a directory (and its parents).
    MakeDir(String),
}

fn file_task(slot: ObjectSlot<'_>, _args: &[u8]) -> Result<Produced, Fault> {
    match slot.with::<FileTask, _>(|t| t.clone())? {
        FileTask::Header(path) => ok_value(read_header(&path)?),
        FileTask::Create(path, dtype, shape) => ok_value(create(&path, dtype, &shape)?),
        FileTask::Finish {
            tmp,
            path,
            keep: true,
        } => ok_value(renamed(&tmp, &path)?),
        FileTask::Finish {
            tmp, keep: false, ..
        } => {
            // The partial file (or directory) goes; it may never have been made.
            let _ = std::fs::remove_file(&tmp).or_else(|_| std::fs::remove_dir_all(&tmp));
            ok_value(())
        }
        FileTask::WriteText(path, text) => {
            let tmp = temporary(&path);
            if let Err(e) = std::fs::write(&tmp, text) {
                let _ = std::fs::remove_file(&tmp);
                return Err(fault(&path, e));
            }
            ok_value(renamed(&tmp, &path)?)
        }
        FileTask::MakeDir(path) => {
            ok_value(std::fs::create_dir_all(&path).map_err(|e| fault(&path, e))?)
        }
        FileTask::ReadText(path) => {
            ok_value(std::fs::read_to_string(&path).map_err(|e| fault(&path, e))?)
        }
    }
}

fn read_fn<A: NpyElement>(slot: ObjectSlot<'_>, _args: &[u8]) -> Result<Produced, Fault> {
    slot.with::<Part, _>(|p| read_part::<A>(p))?.map(keep)
}

fn write_fn<A: NpyElement>(slot: ObjectSlot<'_>, args: &[u8]) -> Result<Produced, Fault> {
    let (part,) = decode_args::<(Part,)>(args)?;
    slot.with::<ArrayD<A>, _>(|a| write_part(a, &part))??;
    ok_value(())
}

fn load_fn<A: NpyElement>(slot: ObjectSlot<'_>, args: &[u8]) -> Result<Produced, Fault> {
    let (expected,) = decode_args::<(Vec<usize>,)>(args)?;
    let path = slot.with::<String, _>(|p| p.clone())?;
    let header = read_header(&path)?;
    if header.shape != expected {
        return Err(fault(
            &path,
            format!(
                "holds {:?}, not the {expected:?} its layout says",
                header.shape
            ),
        ));
    }
    let info = BlockInfo {
        shape: header.shape.clone(),
        axis: 0,
        start: 0,
        len: header.shape.first().copied().unwrap_or(1),
    };
    read_part::<A>(&Part { path, header, info }).map(keep)
}

fn save_fn<A: NpyElement>(slot: ObjectSlot<'_>, args: &[u8]) -> Result<Produced, Fault> {
    let (path,) = decode_args::<(String,)>(args)?;
    slot.with::<ArrayD<A>, _>(|a| save_whole(a, &path))??;
    ok_value(())
}

/// The registered names of the file functions.
pub(crate) mod name {
    use crate::value::DType;
    pub(crate) const TASK: &str = "distob::array::npy::task";
    macro_rules! per_dtype {
        ($fn:ident, $what:literal) => {
            pub(crate) fn $fn(dtype: DType) -> &'static str {
                match dtype {
                    DType::F64 => concat!("distob::array::npy::", $what, "<f64>"),
                    DType::F32 => concat!("distob::array::npy::", $what, "<f32>"),
                    DType::I64 => concat!("distob::array::npy::", $what, "<i64>"),
                    DType::I32 => concat!("distob::array::npy::", $what, "<i32>"),
                    DType::U8 => concat!("distob::array::npy::", $what, "<u8>"),
                    DType::Bool => concat!("distob::array::npy::", $what, "<bool>"),
                }
            }
        };
    }
    per_dtype!(read, "read");
    per_dtype!(write, "write");
    per_dtype!(load, "load");
    per_dtype!(save, "save");
}

fn task_name() -> &'static str {
    name::TASK
}

inventory::submit! { FunctionEntry { name: task_name, call: file_task, mutates: false } }

macro_rules! register_npy {
    ($($t:ident $d:ident),*) => {$(
        const _: () = {
            fn read() -> &'static str { name::read(<$t as crate::value::Element>::DTYPE) }
            fn write() -> &'static str { name::write(<$t as crate::value::Element>::DTYPE) }
            fn load() -> &'static str { name::load(<$t as crate::value::Element>::DTYPE) }
            fn save() -> &'static str { name::save(<$t as crate::value::Element>::DTYPE) }
            inventory::submit! { FunctionEntry { name: read, call: read_fn::<$t>, mutates: false } }
            inventory::submit! { FunctionEntry { name: write, call: write_fn::<$t>, mutates: false } }
            inventory::submit! { FunctionEntry { name: load, call: load_fn::<$t>, mutates: false } }
            inventory::submit! { FunctionEntry { name: save, call: save_fn::<$t>, mutates: false } }
        };
    )*};
}

crate::array::for_each_dtype!(register_npy);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_padded_to_64_bytes_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy").to_string_lossy().into_owned();
        let a = ArrayD::from_shape_fn(IxDyn(&[3, 4]), |i| (i[0] * 4 + i[1]) as f64);
        save_whole(&a, &path).unwrap();
        let h = read_header(&path).unwrap();
        assert_eq!(h.offset % 64, 0);
        assert_eq!((h.dtype, h.shape), (DType::F64, vec![3, 4]));
        assert_eq!(header_bytes(DType::U8, &[7])[..8], b"\x93NUMPY\x01\x00"[..]);
    }
}
