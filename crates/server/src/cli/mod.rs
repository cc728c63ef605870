//! The `palera-voice` command line (DESIGN §4). Each subcommand is a thin shell over the library;
//! commands that create things print one JSON object so scripts can read the new id.

pub mod demo;

use crate::config::{LogFormat, Settings};
use clap::{Parser, Subcommand};
use palera_core::ids::ClientId;
use palera_core::tenant::ClientFields;
use palera_core::user::Role;
use palera_store::clients::SecretInput;
use palera_store::{SecretBox, Store};
use std::io::Read;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "palera-voice",
    version,
    about = "Contact-center voice: campaigns, routing, scripts, recordings."
)]
pub struct Cli {
    /// Settings file (TOML); `PALERA_*` environment variables override it.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a complete demo: embedded SQLite, simulated carrier, seeded data.
    Demo {
        #[arg(long, default_value_t = 8080)]
        port: u16,
        #[arg(long, default_value = "palera-data")]
        data: PathBuf,
        /// A database to use instead of the data folder's SQLite file (`postgres://…` to run
        /// the demo on PostgreSQL); the folder still keeps the secret key.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Run the production server.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage clients.
    Client {
        #[command(subcommand)]
        action: ClientAction,
    },
    /// Run the campaign engine against the simulated carrier on a virtual clock and print metrics.
    Simulate {
        /// The scenario file (TOML; see the scenarios README).
        #[arg(long)]
        scenario: PathBuf,
        /// Print one JSON object instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Import contacts from a CSV file into a list (created when missing); prints one JSON summary.
    ImportContacts {
        #[arg(long)]
        client: i64,
        #[arg(long)]
        list: String,
        /// Leave contacts found in another list where they are (default: move them here).
        #[arg(long)]
        keep_in_other_lists: bool,
        /// Skip numbers on the client's DNC list (default: import them, counted as on_dnc).
        #[arg(long)]
        skip_dnc: bool,
        /// Resume a stopped import job over the same file.
        #[arg(long)]
        resume: Option<i64>,
        file: PathBuf,
    },
    /// Export contacts (a list, or all of a client's) as CSV.
    ExportContacts {
        #[arg(long)]
        client: i64,
        #[arg(long)]
        list: Option<String>,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ClientAction {
    /// Add a client; prints {"id": N}.
    Add(ClientAdd),
}

#[derive(clap::Args, Debug)]
pub struct ClientAdd {
    #[arg(long)]
    pub name: String,
    #[arg(long)]
    pub account_sid: Option<String>,
    #[arg(long)]
    pub auth_token: Option<String>,
    #[arg(long = "number")]
    pub numbers: Vec<String>,
    #[arg(long)]
    pub time_zone: Option<String>,
    #[arg(long)]
    pub country: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum UserAction {
    /// Add a user; the password is read from standard input; prints {"id": N}.
    Add(UserAdd),
}

#[derive(clap::Args, Debug)]
pub struct UserAdd {
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub role: String,
    #[arg(long = "client")]
    pub clients: Vec<i64>,
    #[arg(long, default_value = "")]
    pub name: String,
    /// The user takes no calls.
    #[arg(long)]
    pub no_voice: bool,
}

/// Sets up logging from the settings (JSON lines when `log_format = "json"`).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let url = settings
        .database_url
        .clone()
        .ok_or_else(|| anyhow::anyhow!("setting PALERA_DATABASE_URL is required"))?;
    let key = settings.secret_key.as_deref().ok_or_else(|| {
        anyhow::anyhow!("setting PALERA_SECRET_KEY is required (base64 of 32 random bytes)")
    })?;
    let store = Store::connect(&url, SecretBox::from_base64(key)?).await?;
    store.migrate().await?;
    Ok(store)
}

/// An error that ends the program with a given exit status (2: invalid input).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    pub status: u8,
    pub message: String,
}

fn simulate(path: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).map_err(|e| Exit {
        status: 2,
        message: format!("cannot read scenario {}: {e}", path.display()),
    })?;
    let report = palera_carrier::sim::run(&text).map_err(|e| Exit {
        status: 2,
        message: format!("invalid scenario: {}: {}", e.field(), e.reason()),
    })?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let v = serde_json::to_value(&report)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(())
}

/// Runs a parsed command line. Errors are printed by `main` and exit with status 1 (or the
/// status of an [`Exit`]).
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Simulate { scenario, json } = &cli.command {
        // Pure computation on a virtual clock: no settings, database or logging needed.
        return simulate(scenario, *json);
    }
    let settings = Settings::load(cli.config.as_deref())?;
    init_logging(settings.log_format);
    let now = chrono::Utc::now().timestamp_millis();
    match cli.command {
        Command::Simulate { .. } => unreachable!("handled above"),
        Command::Demo {
            port,
            data,
            database_url,
        } => crate::cli::demo::run(port, data, database_url).await,
        Command::Serve => {
            settings.require_for_serve()?;
            let listener = tokio::net::TcpListener::bind(&settings.listen).await?;
            crate::app::run(settings, listener, crate::app::shutdown_signal()).await
        }
        Command::Migrate => {
            let store = open_store(&settings).await?;
            println!(
                "{}",
                serde_json::json!({ "migrated": true, "backend": format!("{:?}", store.backend()).to_lowercase() })
            );
            Ok(())
        }
        Command::Client {
            action: ClientAction::Add(add),
        } => add_client(&open_store(&settings).await?, add, now).await,
        Command::User {
            action: UserAction::Add(add),
        } => add_user(&open_store(&settings).await?, add, now).await,
        Command::ImportContacts {
            client,
            list,
            keep_in_other_lists,
            skip_dnc,
            resume,
            file,
        } => {
            let store = open_store(&settings).await?;
            let options = palera_core::import::ImportOptions {
                move_from_other_lists: !keep_in_other_lists,
                skip_dnc,
            };
            crate::contacts::cli::import(&store, ClientId(client), &list, &file, options, resume)
                .await
        }
        Command::ExportContacts { client, list, out } => {
            let store = open_store(&settings).await?;
            crate::contacts::cli::export(&store, ClientId(client), list.as_deref(), out.as_deref())
                .await
        }
    }
}

/// `client add`: prints the new client's id.
async fn add_client(store: &Store, add: ClientAdd, now: i64) -> anyhow::Result<()> {
    let fields = ClientFields {
        name: add.name,
        account_sid: add.account_sid,
        time_zone: add.time_zone,
        default_country: add.country,
        ..Default::default()
    };
    let valid = fields.validate()?;
    let numbers =
        crate::clients::api::parse_numbers(&add.numbers).map_err(|e| anyhow::anyhow!(e.message))?;
    let secrets = SecretInput {
        auth_token: add.auth_token,
        api_key_secret: None,
    };
    let client = store.create_client(&valid, &secrets, &numbers, now).await?;
    println!("{}", serde_json::json!({ "id": client.id }));
    Ok(())
}

/// `user add`: the password is read from standard input; prints the new user's id.
async fn add_user(store: &Store, add: UserAdd, now: i64) -> anyhow::Result<()> {
    let role: Role = add
        .role
        .parse()
        .map_err(|r: String| anyhow::anyhow!("role: {r}"))?;
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password)?;
    let new = crate::users::api::new_user(crate::users::api::UserCreate {
        email: add.email,
        name: add.name,
        role,
        password: password.trim_end_matches(['\n', '\r']).to_string(),
        voice_enabled: !add.no_voice,
        clients: add.clients.into_iter().map(ClientId).collect(),
    })
    .await
    .map_err(|e| anyhow::anyhow!(e.message))?;
    let user = store.create_user(&new, now).await?;
    println!("{}", serde_json::json!({ "id": user.id }));
    Ok(())
}
