//! `palera-voice demo`: a complete installation in one command. Creates (once) a data folder with
//! its own secret key and SQLite file, seeds a demo client with agents, a supervisor and an admin,
//! prints the URL and the logins, and serves with the simulated carrier. The demo client has a
//! running progressive campaign over a list of 500 virtual contacts in US zones, so an agent who
//! logs in and goes Ready gets calls from the simulated network.

use crate::app::{serve, App};
use crate::config::{CarrierMode, Settings};
use chrono::NaiveTime;
use palera_core::campaign::{CampaignSettings, MachineAction};
use palera_core::contact::{ContactData, PropertyDef, PropertyKind};
use palera_core::desk::Script;
use palera_core::ids::{CampaignId, ClientId, ListId};
use palera_core::phone::PhoneNumber;
use palera_core::script::{Branch, Disclosure, ScriptBody, ScriptField, Step};
use palera_core::tenant::ClientFields;
use palera_core::user::{Email, Role};
use palera_store::campaigns::{CampaignInput, CampaignStatus, EffectKind, NewDisposition};
use palera_store::clients::SecretInput;
use palera_store::contacts::Actor;
use palera_store::users::{NewUser, User};
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

/// The demo campaign's script (internal text; `{{contact.first_name}}` is filled in on the page).
const DEMO_SCRIPT: &str = "1. Hello {{contact.first_name}}, this is your agent from Demo Outreach Co. Is now a good time?\n\
2. We are calling about the spring offer: the Pro plan at half price for three months.\n\
3. Ask which plan they use today and their budget; update Plan and Budget on the card.\n\
4. Close: offer to send the details by e-mail, or agree a time to call back.";

/// Reads the data folder's secret key (base64, and opened), creating folder and key on first use.
fn data_key(dir: &Path) -> anyhow::Result<(String, SecretBox)> {
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
    let base64 = std::fs::read_to_string(&path)?.trim().to_string();
    let key = SecretBox::from_base64(&base64)?;
    Ok((base64, key))
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
        .create_client(
            &settings,
            &SecretInput::default(),
            std::slice::from_ref(&number),
            now_ms,
        )
        .await?;
    let hash = crate::http::auth::hash_password(DEMO_PASSWORD);
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
    let leads = store.create_list(client.id, "New leads", now_ms).await?;
    let follow_ups = store.create_list(client.id, "Follow-ups", now_ms).await?;
    for (name, label, kind, choices) in [
        (
            "plan",
            "Plan",
            PropertyKind::Choice,
            vec!["Basic", "Pro", "Enterprise"],
        ),
        ("budget", "Budget (USD)", PropertyKind::Number, vec![]),
    ] {
        let def = PropertyDef {
            name: name.into(),
            label: label.into(),
            kind,
            choices: choices.into_iter().map(String::from).collect(),
            required: false,
        };
        store.define_property(client.id, &def, now_ms).await?;
    }
    seed_contacts(store, client.id, leads.id, now_ms).await?;
    seed_campaign(store, client.id, &number, [leads.id, follow_ups.id], now_ms).await?;
    Ok(true)
}

/// The demo client's people: its agents, and the others (its supervisor).
async fn people(store: &Store, client: ClientId) -> anyhow::Result<(Vec<User>, Vec<User>)> {
    let users = store.users(Some(client)).await?;
    Ok(users.into_iter().partition(|u| u.role == Role::Agent))
}

/// A running progressive campaign over the demo list with the demo agents.
async fn seed_campaign(
    store: &Store,
    client: ClientId,
    number: &PhoneNumber,
    [leads, follow_ups]: [ListId; 2],
    now_ms: i64,
) -> anyhow::Result<()> {
    let (agents, _) = people(store, client).await?;
    let agents = agents.iter().map(|u| u.id).collect();
    let mut settings = CampaignSettings {
        machine_action: MachineAction::HangUp,
        ..Default::default()
    };
    // Open around the clock so the demo has calls at any hour (real campaigns keep 08:00–21:00).
    settings.window.start = NaiveTime::from_hms_opt(0, 0, 0).expect("time");
    settings.window.end = NaiveTime::from_hms_opt(23, 59, 0).expect("time");
    let input = CampaignInput {
        name: "Spring outreach (demo)".into(),
        settings,
        caller_id: number.as_str().into(),
        // The simulated network plays messages without fetching them: a placeholder address
        // lets demo agents drop voicemail.
        voicemail_url: Some("https://media.demo.invalid/voicemail.mp3".into()),
        hold_music_url: Some(crate::twilio::inbound::HOLD_MUSIC.into()),
        // The simulated network records a generated two-channel file and says a known
        // conversation, so the player and the transcripts have something to show.
        recording: true,
        transcription: true,
        lists: vec![leads],
        agents,
    };
    let c = store.create_campaign(client, &input, now_ms).await?;
    store
        .set_campaign_script(
            client,
            c.id,
            &Script::parse(Some(DEMO_SCRIPT), None)?,
            now_ms,
        )
        .await?;
    seed_built_script(store, client, c.id, now_ms).await?;
    let d = |label: &str, effect, target_list| NewDisposition {
        label: label.into(),
        effect,
        target_list,
    };
    store
        .replace_dispositions(
            client,
            c.id,
            &[
                d("Interested", EffectKind::Final, None),
                d("Not interested", EffectKind::Final, None),
                d("Call back", EffectKind::Callback, None),
                d("Try again", EffectKind::Retry, None),
                d("Follow-up", EffectKind::MoveToList, Some(follow_ups)),
                d("Do not call", EffectKind::Dnc, None),
            ],
        )
        .await?;
    store
        .set_campaign_status(client, c.id, CampaignStatus::Running, now_ms)
        .await?;
    Ok(())
}

/// The demo campaign's built script: three steps that branch on a required answer, with a
/// disclosure to acknowledge and a field written back to the contact's Plan.
pub fn demo_script() -> ScriptBody {
    let step = |key: &str, title: &str, text: &str| Step {
        key: key.into(),
        title: title.into(),
        text: text.into(),
        ..Default::default()
    };
    let choice = |key: &str, label: &str, choices: &[&str], required: bool| ScriptField {
        key: key.into(),
        label: label.into(),
        kind: PropertyKind::Choice,
        choices: choices.iter().map(|c| c.to_string()).collect(),
        required,
        property: None,
    };
    let mut greet = step(
        "greeting",
        "Greeting",
        "Hi {{contact.first_name}}, this is {{agent.name}} from {{client.name}}. Is now a good time to talk?",
    );
    greet.disclosures.push(Disclosure {
        key: "recording".into(),
        text: "This call may be recorded for quality and training.".into(),
    });
    greet.fields.push(choice(
        "good_time",
        "Good time to talk?",
        &["Yes", "No"],
        true,
    ));
    greet.branches.push(Branch {
        field: "good_time".into(),
        equals: "No".into(),
        to: "goodbye".into(),
    });
    greet.next = Some("offer".into());
    let mut offer = step(
        "offer",
        "Spring offer",
        "We have the Pro plan at half price for three months. Today you are on {{contact.properties.plan}}: which plan would suit you?",
    );
    offer.fields.push(ScriptField {
        property: Some("plan".into()),
        ..choice("plan", "Plan", &["Basic", "Pro", "Enterprise"], false)
    });
    offer.next = Some("goodbye".into());
    let bye = step(
        "goodbye",
        "Goodbye",
        "Thank you, {{contact.first_name}}. Offer to send the details by e-mail, or agree a time to call back.",
    );
    ScriptBody {
        steps: vec![greet, offer, bye],
    }
}

async fn seed_built_script(
    store: &Store,
    client: ClientId,
    campaign: CampaignId,
    now_ms: i64,
) -> anyhow::Result<()> {
    let (_, staff) = people(store, client).await?;
    let author = staff
        .first()
        .ok_or_else(|| anyhow::anyhow!("the demo client has no supervisor"))?;
    let s = store
        .create_script(
            client,
            "Spring call flow",
            &demo_script(),
            author.id,
            now_ms,
        )
        .await?;
    store.publish_script(client, s.id, now_ms).await?;
    store
        .set_campaign_builder_script(client, campaign, Some(s.id))
        .await?;
    Ok(())
}

/// The 500 virtual contacts of the demo list: 100 in each of five US zones.
async fn seed_contacts(
    store: &Store,
    client: ClientId,
    list: ListId,
    now_ms: i64,
) -> anyhow::Result<()> {
    let zones = [
        ("212", chrono_tz::America::New_York),
        ("312", chrono_tz::America::Chicago),
        ("303", chrono_tz::America::Denver),
        ("415", chrono_tz::America::Los_Angeles),
        ("206", chrono_tz::America::Los_Angeles),
    ];
    const FIRST: [&str; 10] = [
        "Avery", "Blake", "Casey", "Drew", "Emery", "Finley", "Gray", "Harper", "Jordan", "Kai",
    ];
    let actor = Actor::system("demo");
    for i in 0..500 {
        let (area, zone) = zones[i / 100];
        let data = ContactData {
            phone: PhoneNumber::parse_e164(&format!("+1{area}55501{:02}", i % 100))
                .map_err(anyhow::Error::msg)?,
            first_name: FIRST[i % 10].into(),
            last_name: format!("Demo-{:03}", i + 1),
            email: None,
            time_zone: Some(zone),
            properties: Default::default(),
        };
        store
            .create_contact(client, Some(list), &data, &actor, now_ms)
            .await?;
    }
    Ok(())
}

/// Runs the demo on `port` with data in `data` (and the database at `database_url`, when
/// given, instead of the folder's SQLite file) until Ctrl-C.
pub async fn run(port: u16, data: PathBuf, database_url: Option<String>) -> anyhow::Result<()> {
    let (secret_key, key) = data_key(&data)?;
    let url = database_url
        .unwrap_or_else(|| format!("sqlite://{}", data.join("palera.sqlite").display()));
    let store = Store::connect(&url, key).await?;
    store.migrate().await?;
    let seeded = seed(&store, chrono::Utc::now().timestamp_millis()).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    let settings = Settings {
        database_url: Some(url),
        // In the data folder whichever database is used (beside the SQLite file by default).
        recordings_dir: Some(data.join("recordings").display().to_string()),
        listen: addr.to_string(),
        public_url: Some(base.clone()),
        carrier: CarrierMode::Simulated,
        // Also the key of the campaign audio URLs' tokens, as in `serve`.
        secret_key: Some(secret_key),
        // A Ready demo agent gets an inbound call within a minute or so, some from earlier contacts.
        sim_inbound_per_hour: 90.0,
        // Two demos on one PostgreSQL database are two nodes: each needs its own name.
        node: std::env::var("PALERA_NODE")
            .ok()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| Settings::default().node),
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
