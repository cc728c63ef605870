//! Pure domain rules of palera-voice. Nothing here performs I/O, spawns tasks or reads the clock:
//! every function takes the state, the event and `now`, and returns a decision as data.
//! Drivers in `palera-store`, `palera-carrier` and the server carry the decisions out.

pub mod campaign;
pub mod contact;
pub mod desk;
pub mod error;
pub mod ids;
pub mod import;
pub mod phone;
pub mod recording;
pub mod routing;
pub mod script;
pub mod tenant;
pub mod user;

pub use error::ValidationError;
