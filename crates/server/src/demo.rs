//! `palera-voice demo`: a complete installation in one command. Creates (once) a data folder with
//! its own secret key and SQLite file, seeds a demo client with agents, a supervisor and an admin,
//! prints the URL and the logins, and serves with the simulated carrier.

use crate::app::{serve, App};
use crate::config::{CarrierMode, Settings};
use palera_core::phone::PhoneNumber;
use palera_core::tenant::ClientFields;
use palera_core::user::{Email, Role};
use palera_store::clients::SecretInput;
use palera_store::users::NewUser;
use palera_store::{SecretBox, Store};
use std::path::{Path, PathBuf};

/// The password of every demo login (printed at start; the demo is not for production).
pub const DEMO_PASSWORD: &str = "palera-demo";

/// The demo logins: (e-mail, role, name).
pub const DEMO_USERS: &[(&str, Role, &str)] = &[
    ("admin@demo.test", Role::Admin, "Ada Admin"),
    ("supervisor@demo.test", Role::Supervisor, "Sam Supervisor"),
    ("agent1@demo.test", Role::Agent, "Alex Agent"),
    ("agent2@demo.test", Role::Agent, "Bo Agent"),
    ("agent3@demo.test", Role::Agent, "Cy Agent"),
];

/// Reads the data folder's secret key, creating folder and key on first use.
fn data_key(dir: &Path) -> anyhow::Result<SecretBox> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("secret.key");
    if !path.exists() {
        std::fs::write(&path, SecretBox::generate_base64())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(SecretBox::from_base64(&std::fs::read_to_string(&path)?)?)
}

/// Seeds the demo client and logins unless the database already has users.
pub async fn seed(store: &Store, now_ms: i64) -> anyhow::Result<bool> {
    if !store.users(None).await?.is_empty() {
        return Ok(false);
    }
    let settings = ClientFields {
        name: "Demo Outreach Co".into(),
        time_zone: Some("America/New_York".into()),
        default_country: Some("US".into()),
        voice_enabled: Some(true),
        ..Default::default()
    }
    .validate()?;
    let number = PhoneNumber::parse_e164("+15005550006").map_err(anyhow::Error::msg)?;
    let client = store
        .create_client(&settings, &SecretInput::default(), &[number], now_ms)
        .await?;
    let hash = crate::auth::hash_password(DEMO_PASSWORD);
    for (email, role, name) in DEMO_USERS {
        store
            .create_user(
                &NewUser {
                    email: Email::parse("email", email)?,
                    name: name.to_string(),
                    role: *role,
                    password_hash: hash.clone(),
                    voice_enabled: *role != Role::Admin,
                    clients: if *role == Role::Admin {
                        vec![]
                    } else {
                        vec![client.id]
                    },
                },
                now_ms,
            )
            .await?;
    }
    Ok(true)
}

/// Runs the demo on `port` with data in `data` until Ctrl-C.
pub async fn run(port: u16, data: PathBuf) -> anyhow::Result<()> {
    let key = data_key(&data)?;
    let db = data.join("palera.sqlite");
    let url = format!("sqlite://{}", db.display());
    let store = Store::connect(&url, key).await?;
    store.migrate().await?;
    let seeded = seed(&store, chrono::Utc::now().timestamp_millis()).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    let settings = Settings {
        database_url: Some(url),
        listen: addr.to_string(),
        public_url: Some(base.clone()),
        carrier: CarrierMode::Simulated,
        ..Settings::default()
    };
    println!(
        "palera-voice demo {}",
        if seeded {
            "(new data folder)"
        } else {
            "(existing data folder)"
        }
    );
    println!("  data:  {}", data.display());
    println!("  open:  {base}/login");
    println!("  logins (password for all: {DEMO_PASSWORD}):");
    for (email, role, _) in DEMO_USERS {
        println!("    {role:<10} {email}");
    }
    println!("  carrier: simulated (no Twilio account needed). Stop with Ctrl-C.");
    serve(
        App::new(store, settings),
        listener,
        crate::app::shutdown_signal(),
    )
    .await
}
