//! Where recordings are kept: the product's own storage, a local folder by default or an
//! S3-compatible bucket, both through the `object_store` crate so the code above sees one
//! [`MediaStore`]. Keys are `clients/{client}/recordings/{recording}.{ext}`: a client's files stay
//! under its own prefix. Deleting a file that is already gone succeeds (retention may run twice).

use crate::config::Settings;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as KeyPath;
use object_store::{ObjectStore, PutPayload};
use palera_core::ids::{ClientId, RecordingId};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Which storage recordings go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageSettings {
    /// A folder on this machine (created when missing).
    Local { dir: PathBuf },
    /// An S3-compatible bucket.
    S3(S3Settings),
}

/// An S3-compatible bucket and the keys to it.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Settings {
    pub bucket: String,
    /// The service's base URL; empty for AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// A storage failure, in words for the recording's status.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("recording storage is not usable: {0}")]
    Setup(String),
    #[error("no such file in recording storage")]
    NotFound,
    #[error("recording storage failed: {0}")]
    Io(String),
}

impl From<object_store::Error> for StorageError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => StorageError::NotFound,
            other => StorageError::Io(other.to_string()),
        }
    }
}

/// The product's recording storage. A local folder is created on first use, so a server that
/// never records leaves no folder behind.
#[derive(Clone)]
pub struct MediaStore {
    settings: StorageSettings,
    inner: Arc<Mutex<Option<Arc<dyn ObjectStore>>>>,
}

impl std::fmt::Debug for MediaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.settings.fmt(f)
    }
}

impl MediaStore {
    /// The storage `s` names; a bucket's settings are checked now, a folder is made on first use.
    pub fn open(s: &StorageSettings) -> Result<Self, StorageError> {
        let me = Self {
            settings: s.clone(),
            inner: Arc::new(Mutex::new(None)),
        };
        if matches!(s, StorageSettings::S3(_)) {
            me.store()?;
        }
        Ok(me)
    }

    /// The storage the settings name: `recordings_dir`, or the S3 bucket when one is set.
    pub fn from_settings(s: &Settings) -> Result<Self, StorageError> {
        Self::open(&storage_settings(s))
    }

    fn store(&self) -> Result<Arc<dyn ObjectStore>, StorageError> {
        let mut slot = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = slot.as_ref() {
            return Ok(s.clone());
        }
        let made: Arc<dyn ObjectStore> = match &self.settings {
            StorageSettings::Local { dir } => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StorageError::Setup(format!("cannot create {}: {e}", dir.display()))
                })?;
                Arc::new(
                    LocalFileSystem::new_with_prefix(dir)
                        .map_err(|e| StorageError::Setup(e.to_string()))?,
                )
            }
            StorageSettings::S3(s3) => {
                let mut b = AmazonS3Builder::new()
                    .with_bucket_name(&s3.bucket)
                    .with_region(&s3.region)
                    .with_access_key_id(&s3.access_key_id)
                    .with_secret_access_key(&s3.secret_access_key);
                if let Some(endpoint) = &s3.endpoint {
                    b = b
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"))
                        .with_virtual_hosted_style_request(false);
                }
                Arc::new(b.build().map_err(|e| StorageError::Setup(e.to_string()))?)
            }
        };
        *slot = Some(made.clone());
        Ok(made)
    }

    /// Keeps `bytes` under `key` (replacing what was there).
    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        self.store()?
            .put(&KeyPath::from(key), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// The file under `key`.
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, StorageError> {
        let got = self.store()?.get(&KeyPath::from(key)).await?;
        Ok(got.bytes().await?.to_vec())
    }

    /// Removes the file under `key`; a file already gone is fine.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store()?.delete(&KeyPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether a file is under `key`.
    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self.store()?.head(&KeyPath::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// The storage key of a client's recording.
pub fn recording_key(client: ClientId, rec: RecordingId, content_type: &str) -> String {
    let ext = match content_type {
        "audio/mpeg" => "mp3",
        _ => "wav",
    };
    format!("clients/{}/recordings/{}.{ext}", client.0, rec.0)
}

/// Where the settings put recordings: the S3 bucket when one is set, else `recordings_dir`, else
/// a `recordings` folder beside the SQLite database file (or in the working directory).
pub fn storage_settings(s: &Settings) -> StorageSettings {
    if let Some(bucket) = &s.recordings_s3_bucket {
        return StorageSettings::S3(S3Settings {
            bucket: bucket.clone(),
            endpoint: s.recordings_s3_endpoint.clone(),
            region: s.recordings_s3_region.clone(),
            access_key_id: s.recordings_s3_access_key_id.clone().unwrap_or_default(),
            secret_access_key: s
                .recordings_s3_secret_access_key
                .clone()
                .unwrap_or_default(),
        });
    }
    let dir = match (&s.recordings_dir, &s.database_url) {
        (Some(d), _) => PathBuf::from(d),
        (None, Some(url)) if url.starts_with("sqlite://") => {
            let file = url.trim_start_matches("sqlite://");
            let file = file.split('?').next().unwrap_or(file);
            std::path::Path::new(file)
                .parent()
                .map(|p| p.join("recordings"))
                .unwrap_or_else(|| PathBuf::from("recordings"))
        }
        _ => PathBuf::from("recordings"),
    };
    StorageSettings::Local { dir }
}
