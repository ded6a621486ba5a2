//! Values with where they are written: file, line and column.
//!
//! serde-saphyr's `Spanned` knows the line and column. A spec is read together with the
//! organisation's defaults ([`super::org`]), so a value must also know which of the two files
//! it came from, for its diagnostics and the excerpt beside them. Parsing is synchronous: the
//! file being parsed ([`parsing`]) is a thread-local the deserializer reads.

use std::cell::Cell;

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer};

use super::{Origin, Pos};

thread_local! {
    static ORIGIN: Cell<Origin> = const { Cell::new(Origin::Spec) };
}

/// A value and where it is written.
#[derive(Debug, Clone)]
pub struct Spanned<T> {
    pub value: T,
    pub pos: Pos,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<T>::deserialize(deserializer)?;
        let at = spanned.referenced;
        Ok(Spanned {
            value: spanned.value,
            pos: Pos {
                line: u32::try_from(at.line()).unwrap_or(u32::MAX),
                column: u32::try_from(at.column()).unwrap_or(u32::MAX),
                origin: ORIGIN.with(Cell::get),
            },
        })
    }
}

/// A position is not written: the schema of a spanned value is the value's.
impl<T: JsonSchema> JsonSchema for Spanned<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }

    fn inline_schema() -> bool {
        T::inline_schema()
    }
}

/// Runs `parse` with every value it reads attributed to `origin`.
pub fn parsing<R>(origin: Origin, parse: impl FnOnce() -> R) -> R {
    let previous = ORIGIN.with(|o| o.replace(origin));
    let result = parse();
    ORIGIN.with(|o| o.set(previous));
    result
}
