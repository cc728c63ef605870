//! A 100 MB single field is rejected as one row without being held in memory. Alone in its
//! test binary so the process's peak memory measures this import only.

use palera_core::import::ImportOptions;
use palera_core::tenant::ClientFields;
use palera_store::clients::SecretInput;
use palera_store::import::run_import;
use palera_store::{testing, Backend};
use std::io::Write;

fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_100_mb_single_field_is_one_rejected_row_and_memory_stays_flat() {
    let dir = std::env::temp_dir().join(format!("palera_big_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.csv");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        f.write_all(b"phone,first_name\n+14155550100,\"").unwrap();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..100 {
            f.write_all(&chunk).unwrap();
        }
        f.write_all(b"\"\n+14155550101,ok\n").unwrap();
    }
    let db = testing::fresh(Backend::Sqlite).await.unwrap();
    let store = db.store.clone();
    let settings = ClientFields {
        name: "A".into(),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let c = store
        .create_client(&settings, &SecretInput::default(), &[], 1)
        .await
        .unwrap()
        .id;
    let l = store.create_list(c, "L", 1).await.unwrap();
    let before = peak_rss_kb();
    let job = store
        .create_import_job(
            c,
            l.id,
            "big.csv",
            0,
            ImportOptions::default(),
            &[],
            None,
            1,
        )
        .await
        .unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let s = run_import(&store, &job, file, || 1).await.unwrap();
    let grown_mb = peak_rss_kb().saturating_sub(before) / 1024;
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(s.rows, 2);
    assert_eq!(s.imported, 1);
    assert_eq!(s.rejected.len(), 1);
    assert_eq!(s.rejected[0].line, 2);
    assert!(s.rejected[0].reason.contains("longer than"), "{s:?}");
    assert!(grown_mb < 40, "peak memory grew by {grown_mb} MB");
}
