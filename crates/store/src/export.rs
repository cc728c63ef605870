//! CSV export of a list or a filter, in id-ordered chunks so a caller can stream any number of
//! contacts with flat memory. Columns: the built-in fields, the list name, then one column per
//! property of the schema. Cells a spreadsheet would read as formulas get a leading `'`
//! (`palera_core::contact::escape_formula`); the importer strips it again, so an exported file
//! imports back unchanged.

use crate::contacts::{value_text, Contact, ContactFilter};
use crate::{Result, Store};
use palera_core::contact::{escape_formula, PropertySchema};
use palera_core::ids::{ClientId, ContactId};
use std::collections::HashMap;

/// Contacts per chunk.
pub const EXPORT_CHUNK: i64 = 5000;

/// The columns of an export.
pub fn export_headers(schema: &PropertySchema) -> Vec<String> {
    let mut h: Vec<String> = [
        "phone",
        "first_name",
        "last_name",
        "email",
        "time_zone",
        "list",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    h.extend(schema.properties.iter().map(|p| p.name.clone()));
    h
}

fn write_row(w: &mut csv::Writer<Vec<u8>>, cells: &[String]) {
    let guarded: Vec<_> = cells.iter().map(|c| escape_formula(c)).collect();
    // Writing into a Vec cannot fail.
    let _ = w.write_record(guarded.iter().map(|c| c.as_bytes()));
}

/// The header line of an export.
pub fn export_header_bytes(schema: &PropertySchema) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    write_row(&mut w, &export_headers(schema));
    w.into_inner().unwrap_or_default()
}

fn cells(c: &Contact, lists: &HashMap<i64, String>, schema: &PropertySchema) -> Vec<String> {
    let mut row = vec![
        c.phone.to_string(),
        c.first_name.clone(),
        c.last_name.clone(),
        c.email.clone().unwrap_or_default(),
        c.time_zone.clone().unwrap_or_default(),
        c.list_id
            .and_then(|l| lists.get(&l.0).cloned())
            .unwrap_or_default(),
    ];
    row.extend(schema.properties.iter().map(|p| {
        c.properties
            .get(&p.name)
            .map(value_text)
            .unwrap_or_default()
    }));
    row
}

impl Store {
    /// One chunk of an export: the CSV lines of the contacts matching `filter` after `after`,
    /// and the id to continue after (`None` at the end).
    pub async fn export_chunk(
        &self,
        client: ClientId,
        filter: &ContactFilter,
        schema: &PropertySchema,
        after: Option<ContactId>,
    ) -> Result<(Vec<u8>, Option<ContactId>)> {
        let page = self
            .search_contacts(client, filter, after, EXPORT_CHUNK)
            .await?;
        let lists: HashMap<i64, String> = self
            .lists(client)
            .await?
            .into_iter()
            .map(|l| (l.id.0, l.name))
            .collect();
        let mut w = csv::Writer::from_writer(Vec::new());
        for c in &page {
            write_row(&mut w, &cells(c, &lists, schema));
        }
        let next = if (page.len() as i64) < EXPORT_CHUNK {
            None
        } else {
            page.last().map(|c| c.id)
        };
        Ok((w.into_inner().unwrap_or_default(), next))
    }

    /// A whole export written to `out` chunk by chunk (CLI, tests).
    pub async fn export_contacts<W: std::io::Write>(
        &self,
        client: ClientId,
        filter: &ContactFilter,
        out: &mut W,
    ) -> Result<u64> {
        let schema = self.property_schema(client).await?;
        let io = |e: std::io::Error| crate::StoreError::Database(sqlx::Error::Io(e));
        out.write_all(&export_header_bytes(&schema)).map_err(io)?;
        let mut after = None;
        let mut bytes = 0u64;
        loop {
            let (chunk, next) = self.export_chunk(client, filter, &schema, after).await?;
            bytes += chunk.len() as u64;
            out.write_all(&chunk).map_err(io)?;
            match next {
                Some(n) => after = Some(n),
                None => return Ok(bytes),
            }
        }
    }
}
