//! How a Rust value becomes bytes on the wire and back.
//!
//! Every [`Value`] is CBOR (ciborium) — except `ndarray` arrays of the
//! built-in element types ([`DType`]), which travel as a small CBOR header
//! (dtype, shape) and their raw little-endian bytes, written straight from
//! the array's memory and read straight into the new array's memory.

#[cfg(target_endian = "big")]
compile_error!("distob's wire format for arrays assumes a little-endian host");

use crate::net::AlignedBuf;
use bytes::Bytes;
use ndarray::{Array, ArrayD, Dimension, IxDyn};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::fmt;

/// Anything that can be scattered and gathered: any serde type that can
/// move between threads.
pub trait Value: Serialize + DeserializeOwned + Send + 'static {}
impl<T: Serialize + DeserializeOwned + Send + 'static> Value for T {}

/// The element types that arrays carry as raw bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DType {
    /// `f64`
    F64,
    /// `f32`
    F32,
    /// `i64`
    I64,
    /// `i32`
    I32,
    /// `u8`
    U8,
    /// `bool` (one byte, 0 or 1)
    Bool,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::U8 | DType::Bool => 1,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::F64 => "f64",
            DType::F32 => "f32",
            DType::I64 => "i64",
            DType::I32 => "i32",
            DType::U8 => "u8",
            DType::Bool => "bool",
        })
    }
}

/// Why a value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// serde/CBOR encoding failed.
    #[error("cannot encode value as CBOR")]
    Encode(#[source] ciborium::ser::Error<std::io::Error>),
    /// serde/CBOR decoding failed (wrong type, corrupt bytes).
    #[error("cannot decode value from CBOR")]
    Decode(#[source] ciborium::de::Error<std::io::Error>),
    /// Array bytes that do not match the header.
    #[error("array data of {len} bytes does not fit shape {shape:?} of {dtype}")]
    ArrayData {
        /// The element type.
        dtype: DType,
        /// The shape.
        shape: Vec<usize>,
        /// The bytes received.
        len: usize,
    },
    /// The header names another element type than the one asked for.
    #[error("array of {found} where {expected} was expected")]
    DTypeMismatch {
        /// Asked for.
        expected: DType,
        /// Received.
        found: DType,
    },
    /// The shape does not suit the array's dimension type.
    #[error("array shape does not fit the dimension type")]
    Shape(#[from] ndarray::ShapeError),
}

/// An element type arrays of which travel as raw bytes.
pub trait Element: Copy + Send + Sync + 'static + fmt::Debug + PartialEq {
    /// Its dtype.
    const DTYPE: DType;
    /// The elements' little-endian bytes, without a copy where possible.
    fn into_bytes(v: Vec<Self>) -> Bytes;
    /// Elements from received bytes, without a copy where possible.
    fn from_buf(buf: AlignedBuf) -> Option<Vec<Self>>;
}

struct PodBytes<T>(Vec<T>);

impl<T: bytemuck::Pod> AsRef<[u8]> for PodBytes<T> {
    fn as_ref(&self) -> &[u8] {
        bytemuck::cast_slice(&self.0)
    }
}

macro_rules! pod_element {
    ($t:ty, $d:ident, $word_sized:expr) => {
        impl Element for $t {
            const DTYPE: DType = DType::$d;
            fn into_bytes(v: Vec<Self>) -> Bytes {
                Bytes::from_owner(PodBytes(v))
            }
            fn from_buf(buf: AlignedBuf) -> Option<Vec<Self>> {
                if $word_sized {
                    let (words, len) = buf.into_words();
                    if len != words.len() * 8 {
                        return None;
                    }
                    bytemuck::allocation::try_cast_vec::<u64, $t>(words).ok()
                } else {
                    bytemuck::try_cast_slice::<u8, $t>(buf.as_bytes())
                        .ok()
                        .map(|s| s.to_vec())
                }
            }
        }
    };
}

pod_element!(f64, F64, true);
pod_element!(i64, I64, true);
pod_element!(f32, F32, false);
pod_element!(i32, I32, false);
pod_element!(u8, U8, false);

impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn into_bytes(v: Vec<Self>) -> Bytes {
        Bytes::from(v.into_iter().map(u8::from).collect::<Vec<u8>>())
    }
    fn from_buf(buf: AlignedBuf) -> Option<Vec<Self>> {
        Some(buf.as_bytes().iter().map(|&b| b != 0).collect())
    }
}

/// The header in front of an array's raw bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArrayHeader {
    /// Format version of the raw array encoding.
    pub v: u8,
    /// Element type.
    pub dtype: DType,
    /// Shape, standard (row-major) order.
    pub shape: Vec<usize>,
}

/// The raw array format's version.
pub const ARRAY_FORMAT_VERSION: u8 = 1;

/// A value's encoding: a small head and a bulk body, and a hold on every
/// remote handle the value contains.
#[derive(Clone, Debug, Default)]
pub struct Encoded {
    /// CBOR: the value, or an [`ArrayHeader`].
    pub head: Vec<u8>,
    /// Raw bytes (array data), often empty.
    pub body: Bytes,
    /// The handles inside the value, each kept alive by its lease until the
    /// encoding has been sent (and the handle lent) or decoded again.
    pub leases: Vec<Lease>,
}

/// A hold on one remote handle that a payload carries: while the lease
/// lives, so does the handle, and the object stays held by this process.
/// Payloads keep their leases until each handle has been lent to its
/// object's engine (see the wire's `Lent`) or decoded again here, so that
/// dropping the original handle right after sending it is safe.
#[derive(Clone)]
pub struct Lease {
    pub(crate) handle: crate::net::wire::HandleRef,
    /// Held for what it keeps alive; never read.
    #[allow(dead_code)]
    pub(crate) keep: std::sync::Arc<dyn Any + Send + Sync>,
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lease({}/{})", self.handle.0, self.handle.1)
    }
}

impl Lease {
    /// The handle it holds.
    pub fn handle(&self) -> crate::net::wire::HandleRef {
        self.handle
    }
}

thread_local! {
    /// The leases of the handles serialized by each encoding under way on
    /// this thread, innermost last.
    static LEASES: std::cell::RefCell<Vec<Vec<Lease>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Pops the innermost collection when an encoding ends (or unwinds).
struct Collection;

impl Drop for Collection {
    fn drop(&mut self) {
        LEASES.with(|l| {
            l.borrow_mut().pop();
        });
    }
}

/// Runs `f` (an encoding) and returns what it gave and the leases of every
/// handle serialized by it on this thread.
pub(crate) fn collecting<R>(f: impl FnOnce() -> R) -> (R, Vec<Lease>) {
    LEASES.with(|l| l.borrow_mut().push(Vec::new()));
    let guard = Collection;
    let out = f();
    let leases = LEASES.with(|l| l.borrow_mut().last_mut().map(std::mem::take));
    drop(guard);
    (out, leases.unwrap_or_default())
}

/// Records the lease of a handle being serialized, in the innermost
/// encoding under way; false when there is none (the handle is then a bare
/// reference that keeps nothing alive).
pub(crate) fn lease(lease: Lease) -> bool {
    LEASES.with(|l| match l.borrow_mut().last_mut() {
        Some(top) => {
            top.push(lease);
            true
        }
        None => false,
    })
}

/// [`to_cbor`], with the leases of the handles inside `x`.
pub(crate) fn to_cbor_leased<T: Serialize + ?Sized>(
    x: &T,
) -> Result<(Vec<u8>, Vec<Lease>), ValueError> {
    let (bytes, leases) = collecting(|| to_cbor(x));
    Ok((bytes?, leases))
}

impl Encoded {
    /// Total encoded size.
    pub fn len(&self) -> usize {
        self.head.len() + self.body.len()
    }

    /// Whether both parts are empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// CBOR-encodes any serde value.
pub fn to_cbor<T: Serialize + ?Sized>(x: &T) -> Result<Vec<u8>, ValueError> {
    let mut out = Vec::new();
    ciborium::into_writer(x, &mut out).map_err(ValueError::Encode)?;
    Ok(out)
}

/// Decodes CBOR into a serde value.
pub fn from_cbor<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ValueError> {
    let mut scratch = [0u8; crate::net::codec::SCRATCH];
    ciborium::de::from_reader_with_buffer(bytes, &mut scratch).map_err(ValueError::Decode)
}

/// Encodes an owned array as header + raw bytes (no copy when it is in standard layout).
pub fn encode_array<A: Element, D: Dimension>(a: Array<A, D>) -> Result<Encoded, ValueError> {
    let a = if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
    };
    let shape = a.shape().to_vec();
    let n = a.len();
    let (vec, offset) = a.into_raw_vec_and_offset();
    let start = offset.unwrap_or(0);
    let bytes = A::into_bytes(vec);
    let size = A::DTYPE.size();
    let head = to_cbor(&ArrayHeader {
        v: ARRAY_FORMAT_VERSION,
        dtype: A::DTYPE,
        shape,
    })?;
    Ok(Encoded {
        head,
        body: bytes.slice(start * size..(start + n) * size),
        leases: Vec::new(),
    })
}

/// Decodes header + raw bytes into an array.
pub fn decode_array<A: Element, D: Dimension>(
    head: &[u8],
    body: AlignedBuf,
) -> Result<Array<A, D>, ValueError> {
    let header: ArrayHeader = from_cbor(head)?;
    if header.dtype != A::DTYPE {
        return Err(ValueError::DTypeMismatch {
            expected: A::DTYPE,
            found: header.dtype,
        });
    }
    let n: usize = header.shape.iter().product();
    let len = body.len();
    let data_error = || ValueError::ArrayData {
        dtype: header.dtype,
        shape: header.shape.clone(),
        len,
    };
    if len != n * A::DTYPE.size() {
        return Err(data_error());
    }
    let data = A::from_buf(body).ok_or_else(data_error)?;
    let a = ArrayD::from_shape_vec(IxDyn(&header.shape), data)?;
    Ok(a.into_dimensionality::<D>()?)
}

/// Reads an array header without the data.
pub fn array_header(head: &[u8]) -> Result<ArrayHeader, ValueError> {
    from_cbor(head)
}

fn try_decode_array<T: 'static, A: Element, D: Dimension + 'static>(
    head: &[u8],
    body: &mut Option<AlignedBuf>,
) -> Option<Result<T, ValueError>> {
    if std::any::TypeId::of::<T>() != std::any::TypeId::of::<Array<A, D>>() {
        return None;
    }
    let body = body.take()?;
    let result = decode_array::<A, D>(head, body).map(|a| {
        let mut slot = Some(a);
        (&mut slot as &mut dyn Any)
            .downcast_mut::<Option<T>>()
            .and_then(Option::take)
    });
    match result {
        Ok(Some(t)) => Some(Ok(t)),
        Ok(None) => None,
        Err(e) => Some(Err(e)),
    }
}

macro_rules! for_each_array_type {
    ($m:ident, $($args:tt)*) => {
        $m!(f64, $($args)*); $m!(f32, $($args)*); $m!(i64, $($args)*);
        $m!(i32, $($args)*); $m!(u8, $($args)*); $m!(bool, $($args)*);
    };
}

/// Whether `T` is an array type that travels as raw bytes.
pub fn is_raw_array<T: 'static>() -> bool {
    let id = std::any::TypeId::of::<T>();
    macro_rules! check {
        ($a:ty, $id:ident) => {
            if $id == std::any::TypeId::of::<Array<$a, IxDyn>>()
                || $id == std::any::TypeId::of::<Array<$a, ndarray::Ix1>>()
                || $id == std::any::TypeId::of::<Array<$a, ndarray::Ix2>>()
                || $id == std::any::TypeId::of::<Array<$a, ndarray::Ix3>>()
            {
                return true;
            }
        };
    }
    for_each_array_type!(check, id);
    false
}

/// What to do with a built-in array taken out of a slot (see
/// [`take_array`]): generic over the element type.
trait OnArray {
    type Out;
    fn on<A: Element>(self, a: ArrayD<A>) -> Self::Out;
}

/// Takes the built-in array (any element type; `IxDyn`, `Ix1`, `Ix2` or
/// `Ix3`) out of `slot`, an `&mut Option<T>`, and runs `f` on it; `None`
/// (and `slot` untouched) for any other value.
fn take_array<F: OnArray>(slot: &mut dyn Any, f: F) -> Option<F::Out> {
    fn take<A: Element, D: Dimension + 'static>(slot: &mut dyn Any) -> Option<ArrayD<A>> {
        let a = slot.downcast_mut::<Option<Array<A, D>>>()?.take()?;
        Some(a.into_dyn())
    }
    macro_rules! attempt {
        ($a:ty, $slot:ident) => {
            let found = take::<$a, IxDyn>($slot)
                .or_else(|| take::<$a, ndarray::Ix1>($slot))
                .or_else(|| take::<$a, ndarray::Ix2>($slot))
                .or_else(|| take::<$a, ndarray::Ix3>($slot));
            if let Some(a) = found {
                return Some(f.on(a));
            }
        };
    }
    for_each_array_type!(attempt, slot);
    None
}

/// An array as engines host it.
pub(crate) struct SharedArray {
    /// The shared `ArcArray<A, IxDyn>`, in standard layout.
    pub(crate) value: std::sync::Arc<dyn Any + Send + Sync>,
    pub(crate) shape: Vec<usize>,
    pub(crate) nbytes: u64,
    /// The type engines host it as (`ArrayD<A>`, whatever the array's
    /// dimension type was).
    pub(crate) hosted_as: std::any::TypeId,
}

/// A built-in array taken out of `slot` as the shared, standard-layout
/// `ArcArray<A, IxDyn>` that engines host (an array in another layout is
/// copied into standard layout first), with its shape and size in bytes;
/// `None` (and `slot` untouched) for any other value.
pub(crate) fn share_array<T: 'static>(slot: &mut Option<T>) -> Option<SharedArray> {
    struct Share;
    impl OnArray for Share {
        type Out = SharedArray;
        fn on<A: Element>(self, a: ArrayD<A>) -> SharedArray {
            let a = if a.is_standard_layout() {
                a
            } else {
                a.as_standard_layout().into_owned()
            };
            SharedArray {
                shape: a.shape().to_vec(),
                nbytes: (a.len() * std::mem::size_of::<A>()) as u64,
                hosted_as: std::any::TypeId::of::<ArrayD<A>>(),
                value: std::sync::Arc::new(a.into_shared()),
            }
        }
    }
    if !is_raw_array::<T>() {
        return None;
    }
    take_array(slot, Share)
}

/// Encodes an owned value: raw bytes for built-in arrays, CBOR otherwise.
pub fn encode<T: Value>(x: T) -> Result<Encoded, ValueError> {
    if is_raw_array::<T>() {
        return encode_array_value(x);
    }
    encode_ref(&x)
}

fn encode_array_value<T: Value>(x: T) -> Result<Encoded, ValueError> {
    struct Encode;
    impl OnArray for Encode {
        type Out = Result<Encoded, ValueError>;
        fn on<A: Element>(self, a: ArrayD<A>) -> Self::Out {
            encode_array(a)
        }
    }
    let mut slot = Some(x);
    if let Some(encoded) = take_array(&mut slot, Encode) {
        return encoded;
    }
    match slot.take() {
        Some(x) => encode_ref(&x),
        None => Ok(Encoded::default()),
    }
}

/// Encodes a borrowed value as CBOR (arrays too, when not owned), with the
/// leases of the handles inside it.
pub fn encode_ref<T: Serialize + ?Sized>(x: &T) -> Result<Encoded, ValueError> {
    let (head, leases) = to_cbor_leased(x)?;
    Ok(Encoded {
        head,
        body: Bytes::new(),
        leases,
    })
}

/// Encodes a borrowed value as [`encode`] would the owned one (arrays as
/// raw bytes, copied once; everything else CBOR).
pub fn encode_borrowed<T: Value>(x: &T) -> Result<Encoded, ValueError> {
    if is_raw_array::<T>() {
        let any: &dyn Any = x;
        macro_rules! attempt {
            ($a:ty, $any:ident) => {
                if let Some(a) = $any.downcast_ref::<Array<$a, IxDyn>>() {
                    return encode_array(a.to_owned());
                }
                if let Some(a) = $any.downcast_ref::<Array<$a, ndarray::Ix1>>() {
                    return encode_array(a.to_owned());
                }
                if let Some(a) = $any.downcast_ref::<Array<$a, ndarray::Ix2>>() {
                    return encode_array(a.to_owned());
                }
                if let Some(a) = $any.downcast_ref::<Array<$a, ndarray::Ix3>>() {
                    return encode_array(a.to_owned());
                }
            };
        }
        for_each_array_type!(attempt, any);
    }
    encode_ref(x)
}

/// Decodes a value encoded by [`encode`].
pub fn decode<T: Value>(head: &[u8], body: AlignedBuf) -> Result<T, ValueError> {
    if is_raw_array::<T>() {
        let mut body = Some(body);
        macro_rules! attempt {
            ($a:ty, $head:ident, $body:ident) => {
                for r in [
                    try_decode_array::<T, $a, IxDyn>($head, $body),
                    try_decode_array::<T, $a, ndarray::Ix1>($head, $body),
                    try_decode_array::<T, $a, ndarray::Ix2>($head, $body),
                    try_decode_array::<T, $a, ndarray::Ix3>($head, $body),
                ]
                .into_iter()
                .flatten()
                {
                    return r;
                }
            };
        }
        let b = &mut body;
        for_each_array_type!(attempt, head, b);
    }
    from_cbor(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    fn round_trip<T: Value + PartialEq + fmt::Debug + Clone>(x: T) {
        let enc = encode(x.clone()).unwrap();
        let back: T = decode(&enc.head, AlignedBuf::from_slice(&enc.body)).unwrap();
        assert_eq!(back, x);
    }

    #[test]
    fn values_round_trip() {
        round_trip(String::from("hello"));
        round_trip(vec![1.5f64, 2.5]);
        round_trip(array![[1.0f64, 2.0], [3.0, 4.0]].into_dyn());
        round_trip(array![1i32, 2, 3]);
        round_trip(array![[true, false], [false, true]]);
        round_trip(Array2::<u8>::zeros((3, 5)));
    }

    #[test]
    fn arrays_travel_raw() {
        let a = ArrayD::<f64>::zeros(IxDyn(&[1000]));
        let enc = encode(a).unwrap();
        assert_eq!(enc.body.len(), 8000);
        assert!(enc.head.len() < 32);
    }

    #[test]
    fn transposed_arrays_are_sent_in_standard_order() {
        let a = array![[1.0f64, 2.0, 3.0], [4.0, 5.0, 6.0]];
        let t = a.t().to_owned();
        round_trip(t.clone());
        let enc = encode(t.clone()).unwrap();
        let back: Array2<f64> = decode(&enc.head, AlignedBuf::from_slice(&enc.body)).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn wrong_dtype_is_an_error() {
        let enc = encode(array![1.0f64, 2.0]).unwrap();
        let r: Result<ndarray::Array1<f32>, _> =
            decode(&enc.head, AlignedBuf::from_slice(&enc.body));
        assert!(matches!(r, Err(ValueError::DTypeMismatch { .. })));
    }
}
