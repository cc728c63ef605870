//! Clients (tenants), their Twilio settings and phone numbers. Secrets are sealed on the way in and
//! only leave this module through [`Store::client_credentials`], which the carrier layer uses; every
//! other read shows a [`SecretStatus`] (set or not, last four characters).

use crate::{is_unique_violation, Result, Store, StoreError};
use palera_core::ids::{ClientId, NumberId};
use palera_core::phone::PhoneNumber;
use palera_core::tenant::ClientSettings;
use serde::Serialize;
use sqlx::Row;

/// Whether a secret is stored, and its last four characters (what pages and the API may show).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SecretStatus {
    pub set: bool,
    pub last4: Option<String>,
}

/// A client as shown to users: no secret values.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    pub time_zone: String,
    pub default_country: String,
    pub account_sid: Option<String>,
    pub auth_token: SecretStatus,
    pub api_key_sid: Option<String>,
    pub api_key_secret: SecretStatus,
    pub twiml_app_sid: Option<String>,
    pub voice_enabled: bool,
    pub calls_per_second: f64,
    pub created_at: i64,
}

/// A phone number of a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ClientNumber {
    pub id: NumberId,
    pub client_id: ClientId,
    pub number: String,
    pub label: String,
}

/// Secret settings as given by an admin. `None` keeps what is stored; `Some("")` clears it.
#[derive(Debug, Clone, Default)]
pub struct SecretInput {
    pub auth_token: Option<String>,
    pub api_key_secret: Option<String>,
}

/// Decrypted Twilio credentials, for the carrier layer only. `Debug` hides the secrets.
#[derive(Clone)]
pub struct ClientCredentials {
    pub account_sid: Option<String>,
    pub auth_token: Option<String>,
    pub api_key_sid: Option<String>,
    pub api_key_secret: Option<String>,
    pub twiml_app_sid: Option<String>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("account_sid", &self.account_sid)
            .field("api_key_sid", &self.api_key_sid)
            .finish_non_exhaustive()
    }
}

/// Which clients a query may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Only(Vec<ClientId>),
}

impl Scope {
    pub fn allows(&self, client: ClientId) -> bool {
        match self {
            Scope::All => true,
            Scope::Only(ids) => ids.contains(&client),
        }
    }

    /// ` AND {column} IN (…)`: the condition that keeps a query to the clients this scope
    /// allows (nothing for [`Scope::All`]; a scope of no client allows no row).
    pub(crate) fn sql(&self, column: &str) -> String {
        match self {
            Scope::All => String::new(),
            Scope::Only(ids) if ids.is_empty() => " AND 1 = 0".into(),
            // Client ids are integers from a newtype, so inlining them is safe.
            Scope::Only(ids) => format!(
                " AND {column} IN ({})",
                ids.iter()
                    .map(|c| c.0.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }
}

const CLIENT_COLUMNS: &str = "id, name, time_zone, default_country, account_sid, auth_token_enc, auth_token_last4, api_key_sid, api_key_secret_enc, api_key_secret_last4, twiml_app_sid, voice_enabled, calls_per_second, created_at";

fn client_from_row(r: &sqlx::any::AnyRow) -> Result<Client> {
    let status = |enc: &str, last: &str| -> Result<SecretStatus> {
        let enc: Option<String> = r.try_get(enc)?;
        Ok(SecretStatus {
            set: enc.is_some(),
            last4: r.try_get(last)?,
        })
    };
    Ok(Client {
        id: ClientId(r.try_get("id")?),
        name: r.try_get("name")?,
        time_zone: r.try_get("time_zone")?,
        default_country: r.try_get("default_country")?,
        account_sid: r.try_get("account_sid")?,
        auth_token: status("auth_token_enc", "auth_token_last4")?,
        api_key_sid: r.try_get("api_key_sid")?,
        api_key_secret: status("api_key_secret_enc", "api_key_secret_last4")?,
        twiml_app_sid: r.try_get("twiml_app_sid")?,
        voice_enabled: crate::flag(r, "voice_enabled")?,
        calls_per_second: r.try_get("calls_per_second")?,
        created_at: r.try_get("created_at")?,
    })
}

fn last4(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

fn number_conflict(e: sqlx::Error, field: &str) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::conflict(field, "this number already belongs to a client")
    } else {
        e.into()
    }
}

impl Store {
    /// Seals one optional secret into (ciphertext, last4) columns; `""` clears.
    fn seal_opt(&self, v: &str) -> (Option<String>, Option<String>) {
        if v.is_empty() {
            (None, None)
        } else {
            (Some(self.secrets().seal(v)), Some(last4(v)))
        }
    }

    /// Creates a client with its numbers in one transaction: on any error nothing is stored.
    pub async fn create_client(
        &self,
        settings: &ClientSettings,
        secrets: &SecretInput,
        numbers: &[PhoneNumber],
        now_ms: i64,
    ) -> Result<Client> {
        let mut tx = self.write_tx().await?;
        let (tok, tok4) = self.seal_opt(secrets.auth_token.as_deref().unwrap_or(""));
        let (key, key4) = self.seal_opt(secrets.api_key_secret.as_deref().unwrap_or(""));
        let row = sqlx::query(&format!(
            "INSERT INTO clients (name, time_zone, default_country, account_sid, auth_token_enc, auth_token_last4, api_key_sid, api_key_secret_enc, api_key_secret_last4, twiml_app_sid, voice_enabled, calls_per_second, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) RETURNING {CLIENT_COLUMNS}"
        ))
        .bind(&settings.name)
        .bind(settings.time_zone.name())
        .bind(&settings.default_country)
        .bind(settings.account_sid.as_ref().map(|s| s.as_str().to_string()))
        .bind(tok)
        .bind(tok4)
        .bind(settings.api_key_sid.clone())
        .bind(key)
        .bind(key4)
        .bind(settings.twiml_app_sid.clone())
        .bind(settings.voice_enabled)
        .bind(settings.calls_per_second)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await?;
        let client = client_from_row(&row)?;
        for (i, n) in numbers.iter().enumerate() {
            sqlx::query("INSERT INTO phone_numbers (client_id, number, label, created_at) VALUES ($1, $2, '', $3)")
                .bind(client.id.0)
                .bind(n.as_str())
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .map_err(|e| number_conflict(e, &format!("numbers[{i}]")))?;
        }
        let defaults = crate::campaigns::default_client_dispositions();
        crate::campaigns::insert_client_dispositions(&mut tx, client.id, &defaults).await?;
        tx.commit().await?;
        Ok(client)
    }

    /// Replaces a client's settings; secrets follow [`SecretInput`]'s keep/clear rules.
    pub async fn update_client(
        &self,
        id: ClientId,
        settings: &ClientSettings,
        secrets: &SecretInput,
    ) -> Result<Client> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE clients SET name=$1, time_zone=$2, default_country=$3, account_sid=$4, api_key_sid=$5, twiml_app_sid=$6, voice_enabled=$7, calls_per_second=$8 WHERE id=$9")
            .bind(&settings.name)
            .bind(settings.time_zone.name())
            .bind(&settings.default_country)
            .bind(settings.account_sid.as_ref().map(|s| s.as_str().to_string()))
            .bind(settings.api_key_sid.clone())
            .bind(settings.twiml_app_sid.clone())
            .bind(settings.voice_enabled)
            .bind(settings.calls_per_second)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        for (value, enc, last) in [
            (&secrets.auth_token, "auth_token_enc", "auth_token_last4"),
            (
                &secrets.api_key_secret,
                "api_key_secret_enc",
                "api_key_secret_last4",
            ),
        ] {
            if let Some(v) = value {
                let (sealed, l4) = self.seal_opt(v.trim());
                sqlx::query(&format!(
                    "UPDATE clients SET {enc}=$1, {last}=$2 WHERE id=$3"
                ))
                .bind(sealed)
                .bind(l4)
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        self.client(id).await
    }

    pub async fn client(&self, id: ClientId) -> Result<Client> {
        let row = sqlx::query(&format!(
            "SELECT {CLIENT_COLUMNS} FROM clients WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_one(self.pool())
        .await?;
        client_from_row(&row)
    }

    /// The clients `scope` may see, by name.
    pub async fn clients(&self, scope: &Scope) -> Result<Vec<Client>> {
        let rows = sqlx::query(&format!(
            "SELECT {CLIENT_COLUMNS} FROM clients ORDER BY name, id"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(client_from_row)
            .filter(|c| c.as_ref().map_or(true, |c| scope.allows(c.id)))
            .collect()
    }

    /// Decrypts a client's Twilio credentials for the carrier layer.
    pub async fn client_credentials(&self, id: ClientId) -> Result<ClientCredentials> {
        let r = sqlx::query("SELECT account_sid, auth_token_enc, api_key_sid, api_key_secret_enc, twiml_app_sid FROM clients WHERE id = $1")
            .bind(id.0)
            .fetch_one(self.pool())
            .await?;
        let open = |col: &str| -> Result<Option<String>> {
            let v: Option<String> = r.try_get(col)?;
            v.map(|s| self.secrets().open(&s).map_err(StoreError::Crypto))
                .transpose()
        };
        Ok(ClientCredentials {
            account_sid: r.try_get("account_sid")?,
            auth_token: open("auth_token_enc")?,
            api_key_sid: r.try_get("api_key_sid")?,
            api_key_secret: open("api_key_secret_enc")?,
            twiml_app_sid: r.try_get("twiml_app_sid")?,
        })
    }

    pub async fn add_number(
        &self,
        client: ClientId,
        number: &PhoneNumber,
        label: &str,
        now_ms: i64,
    ) -> Result<ClientNumber> {
        let r = sqlx::query("INSERT INTO phone_numbers (client_id, number, label, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
            .bind(client.0)
            .bind(number.as_str())
            .bind(label.trim())
            .bind(now_ms)
            .fetch_one(self.pool())
            .await
            .map_err(|e| number_conflict(e, "number"))?;
        Ok(ClientNumber {
            id: NumberId(r.try_get("id")?),
            client_id: client,
            number: number.to_string(),
            label: label.trim().to_string(),
        })
    }

    pub async fn numbers(&self, client: ClientId) -> Result<Vec<ClientNumber>> {
        let rows = sqlx::query(
            "SELECT id, number, label FROM phone_numbers WHERE client_id = $1 ORDER BY number",
        )
        .bind(client.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ClientNumber {
                    id: NumberId(r.try_get("id")?),
                    client_id: client,
                    number: r.try_get("number")?,
                    label: r.try_get("label")?,
                })
            })
            .collect()
    }

    /// Removes a number of `client`; a number of another client is `NotFound`.
    pub async fn remove_number(&self, client: ClientId, id: NumberId) -> Result<()> {
        let done = sqlx::query("DELETE FROM phone_numbers WHERE id = $1 AND client_id = $2")
            .bind(id.0)
            .bind(client.0)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The client a number belongs to (inbound routing, webhooks).
    pub async fn client_of_number(&self, number: &PhoneNumber) -> Result<ClientId> {
        let r = sqlx::query("SELECT client_id FROM phone_numbers WHERE number = $1")
            .bind(number.as_str())
            .fetch_one(self.pool())
            .await?;
        Ok(ClientId(r.try_get("client_id")?))
    }
}
