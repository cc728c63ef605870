//! Identifier newtypes. Every stored row is addressed by a 64-bit id; the type says which table it
//! belongs to so a user id can never be passed where a client id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($($(#[$m:meta])* $name:ident),* $(,)?) => {$(
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }
    )*};
}

id_type!(
    /// A tenant.
    ClientId,
    /// A person who logs in.
    UserId,
    /// A phone number owned by a client.
    NumberId,
    /// A contact of a client.
    ContactId,
    /// A list (stage) of a client.
    ListId,
    /// An outbound campaign.
    CampaignId,
    /// One call, inbound or outbound.
    CallId,
    /// A call script of a client.
    ScriptId,
    /// One version of a call script.
    ScriptVersionId,
    /// The recording of one call.
    RecordingId,
);
