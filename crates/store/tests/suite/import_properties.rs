//! Property: for any file the importer reads, the buckets add up to the row count, and the row
//! count is the number of data records written (SQLite; the bucket rules are backend-free).

use crate::common::new_client;
use palera_core::import::ImportOptions;
use palera_store::import::run_import;
use palera_store::{testing, Backend};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// One cell: a valid or broken number, a name, an e-mail, or something hostile.
fn cell() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (0u32..40).prop_map(|i| format!("+1415555{i:04}").into_bytes()),
        (0u32..40).prop_map(|i| format!("(415) 555-{i:04}").into_bytes()),
        Just(b"12".to_vec()),
        Just(b"=cmd()".to_vec()),
        Just(b"a@b.io".to_vec()),
        Just(b"not an email".to_vec()),
        Just(b"\xFF\xFEbad".to_vec()),
        Just(b"multi\nline, with \"quotes\"; and\ttabs".to_vec()),
        "[a-zA-Z ]{0,8}".prop_map(String::into_bytes),
    ]
}

fn quote(cell: &[u8], delim: u8) -> Vec<u8> {
    let needs = cell
        .iter()
        .any(|&b| b == delim || b == b'"' || b == b'\n' || b == b'\r');
    if !needs && !cell.is_empty() {
        return cell.to_vec();
    }
    let mut out = vec![b'"'];
    for &b in cell {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
    out
}

/// A file: header, then rows of 1–4 cells, with a delimiter, line endings and maybe a BOM.
fn file() -> impl Strategy<Value = (Vec<u8>, u64)> {
    (
        prop::sample::select(vec![b',', b';', b'\t']),
        prop::collection::vec(prop::collection::vec(cell(), 1..5), 0..60),
        prop::collection::vec(prop::sample::select(vec!["\n", "\r\n", "\r"]), 60),
        any::<bool>(),
        prop::sample::select(vec![
            "phone,first_name,email",
            "phone,email,Email",
            "name,email",
        ]),
    )
        .prop_map(|(delim, rows, endings, bom, header)| {
            let mut out = Vec::new();
            if bom {
                out.extend(b"\xEF\xBB\xBF");
            }
            out.extend(header.replace(',', &(delim as char).to_string()).as_bytes());
            for (i, row) in rows.iter().enumerate() {
                out.extend(endings[i].as_bytes());
                let cells: Vec<Vec<u8>> = row.iter().map(|c| quote(c, delim)).collect();
                out.extend(cells.join(&delim));
            }
            if !rows.is_empty() && bom {
                out.extend(b"\r\n");
            }
            (out, rows.len() as u64)
        })
}

#[test]
fn bucket_sums_equal_the_row_count_for_random_files() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(testing::fresh(Backend::Sqlite)).unwrap();
    let store = db.store.clone();
    let (client, list) = rt.block_on(async {
        let c = new_client("A").country("US").create(&store).await;
        (c, store.create_list(c, "L", 1).await.unwrap().id)
    });
    let mut runner = TestRunner::new(Config {
        cases: 48,
        ..Config::default()
    });
    runner
        .run(&file(), |(bytes, rows)| {
            let s = rt.block_on(async {
                let job = store
                    .create_import_job(
                        client,
                        list,
                        "p.csv",
                        0,
                        ImportOptions::default(),
                        &[],
                        None,
                        1,
                    )
                    .await
                    .unwrap();
                run_import(&store, &job, std::io::Cursor::new(bytes.clone()), || 1)
                    .await
                    .unwrap()
            });
            let sum = s.imported
                + s.updated
                + s.moved_from_list
                + s.duplicates_in_file
                + s.on_dnc
                + s.rejected.len() as u64;
            prop_assert_eq!(s.rows, rows, "{:?}", String::from_utf8_lossy(&bytes));
            prop_assert_eq!(sum, rows);
            Ok(())
        })
        .unwrap();
}
