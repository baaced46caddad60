//! What macro-generated code calls, re-exported as `distob::__private`.
//! Not a stable API: generated code and this module change together.

pub use crate::actors::ctx::Ctx;
pub use crate::actors::hosted::{Dispatch, Invocation, OnPanic, Produced};
pub use crate::actors::registry::{FunctionEntry, ObjectSlot, TypeEntry};
pub use crate::net::wire::Fault;
pub use crate::proxy::Invoke;
pub use inventory;
pub use serde;

use crate::net::wire::MethodId;
use crate::value::{self, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Types that can cross the wire as arguments or results.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot cross the wire: remote arguments and results must implement serde's `Serialize` and `DeserializeOwned` and be `Send + 'static`",
    label = "not a serde type that can cross the wire",
    note = "derive `serde::Serialize` and `serde::Deserialize` for it, or mark the method #[distob(skip)]"
)]
pub trait Wire {}

impl<T: Serialize + DeserializeOwned + Send + 'static> Wire for T {}

/// Fails to compile, at `T`, unless `T` can cross the wire.
pub fn assert_wire<T: Wire>() {}

/// Decodes a call's argument tuple.
pub fn decode_args<A: DeserializeOwned>(bytes: &[u8]) -> Result<A, Fault> {
    value::from_cbor(bytes).map_err(|e| Fault::Decode(crate::cluster::report(&e)))
}

/// A method's return value, encoded.
pub fn ok_value<T: Value>(v: T) -> Result<Produced, Fault> {
    match value::encode(v) {
        Ok(enc) => Ok(Produced::Value(
            enc,
            crate::actors::registry::stable_name::<T>(),
        )),
        Err(e) => Err(Fault::Decode(crate::cluster::report(&e))),
    }
}

/// A `Result`-returning method's outcome: the value, or the method's own
/// error for the caller ([`crate::Error::Remote`]).
pub fn user_result<T: Value, E: Serialize>(r: Result<T, E>) -> Result<Produced, Fault> {
    match r {
        Ok(v) => ok_value(v),
        Err(e) => match value::to_cbor(&e) {
            Ok(bytes) => Err(Fault::User(bytes)),
            Err(e) => Err(Fault::Decode(crate::cluster::report(&e))),
        },
    }
}

/// The answer to a method id the type does not have.
pub fn no_such_method<T: 'static>(method: MethodId) -> Invocation {
    Invocation::Ready(Err(Fault::NoSuchMethod {
        type_name: crate::actors::registry::stable_name::<T>().to_owned(),
        method,
    }))
}

/// A stream method's answer: its items, each encoded as it is produced.
pub fn streamed<T: Value>(s: crate::Streamed<T>) -> Result<Produced, Fault> {
    Ok(Produced::Stream(s.encodings()))
}

/// A `Result`-returning stream method's answer.
pub fn user_streamed<T: Value, E: Serialize>(
    r: Result<crate::Streamed<T>, E>,
) -> Result<Produced, Fault> {
    match r {
        Ok(s) => streamed(s),
        Err(e) => match value::to_cbor(&e) {
            Ok(bytes) => Err(Fault::User(bytes)),
            Err(e) => Err(Fault::Decode(crate::cluster::report(&e))),
        },
    }
}
