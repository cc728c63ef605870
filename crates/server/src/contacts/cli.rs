//! The contact subcommands of the command line: `import-contacts` (prints the DESIGN §4 JSON
//! summary) and `export-contacts` (CSV to standard output or a file). Thin shells over the
//! store's import runner and export.

use crate::cli::Exit;
use palera_core::ids::ClientId;
use palera_core::import::ImportOptions;
use palera_store::contacts::ContactFilter;
use palera_store::lists::list_name;
use palera_store::{Store, StoreError};
use std::path::Path;

fn invalid(message: String) -> anyhow::Error {
    Exit { status: 2, message }.into()
}

async fn client_list(
    store: &Store,
    client: ClientId,
    list: &str,
    now: i64,
) -> anyhow::Result<palera_core::ids::ListId> {
    store.client(client).await.map_err(|e| match e {
        StoreError::NotFound => invalid(format!("client: no client with id {client}")),
        other => other.into(),
    })?;
    let name = list_name("list", list).map_err(|e| invalid(e.to_string()))?;
    Ok(match store.list_by_name(client, &name).await {
        Ok(l) => l.id,
        Err(StoreError::NotFound) => store.create_list(client, &name, now).await?.id,
        Err(e) => return Err(e.into()),
    })
}

/// Imports `file` into list `list` (created when missing) of `client`, or resumes job `resume`,
/// and prints the summary.
pub async fn import(
    store: &Store,
    client: ClientId,
    list: &str,
    file: &Path,
    options: ImportOptions,
    resume: Option<i64>,
) -> anyhow::Result<()> {
    let now = || chrono::Utc::now().timestamp_millis();
    let f = std::fs::File::open(file)
        .map_err(|e| invalid(format!("file: cannot open {}: {e}", file.display())))?;
    let job = match resume {
        Some(id) => store.import_job(client, id).await.map_err(|e| match e {
            StoreError::NotFound => {
                invalid(format!("resume: no import job {id} of client {client}"))
            }
            other => other.into(),
        })?,
        None => {
            let list = client_list(store, client, list, now()).await?;
            let size = f.metadata().map(|m| m.len() as i64).unwrap_or(0);
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            store
                .create_import_job(client, list, &name, size, options, &[], None, now())
                .await?
        }
    };
    let summary = palera_store::import::run_import(store, &job, f, now)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "import job {} stopped: {e}; resume with --resume {}",
                job.id,
                job.id
            )
        })?;
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

/// Writes the contacts of `list` (or all of the client's) as CSV to `out` or standard output.
pub async fn export(
    store: &Store,
    client: ClientId,
    list: Option<&str>,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    store.client(client).await.map_err(|e| match e {
        StoreError::NotFound => invalid(format!("client: no client with id {client}")),
        other => other.into(),
    })?;
    let mut filter = ContactFilter::default();
    if let Some(name) = list {
        let l = store
            .list_by_name(client, name)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => invalid(format!("list: no list named {name:?}")),
                other => other.into(),
            })?;
        filter.list = Some(l.id);
    }
    match out {
        Some(path) => {
            let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
            store.export_contacts(client, &filter, &mut f).await?;
            std::io::Write::flush(&mut f)?;
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            store.export_contacts(client, &filter, &mut stdout).await?;
        }
    }
    Ok(())
}
