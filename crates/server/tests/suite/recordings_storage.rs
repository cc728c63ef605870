//! Recording storage (issue 13): the same [`MediaStore`] over a local folder and over a real
//! S3-compatible server (moto, started by `scripts/test`; `PALERA_S3_URL` names it). Its absence
//! fails the test unless `PALERA_SKIP_S3=1` asks to skip, which is printed past the capture.

use palera_core::ids::{ClientId, RecordingId};
use palera_server::recordings::storage::{recording_key, S3Settings, StorageError};
use palera_server::recordings::{MediaStore, StorageSettings};

/// The S3-compatible server's URL, or `None` (skipped, said out loud) when `PALERA_SKIP_S3=1`.
fn s3_url() -> Option<String> {
    match std::env::var("PALERA_S3_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("PALERA_SKIP_S3").as_deref() != Ok("1") {
                panic!("an S3-compatible server is required: run scripts/s3.sh and set PALERA_S3_URL to the URL it prints (scripts/test does both), or set PALERA_SKIP_S3=1 to skip");
            }
            crate::common::say_skipped("the S3 storage test", "PALERA_SKIP_S3=1");
            None
        }
    }
}

/// Puts, reads, checks and deletes a file the way the worker and retention do.
async fn round_trip(media: &MediaStore) {
    let key = recording_key(ClientId(3), RecordingId(41), "audio/wav");
    assert_eq!(key, "clients/3/recordings/41.wav");
    assert!(!media.exists(&key).await.unwrap());
    let bytes: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    media.put(&key, bytes.clone()).await.unwrap();
    assert!(media.exists(&key).await.unwrap());
    assert_eq!(media.get(&key).await.unwrap(), bytes);
    let other = recording_key(ClientId(4), RecordingId(41), "audio/wav");
    assert!(matches!(
        media.get(&other).await,
        Err(StorageError::NotFound)
    ));
    media.delete(&key).await.unwrap();
    assert!(!media.exists(&key).await.unwrap());
    assert!(matches!(media.get(&key).await, Err(StorageError::NotFound)));
    media.delete(&key).await.expect("deleting twice is fine");
}

#[tokio::test]
async fn recordings_are_kept_in_a_local_folder() {
    let dir = std::env::temp_dir().join(format!(
        "palera-recordings-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let media = MediaStore::open(&StorageSettings::Local { dir: dir.clone() }).unwrap();
    round_trip(&media).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn recordings_are_kept_in_s3_compatible_storage() {
    let Some(url) = s3_url() else { return };
    let bucket = format!("palera-test-{}", rand::random::<u32>());
    // moto takes unsigned bucket creation; the store itself signs every request.
    let created = reqwest::Client::new()
        .put(format!("{url}/{bucket}"))
        .send()
        .await
        .expect("the S3 server answers");
    assert!(created.status().is_success(), "{}", created.status());
    let settings = StorageSettings::S3(S3Settings {
        bucket,
        endpoint: Some(url),
        region: "us-east-1".into(),
        access_key_id: "testing".into(),
        secret_access_key: "testing".into(),
    });
    let media = MediaStore::open(&settings).unwrap();
    round_trip(&media).await;
}

#[tokio::test]
async fn a_bucket_that_does_not_exist_is_a_storage_error() {
    let Some(url) = s3_url() else { return };
    let settings = StorageSettings::S3(S3Settings {
        bucket: "palera-missing-bucket".into(),
        endpoint: Some(url),
        region: "us-east-1".into(),
        access_key_id: "testing".into(),
        secret_access_key: "testing".into(),
    });
    let media = MediaStore::open(&settings).unwrap();
    let e = media.put("clients/1/recordings/1.wav", vec![1, 2, 3]).await;
    assert!(
        matches!(e, Err(StorageError::Io(_)) | Err(StorageError::NotFound)),
        "{e:?}"
    );
}
