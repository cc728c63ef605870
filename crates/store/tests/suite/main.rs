//! The store's integration tests, in one binary (one link instead of one per file keeps CI fast);
//! `cargo test -p palera-store --test suite AREA::` runs one area. `import_big_field` stays a
//! binary of its own because it measures its process's peak memory.

mod call_hours;
mod call_record;
mod campaigns;
mod common;
mod conformance;
mod contacts;
mod fuzz_csv;
mod import;
mod import_properties;
mod list_counts;
mod recordings;
mod scripts;
mod tenant_scope;
mod twilio_receipts;
