//! What a batch does, decided in memory: which rows are tried as new contacts first, and then,
//! once the database has said which of those it took, every row's bucket and the writes left
//! for the numbers it already held. Both backends' batch writers share these rules.
//!
//! A batch is classified insert-first: the first row of each number that could be new is
//! inserted with `ON CONFLICT DO NOTHING … RETURNING`, and only the numbers the database
//! refused (already stored, by anyone) are read back. On a fresh list almost every row is new,
//! so the index is searched once per row instead of twice.

use super::{ImportJob, ParsedRow};
use crate::contacts::{diff, Change, Contact};
use palera_core::contact::ContactData;
use palera_core::ids::{ContactId, ListId};
use palera_core::import::{classify, stores, Action, Bucket, BucketCounts, Existing, RowData};
use palera_core::import::{Rejection, RowWarning};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// A contact write of the batch: the full row to store.
pub(super) struct Write {
    pub data: ContactData,
    pub list: Option<ListId>,
}

/// What a batch will do once its new contacts are inserted.
pub(super) struct Plan {
    pub counts: BucketCounts,
    /// Existing contacts whose stored row changes, with the history of each.
    pub updates: Vec<(ContactId, Write, Vec<Change>)>,
    /// Existing contacts that only take this job's marker.
    pub marks: Vec<ContactId>,
    pub rejections: Vec<Rejection>,
    /// Optional fields of kept rows left empty because their value was not valid.
    pub warnings: Vec<RowWarning>,
    /// Rows classified as new whose number the insert refused and the read-back did not find
    /// (deleted by another transaction in between): the batch must be classified again.
    pub vanished: bool,
}

/// The distinct valid numbers of a batch, sorted (the order every batch locks them in).
pub(super) fn batch_phones(rows: &[ParsedRow]) -> Vec<String> {
    let mut phones: Vec<String> = rows
        .iter()
        .filter_map(|r| r.row.as_ref().ok().map(|d| d.phone.as_str().to_string()))
        .collect();
    phones.sort_unstable();
    phones.dedup();
    phones
}

/// The rows to try as new contacts: the first row of each number, unless the number is on the
/// DNC list and the job skips such numbers (then nothing of it is written). Sorted by number,
/// so concurrent batches take the unique index's keys in one order.
pub(super) fn insert_candidates(
    job: &ImportJob,
    rows: &[ParsedRow],
    dnc: &HashSet<String>,
) -> Vec<Write> {
    let mut seen: HashSet<&str> = HashSet::with_capacity(rows.len());
    let mut out: Vec<Write> = rows
        .iter()
        .filter_map(|r| Some((r.row.as_ref().ok()?, r.zone)))
        .filter(|(row, _)| seen.insert(row.phone.as_str()))
        .filter(|(row, _)| !(job.options.skip_dnc && dnc.contains(row.phone.as_str())))
        .map(|(row, zone)| Write {
            data: new_contact(row, zone),
            list: Some(job.list_id),
        })
        .collect();
    out.sort_by(|a, b| a.data.phone.cmp(&b.data.phone));
    out
}

/// The numbers of the batch that were not inserted: the ones to read back.
pub(super) fn not_inserted(phones: &[String], inserted: &HashSet<String>) -> Vec<String> {
    phones
        .iter()
        .filter(|p| !inserted.contains(p.as_str()))
        .cloned()
        .collect()
}

/// Where a number stands for the row being classified.
fn state_of(
    job: &ImportJob,
    phone: &str,
    stored: &HashSet<&str>,
    found: Option<&(Contact, Option<i64>)>,
) -> Existing {
    if stored.contains(phone) {
        return Existing::StoredByThisImport;
    }
    match found {
        None => Existing::None,
        Some((_, Some(j))) if *j == job.id => Existing::StoredByThisImport,
        Some((c, _)) => match c.list_id {
            None => Existing::InNoList,
            Some(l) if l == job.list_id => Existing::InTargetList,
            Some(_) => Existing::InOtherList,
        },
    }
}

/// Classifies every row of the batch in file order. `inserted` holds the numbers this batch
/// has just inserted (their first row is new), `existing` the stored contacts of the others.
pub(super) fn plan_batch(
    job: &ImportJob,
    rows: &[ParsedRow],
    dnc: &HashSet<String>,
    existing: &HashMap<String, (Contact, Option<i64>)>,
    inserted: &HashSet<String>,
) -> Plan {
    let mut plan = Plan {
        counts: BucketCounts::default(),
        updates: Vec::new(),
        marks: Vec::new(),
        rejections: Vec::new(),
        warnings: Vec::new(),
        vanished: false,
    };
    let mut stored: HashSet<&str> = HashSet::new();
    for r in rows {
        let row = match &r.row {
            Ok(row) => row,
            Err(reason) => {
                plan.counts.add(Bucket::Rejected);
                plan.rejections.push(Rejection {
                    line: r.line,
                    reason: reason.clone(),
                });
                continue;
            }
        };
        plan.warnings
            .extend(row.warnings.iter().map(|w| RowWarning {
                line: r.line,
                field: w.field.clone(),
                reason: w.reason.clone(),
            }));
        let phone = row.phone.as_str();
        let found = existing.get(phone);
        let state = state_of(job, phone, &stored, found);
        let (bucket, action) = classify(state, dnc.contains(phone), job.options);
        plan.counts.add(bucket);
        if stores(action) {
            stored.insert(phone);
        }
        match (action, found) {
            (Action::Insert, _) => plan.vanished |= !inserted.contains(phone),
            (Action::Update | Action::MoveIn, Some((c, _))) => {
                plan_update(&mut plan, job, c, row, action)
            }
            _ => {}
        }
    }
    plan
}

/// Adds the write of an existing contact: its merged row and history, or only the job's marker
/// when nothing changes.
fn plan_update(plan: &mut Plan, job: &ImportJob, c: &Contact, row: &RowData, action: Action) {
    let list = if action == Action::MoveIn {
        Some(job.list_id)
    } else {
        c.list_id
    };
    let data = merged(c, row);
    let mut changes = diff(c, &data);
    if list != c.list_id {
        changes.push(Change {
            field: "list".into(),
            old: c.list_id.map(|l| l.0.to_string()),
            new: list.map(|l| l.0.to_string()),
        });
    }
    if changes.is_empty() {
        plan.marks.push(c.id);
    } else {
        plan.updates.push((c.id, Write { data, list }, changes));
    }
}

/// The properties as the JSON text the `properties` column holds.
pub(super) fn props_json(props: &serde_json::Map<String, Value>) -> String {
    serde_json::to_string(props).unwrap_or_else(|_| "{}".into())
}

/// A new contact of the row; `zone` is the one its number determines.
fn new_contact(row: &RowData, zone: Option<chrono_tz::Tz>) -> ContactData {
    ContactData {
        phone: row.phone.clone(),
        first_name: row.first_name.clone().unwrap_or_default(),
        last_name: row.last_name.clone().unwrap_or_default(),
        email: row.email.clone(),
        time_zone: row.time_zone.or(zone),
        properties: row.properties.clone(),
    }
}

/// The stored contact with the row's values laid over it: cells the file left empty keep what
/// is stored, so an import never erases data.
fn merged(c: &Contact, row: &RowData) -> ContactData {
    let mut properties = c.properties.clone();
    for (k, v) in &row.properties {
        properties.insert(k.clone(), v.clone());
    }
    ContactData {
        phone: c.phone.clone(),
        first_name: row
            .first_name
            .clone()
            .unwrap_or_else(|| c.first_name.clone()),
        last_name: row.last_name.clone().unwrap_or_else(|| c.last_name.clone()),
        email: row.email.clone().or_else(|| {
            c.email
                .as_deref()
                .and_then(|e| palera_core::user::Email::parse("email", e).ok())
        }),
        time_zone: row
            .time_zone
            .or_else(|| c.time_zone.as_deref().and_then(|z| z.parse().ok())),
        properties,
    }
}
