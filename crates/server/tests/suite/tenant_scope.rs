//! Client scope in the types (issue 19): request handlers reach a client's rows only through store
//! functions that take the client (or the caller's scope of clients). The store's unscoped reads
//! — named `…_unscoped` — and its system functions that work on any client's rows by id are for
//! the call engine, the recordings worker, the carrier's webhooks and the CLI. This reads the
//! server's own source and fails when any other module calls one of them.

use std::path::{Path, PathBuf};

/// Modules that may work across clients: the engine runs every client's calls and campaigns,
/// the recordings worker and live recording every client's recordings, the webhooks check the
/// client of their path against the call, the media route checks a MAC over the file, and the
/// CLI is an operator's.
const SYSTEM_MODULES: &[&str] = &[
    "engine/",
    "cli/",
    "recordings/live.rs",
    "recordings/worker.rs",
    "twilio/webhooks.rs",
    "twilio/signature.rs",
    "campaigns/media.rs",
];

/// Store functions that work on any client's rows by id (the engine's and the worker's), besides
/// every `…_unscoped` one.
const SYSTEM_FUNCTIONS: &[&str] = &[
    "due_contacts_after",
    "campaign_contacts",
    "campaign_contact",
    "claimed_contacts",
    "clear_holders",
    "set_holders",
    "claim_contact",
    "unclaim",
    "save_attempts",
    "open_calls_of_node",
    "campaign_calls",
    "write_call_record",
    "set_call_disposition",
    "add_call_event",
    "call_event_kinds",
    "campaign_call_events",
    "pacing_history",
    "enrol_contacts",
    "sync_enrolment",
    "running_campaigns",
    "try_lead_campaign",
    "set_inbound_offer",
    "inbound_connected",
    "end_inbound_call",
    "connected_calls_since",
    "set_recording_sid",
    "mark_pause",
    "recording_ready",
    "claim_due_fetches",
    "release_stale_fetches",
    "recording_stored",
    "recording_fetch_failed",
    "recording_deleted_at_carrier",
    "expired_recordings",
    "delete_recording",
    "save_final_transcript",
    "claim_due_transcripts",
    "transcript_waiting",
    "transcript_failed",
    "unapplied_webhooks",
    "webhook_applied",
];

/// Every `.rs` file under `dir`, with its path relative to `root` (`/`-separated).
fn sources(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            sources(root, &p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, p));
        }
    }
}

/// The unscoped and system store calls in `text`: `(line number, function)`.
fn unscoped_calls(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        for (at, _) in code.match_indices('(') {
            let name: String = code[..at]
                .chars()
                .rev()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let is_method = code[..at - name.len()].trim_end().ends_with('.');
            let system = name.ends_with("_unscoped") || SYSTEM_FUNCTIONS.contains(&name.as_str());
            if is_method && system {
                found.push((i + 1, name));
            }
        }
    }
    found
}

#[test]
fn request_handlers_never_read_or_change_a_clients_rows_unscoped() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    for module in SYSTEM_MODULES {
        assert!(
            files.iter().any(|(rel, _)| rel.starts_with(module)),
            "{module} is listed as a system module but no longer exists"
        );
    }
    let handlers: Vec<_> = files
        .iter()
        .filter(|(rel, _)| !SYSTEM_MODULES.iter().any(|m| rel.starts_with(m)))
        .collect();
    assert!(
        handlers.iter().any(|(rel, _)| rel.ends_with("/api.rs"))
            && handlers.iter().any(|(rel, _)| rel.ends_with("/pages.rs")),
        "the handlers' api.rs and pages.rs files are read"
    );
    let mut offences = Vec::new();
    for (rel, path) in handlers {
        let text = std::fs::read_to_string(path).unwrap();
        for (line, name) in unscoped_calls(&text) {
            offences.push(format!("src/{rel}:{line}: {name}"));
        }
    }
    assert!(
        offences.is_empty(),
        "request handlers must reach a client's rows through store functions that take the \
         client (or the caller's scope); these call unscoped or system ones:\n{}",
        offences.join("\n")
    );
}

#[test]
fn the_unscoped_call_check_sees_method_calls_only() {
    let text = "let c = app.store.call_unscoped(id).await?;\n\
                app\n    .store\n    .dispositions_unscoped(c)\n\
                // app.store.campaign_unscoped(id) in a comment\n\
                fn helper_unscoped(x: i64) {}\n\
                store.set_call_disposition(id, None, \"x\", \"\");";
    assert_eq!(
        unscoped_calls(text),
        [
            (1, "call_unscoped".to_string()),
            (4, "dispositions_unscoped".to_string()),
            (7, "set_call_disposition".to_string()),
        ]
    );
}
