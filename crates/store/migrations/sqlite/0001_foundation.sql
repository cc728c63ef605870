CREATE TABLE clients (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    default_country TEXT NOT NULL,
    account_sid TEXT,
    auth_token_enc TEXT,
    auth_token_last4 TEXT,
    api_key_sid TEXT,
    api_key_secret_enc TEXT,
    api_key_secret_last4 TEXT,
    twiml_app_sid TEXT,
    voice_enabled INTEGER NOT NULL,
    calls_per_second REAL NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE phone_numbers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    number TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX phone_numbers_client ON phone_numbers(client_id);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    voice_enabled INTEGER NOT NULL,
    voice_state TEXT NOT NULL,
    voice_state_since INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE user_clients (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX user_clients_client ON user_clients(client_id);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE voice_state_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    source TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX voice_state_changes_user_at ON voice_state_changes(user_id, at);
