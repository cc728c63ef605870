//! Contacts of a client, their custom-property schema and their history. A contact is identified
//! per client by its E.164 number (`UNIQUE(client_id, phone)`) and holds its list membership in
//! `list_id`, so it is in at most one list and a number appears once in a list. Every change to a
//! field or property and every list move is written to `contact_history` in the same transaction
//! as the change itself.

use crate::clients::Scope;
use crate::{is_unique_violation, Result, Store, StoreError};
use palera_core::contact::{ContactData, PropertyDef, PropertyKind, PropertySchema};
use palera_core::ids::{ClientId, ContactId, ListId, UserId};
use palera_core::phone::PhoneNumber;
use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

/// A stored contact.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Contact {
    pub id: ContactId,
    pub client_id: ClientId,
    #[schema(value_type = String)]
    pub phone: PhoneNumber,
    pub list_id: Option<ListId>,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    /// IANA zone name, when known.
    pub time_zone: Option<String>,
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a dialer needs of a contact: one row of [`Store::contacts_in_lists`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ContactRef {
    pub id: ContactId,
    #[schema(value_type = String)]
    pub phone: PhoneNumber,
    pub time_zone: Option<String>,
    pub list_id: ListId,
    pub first_name: String,
    pub last_name: String,
}

/// One recorded change of a contact: a field (`first_name`, …), a property (`properties.plan`)
/// or a list move (`list`, values are list ids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ContactChange {
    pub id: i64,
    pub contact_id: ContactId,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub user_id: Option<UserId>,
    /// Where the change came from: `user`, `api`, `import:<job id>`, `system`.
    pub source: String,
    pub at: i64,
}

/// Who makes a change, for the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user: Option<UserId>,
    pub source: String,
}

impl Actor {
    pub fn user(user: UserId, source: &str) -> Self {
        Self {
            user: Some(user),
            source: source.into(),
        }
    }
    pub fn system(source: &str) -> Self {
        Self {
            user: None,
            source: source.into(),
        }
    }
}

/// Which contacts of a client a query or a bulk move applies to. All set conditions must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactFilter {
    /// In this list.
    pub list: Option<ListId>,
    /// In no list.
    pub no_list: bool,
    /// Case-sensitive prefix of the phone (digits after `+` may be given), first name, last name
    /// or e-mail.
    pub search: Option<String>,
    /// Has this zone.
    pub time_zone: Option<String>,
    /// Property equals the given text (numbers and booleans compare as their JSON text).
    pub property: Option<(String, String)>,
}

/// The contacts a bulk operation applies to.
#[derive(Debug, Clone, PartialEq)]
pub enum ContactSelection {
    Ids(Vec<ContactId>),
    Filter(ContactFilter),
}

pub(crate) const CONTACT_COLUMNS: &str =
    "id, client_id, phone, list_id, first_name, last_name, email, time_zone, properties, created_at, updated_at";

pub(crate) fn contact_from_row(r: &AnyRow) -> Result<Contact> {
    let props: String = r.try_get("properties")?;
    Ok(Contact {
        id: ContactId(r.try_get("id")?),
        client_id: ClientId(r.try_get("client_id")?),
        phone: stored_phone(r)?,
        list_id: r.try_get::<Option<i64>, _>("list_id")?.map(ListId),
        first_name: r.try_get("first_name")?,
        last_name: r.try_get("last_name")?,
        email: r.try_get("email")?,
        time_zone: r.try_get("time_zone")?,
        properties: serde_json::from_str(&props).unwrap_or_default(),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn stored_phone(r: &AnyRow) -> Result<PhoneNumber> {
    let s: String = r.try_get("phone")?;
    PhoneNumber::parse_e164(&s).map_err(|e| StoreError::Database(sqlx::Error::Decode(e.into())))
}

/// Text of a JSON value for the history: strings as they are, the rest as JSON.
pub(crate) fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One pending history row.
pub(crate) struct Change {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// The field and property changes from `old` to `new` (list membership not included).
pub(crate) fn diff(old: &Contact, new: &ContactData) -> Vec<Change> {
    let mut out = Vec::new();
    let mut field = |name: &str, a: Option<&str>, b: Option<&str>| {
        if a != b {
            out.push(Change {
                field: name.into(),
                old: a.map(Into::into),
                new: b.map(Into::into),
            });
        }
    };
    let nonempty = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
    field(
        "first_name",
        nonempty(&old.first_name).as_deref(),
        nonempty(&new.first_name).as_deref(),
    );
    field(
        "last_name",
        nonempty(&old.last_name).as_deref(),
        nonempty(&new.last_name).as_deref(),
    );
    field(
        "email",
        old.email.as_deref(),
        new.email.as_ref().map(|e| e.as_str()),
    );
    field(
        "time_zone",
        old.time_zone.as_deref(),
        new.time_zone.map(|z| z.name()),
    );
    let mut keys: Vec<&String> = old.properties.keys().chain(new.properties.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let a = old.properties.get(k).map(value_text);
        let b = new.properties.get(k).map(value_text);
        if old.properties.get(k) != new.properties.get(k) {
            out.push(Change {
                field: format!("properties.{k}"),
                old: a,
                new: b,
            });
        }
    }
    out
}

pub(crate) async fn write_history(
    tx: &mut Transaction<'_, Any>,
    client: ClientId,
    contact: ContactId,
    changes: &[Change],
    actor: &Actor,
    now_ms: i64,
) -> Result<()> {
    for c in changes {
        sqlx::query("INSERT INTO contact_history (client_id, contact_id, field, old_value, new_value, user_id, source, at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)")
            .bind(client.0)
            .bind(contact.0)
            .bind(&c.field)
            .bind(c.old.clone())
            .bind(c.new.clone())
            .bind(actor.user.map(|u| u.0))
            .bind(&actor.source)
            .bind(now_ms)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

fn phone_conflict(e: sqlx::Error) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::conflict(
            "phone",
            "this client already has a contact with this number",
        )
    } else {
        e.into()
    }
}

/// A WHERE clause over `contacts` for a filter, with its text and integer binds in order.
pub(crate) struct Where {
    pub sql: String,
    pub binds: Vec<Bind>,
}

#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Int(i64),
    Text(String),
}

impl Where {
    fn push(&mut self, cond: &str, b: Bind) {
        self.binds.push(b);
        let n = self.binds.len();
        self.sql.push_str(" AND ");
        self.sql.push_str(&cond.replace("$?", &format!("${n}")));
    }

    /// `client_id = $1` and the filter's conditions.
    pub fn for_filter(client: ClientId, f: &ContactFilter) -> Self {
        let mut w = Where {
            sql: "client_id = $1".into(),
            binds: vec![Bind::Int(client.0)],
        };
        if let Some(l) = f.list {
            w.push("list_id = $?", Bind::Int(l.0));
        }
        if f.no_list {
            w.sql.push_str(" AND list_id IS NULL");
        }
        if let Some(s) = f.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            let phone = if s.starts_with('+') {
                s.to_string()
            } else {
                format!("+{s}")
            };
            w.binds
                .push(Bind::Text(format!("{}%", like_escape(&phone))));
            let a = w.binds.len();
            w.binds
                .push(Bind::Text(format!("{}%", like_escape(&s.to_lowercase()))));
            let b = w.binds.len();
            // lower() on both sides: SQLite's LIKE ignores ASCII case and PostgreSQL's does not.
            w.sql.push_str(&format!(
                " AND (phone LIKE ${a} ESCAPE '\\' OR lower(first_name) LIKE ${b} ESCAPE '\\' \
                 OR lower(last_name) LIKE ${b} ESCAPE '\\' OR email LIKE ${b} ESCAPE '\\')"
            ));
        }
        if let Some(z) = &f.time_zone {
            w.push("time_zone = $?", Bind::Text(z.clone()));
        }
        if let Some((name, value)) = &f.property {
            // Properties are a JSON object written by serde_json (no spaces): match the key and
            // value as they appear there, which both backends can do without JSON functions.
            let key = like_escape(&serde_json::to_string(name).unwrap_or_default());
            let text = like_escape(&serde_json::to_string(value).unwrap_or_default());
            let raw = like_escape(value);
            let first = w.binds.len() + 1;
            for p in [
                format!("%{key}:{text}%"),
                format!("%{key}:{raw},%"),
                format!("%{key}:{raw}}}%"),
            ] {
                w.binds.push(Bind::Text(p));
            }
            w.sql.push_str(&format!(
                " AND (properties LIKE ${first} ESCAPE '\\' OR properties LIKE ${} ESCAPE '\\' OR properties LIKE ${} ESCAPE '\\')",
                first + 1,
                first + 2
            ));
        }
        w
    }
}

/// Escapes `%`, `_` and `\\` for a LIKE pattern with `ESCAPE '\\'`.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(crate) fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    for b in binds {
        q = match b {
            Bind::Int(i) => q.bind(*i),
            Bind::Text(t) => q.bind(t.as_str()),
        };
    }
    q
}

impl Store {
    /// The client's property schema in display order.
    pub async fn property_schema(&self, client: ClientId) -> Result<PropertySchema> {
        let rows = sqlx::query("SELECT name, label, kind, choices, required FROM property_definitions WHERE client_id = $1 ORDER BY position, id")
            .bind(client.0)
            .fetch_all(self.pool())
            .await?;
        let properties = rows
            .iter()
            .map(|r| {
                let kind: String = r.try_get("kind")?;
                let choices: String = r.try_get("choices")?;
                Ok(PropertyDef {
                    name: r.try_get("name")?,
                    label: r.try_get("label")?,
                    kind: PropertyKind::parse("kind", &kind)
                        .map_err(|e| StoreError::Database(sqlx::Error::Decode(e.into())))?,
                    choices: serde_json::from_str(&choices).unwrap_or_default(),
                    required: crate::flag(r, "required")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(PropertySchema { properties })
    }

    /// Adds a property to the client's schema, or replaces the definition of the same name.
    pub async fn define_property(
        &self,
        client: ClientId,
        def: &PropertyDef,
        now_ms: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO property_definitions (client_id, name, label, kind, choices, required, position, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, (SELECT COALESCE(MAX(position), 0) + 1 FROM property_definitions WHERE client_id = $7), $8) \
             ON CONFLICT (client_id, name) DO UPDATE SET label = excluded.label, kind = excluded.kind, choices = excluded.choices, required = excluded.required",
        )
        .bind(client.0)
        .bind(&def.name)
        .bind(&def.label)
        .bind(def.kind.as_str())
        .bind(serde_json::to_string(&def.choices).unwrap_or_else(|_| "[]".into()))
        .bind(def.required)
        .bind(client.0)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Removes a property from the schema (stored values stay in the contacts' JSON).
    pub async fn delete_property(&self, client: ClientId, name: &str) -> Result<()> {
        let done =
            sqlx::query("DELETE FROM property_definitions WHERE client_id = $1 AND name = $2")
                .bind(client.0)
                .bind(name)
                .execute(self.pool())
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Creates a contact, optionally in a list of the same client (another client's list is
    /// `NotFound`). A number the client already has is `Conflict` on `phone`.
    #[tracing::instrument(skip(self, data), fields(phone = %data.phone))]
    pub async fn create_contact(
        &self,
        client: ClientId,
        list: Option<ListId>,
        data: &ContactData,
        actor: &Actor,
        now_ms: i64,
    ) -> Result<Contact> {
        let mut tx = self.write_tx().await?;
        let r = sqlx::query(&format!(
            "INSERT INTO contacts (client_id, phone, list_id, first_name, last_name, email, time_zone, properties, created_at, updated_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING {CONTACT_COLUMNS}"
        ))
        .bind(client.0)
        .bind(data.phone.as_str())
        .bind(list.map(|l| l.0))
        .bind(&data.first_name)
        .bind(&data.last_name)
        .bind(data.email.as_ref().map(|e| e.as_str().to_string()))
        .bind(data.time_zone.map(|z| z.name().to_string()))
        .bind(Value::Object(data.properties.clone()).to_string())
        .bind(now_ms)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await
        .map_err(phone_conflict)?;
        let contact = contact_from_row(&r)?;
        if let Some(l) = list {
            check_list_of_client(&mut tx, client, l).await?;
            let change = Change {
                field: "list".into(),
                old: None,
                new: Some(l.0.to_string()),
            };
            write_history(&mut tx, client, contact.id, &[change], actor, now_ms).await?;
        }
        tx.commit().await?;
        Ok(contact)
    }

    /// One contact of the client; another client's contact is `NotFound`.
    pub async fn contact(&self, client: ClientId, id: ContactId) -> Result<Contact> {
        let r = sqlx::query(&format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = $1 AND client_id = $2"
        ))
        .bind(id.0)
        .bind(client.0)
        .fetch_one(self.pool())
        .await?;
        contact_from_row(&r)
    }

    /// A contact of one of the clients `scope` allows, for routes that name a contact but no
    /// client (the caller's scope is the filter); any other contact is `NotFound`, as an
    /// unknown id is.
    pub async fn contact_in(&self, scope: &Scope, id: ContactId) -> Result<Contact> {
        let r = sqlx::query(&format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = $1{}",
            scope.sql("client_id")
        ))
        .bind(id.0)
        .fetch_one(self.pool())
        .await?;
        contact_from_row(&r)
    }

    /// The client's contact with this number, if any (inbound calls, imports).
    pub async fn contact_by_phone(
        &self,
        client: ClientId,
        phone: &PhoneNumber,
    ) -> Result<Option<Contact>> {
        let r = sqlx::query(&format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts WHERE client_id = $1 AND phone = $2"
        ))
        .bind(client.0)
        .bind(phone.as_str())
        .fetch_optional(self.pool())
        .await?;
        r.as_ref().map(contact_from_row).transpose()
    }

    /// Replaces a contact's fields and properties (not its number or list), recording every
    /// change in the history. Returns the stored contact.
    #[tracing::instrument(skip(self, data))]
    pub async fn update_contact(
        &self,
        client: ClientId,
        id: ContactId,
        data: &ContactData,
        actor: &Actor,
        now_ms: i64,
    ) -> Result<Contact> {
        let mut tx = self.write_tx().await?;
        // Touch the row first so this transaction holds the write lock before reading.
        let done = sqlx::query(
            "UPDATE contacts SET updated_at = updated_at WHERE id = $1 AND client_id = $2",
        )
        .bind(id.0)
        .bind(client.0)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let r = sqlx::query(&format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = $1 AND client_id = $2"
        ))
        .bind(id.0)
        .bind(client.0)
        .fetch_one(&mut *tx)
        .await?;
        let old = contact_from_row(&r)?;
        let changes = diff(&old, data);
        if !changes.is_empty() {
            sqlx::query("UPDATE contacts SET first_name=$1, last_name=$2, email=$3, time_zone=$4, properties=$5, updated_at=$6 WHERE id=$7")
                .bind(&data.first_name)
                .bind(&data.last_name)
                .bind(data.email.as_ref().map(|e| e.as_str().to_string()))
                .bind(data.time_zone.map(|z| z.name().to_string()))
                .bind(Value::Object(data.properties.clone()).to_string())
                .bind(now_ms)
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            write_history(&mut tx, client, id, &changes, actor, now_ms).await?;
        }
        tx.commit().await?;
        self.contact(client, id).await
    }

    /// Deletes a contact of the client (its history goes with it).
    pub async fn delete_contact(&self, client: ClientId, id: ContactId) -> Result<()> {
        let done = sqlx::query("DELETE FROM contacts WHERE id = $1 AND client_id = $2")
            .bind(id.0)
            .bind(client.0)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// An id-ordered page of the contacts in any of `lists` (of this client), after `after`.
    /// Lists of other clients contribute nothing. The dialer walks a campaign's lists with it.
    pub async fn contacts_in_lists(
        &self,
        client: ClientId,
        lists: &[ListId],
        after: Option<ContactId>,
        limit: i64,
    ) -> Result<Vec<ContactRef>> {
        if lists.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = lists.iter().map(|l| l.0.to_string()).collect();
        // List ids are integers from a newtype, so inlining them is safe and keeps one statement.
        let rows = sqlx::query(&format!(
            "SELECT id, phone, time_zone, list_id, first_name, last_name FROM contacts \
             WHERE client_id = $1 AND list_id IN ({}) AND id > $2 ORDER BY id LIMIT $3",
            ids.join(",")
        ))
        .bind(client.0)
        .bind(after.map_or(0, |a| a.0))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ContactRef {
                    id: ContactId(r.try_get("id")?),
                    phone: stored_phone(r)?,
                    time_zone: r.try_get("time_zone")?,
                    list_id: ListId(r.try_get("list_id")?),
                    first_name: r.try_get("first_name")?,
                    last_name: r.try_get("last_name")?,
                })
            })
            .collect()
    }

    /// An id-ordered page of the client's contacts matching `filter`, after `after`.
    pub async fn search_contacts(
        &self,
        client: ClientId,
        filter: &ContactFilter,
        after: Option<ContactId>,
        limit: i64,
    ) -> Result<Vec<Contact>> {
        let mut w = Where::for_filter(client, filter);
        w.push("id > $?", Bind::Int(after.map_or(0, |a| a.0)));
        let sql = format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts WHERE {} ORDER BY id LIMIT {}",
            w.sql,
            limit.clamp(1, 10_000)
        );
        let rows = bind_all(sqlx::query(&sql), &w.binds)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(contact_from_row).collect()
    }

    /// How many of the client's contacts match `filter`.
    pub async fn count_contacts(&self, client: ClientId, filter: &ContactFilter) -> Result<i64> {
        let w = Where::for_filter(client, filter);
        let sql = format!("SELECT COUNT(*) AS n FROM contacts WHERE {}", w.sql);
        let r = bind_all(sqlx::query(&sql), &w.binds)
            .fetch_one(self.pool())
            .await?;
        Ok(r.try_get("n")?)
    }

    /// Moves the selected contacts of the client into list `to` (or out of every list with
    /// `None`), removing them from their old list and recording each move. Contacts already
    /// there are left alone. Returns how many moved. `to` must be a list of the client.
    #[tracing::instrument(skip(self, selection))]
    pub async fn move_contacts(
        &self,
        client: ClientId,
        selection: &ContactSelection,
        to: Option<ListId>,
        actor: &Actor,
        now_ms: i64,
    ) -> Result<u64> {
        let mut w = match selection {
            ContactSelection::Filter(f) => Where::for_filter(client, f),
            ContactSelection::Ids(ids) => {
                if ids.is_empty() {
                    return Ok(0);
                }
                let list: Vec<String> = ids.iter().map(|i| i.0.to_string()).collect();
                Where {
                    sql: format!("client_id = $1 AND id IN ({})", list.join(",")),
                    binds: vec![Bind::Int(client.0)],
                }
            }
        };
        match to {
            Some(l) => w.push("(list_id IS NULL OR list_id <> $?)", Bind::Int(l.0)),
            None => w.sql.push_str(" AND list_id IS NOT NULL"),
        }
        let mut tx = self.write_tx().await?;
        if let Some(l) = to {
            // A write first, so SQLite takes the write lock before anything is read.
            let done = sqlx::query(
                "UPDATE lists SET position = position WHERE id = $1 AND client_id = $2",
            )
            .bind(l.0)
            .bind(client.0)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
        }
        let n = w.binds.len();
        let (to_sql, to_text) = match to {
            Some(l) => (format!("${}", n + 1), Some(l.0.to_string())),
            None => ("NULL".to_string(), None),
        };
        let history = format!(
            "INSERT INTO contact_history (client_id, contact_id, field, old_value, new_value, user_id, source, at) \
             SELECT client_id, id, 'list', CAST(list_id AS TEXT), {to_sql}, ${}, ${}, ${} FROM contacts WHERE {}",
            n + 2,
            n + 3,
            n + 4,
            w.sql
        );
        bind_all(sqlx::query(&history), &w.binds)
            .bind(to_text.clone())
            .bind(actor.user.map(|u| u.0))
            .bind(&actor.source)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        let update = format!(
            "UPDATE contacts SET list_id = ${}, updated_at = ${} WHERE {}",
            n + 1,
            n + 2,
            w.sql
        );
        let done = bind_all(sqlx::query(&update), &w.binds)
            .bind(to.map(|l| l.0))
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// The contact's recorded changes, oldest first.
    pub async fn contact_history(
        &self,
        client: ClientId,
        contact: ContactId,
    ) -> Result<Vec<ContactChange>> {
        let rows = sqlx::query("SELECT id, contact_id, field, old_value, new_value, user_id, source, at FROM contact_history WHERE client_id = $1 AND contact_id = $2 ORDER BY id")
            .bind(client.0)
            .bind(contact.0)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ContactChange {
                    id: r.try_get("id")?,
                    contact_id: ContactId(r.try_get("contact_id")?),
                    field: r.try_get("field")?,
                    old_value: r.try_get("old_value")?,
                    new_value: r.try_get("new_value")?,
                    user_id: r.try_get::<Option<i64>, _>("user_id")?.map(UserId),
                    source: r.try_get("source")?,
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }
}

/// `NotFound` unless `list` belongs to `client`.
pub(crate) async fn check_list_of_client(
    tx: &mut Transaction<'_, Any>,
    client: ClientId,
    list: ListId,
) -> Result<()> {
    sqlx::query("SELECT id FROM lists WHERE id = $1 AND client_id = $2")
        .bind(list.0)
        .bind(client.0)
        .fetch_one(&mut **tx)
        .await?;
    Ok(())
}
