//! `LeadStatus` as a PostgreSQL value: the `status` columns are `text` holding
//! `assigned`, `queued` or `unassigned` (their CHECK constraints), and read and bound as
//! [`LeadStatus`] directly.
//!
//! Implemented here rather than derived on the type, so `routing` (pure decisions)
//! stays free of database code; text's own encoding is reused, so arrays of statuses
//! bind as `text[]` with no type lookup.
use crate::routing::LeadStatus;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef, Postgres};
use sqlx::{Decode, Encode, Type};

impl Type<Postgres> for LeadStatus {
    fn type_info() -> PgTypeInfo {
        <str as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <str as Type<Postgres>>::compatible(ty)
    }
}

impl PgHasArrayType for LeadStatus {
    fn array_type_info() -> PgTypeInfo {
        <&str as PgHasArrayType>::array_type_info()
    }

    fn array_compatible(ty: &PgTypeInfo) -> bool {
        <&str as PgHasArrayType>::array_compatible(ty)
    }
}

impl Encode<'_, Postgres> for LeadStatus {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <&str as Encode<Postgres>>::encode(self.as_str(), buf)
    }

    fn size_hint(&self) -> usize {
        self.as_str().len()
    }
}

impl<'r> Decode<'r, Postgres> for LeadStatus {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Postgres>>::decode(value)?;
        LeadStatus::parse(text).ok_or_else(|| format!("unknown lead status {text:?}").into())
    }
}
