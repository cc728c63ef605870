//! Fuzzing the contact-import CSV reader on the stable toolchain (issue 19): arbitrary bytes and
//! mutations of a real export (flipped, inserted and deleted bytes, truncation) go through the
//! streaming reader and the import preview; each answers with records or an error, never a
//! panic, and every record's line number only grows. `PALERA_FUZZ_CASES` cases per target (256 by
//! default; `scripts/test` sets the CI budget); failing inputs are kept by proptest in
//! `proptest-regressions/` beside this file.

use palera_core::contact::PropertySchema;
use palera_store::import::preview;
use palera_store::import::reader::{CsvRecords, RawRecord};
use proptest::prelude::*;
use proptest::test_runner::Config;

fn config() -> Config {
    let cases = std::env::var("PALERA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    Config {
        cases,
        ..Config::default()
    }
}

/// A real export: BOM, quoted fields with the delimiter, quotes and a newline inside.
const SAMPLE: &[u8] = b"\xEF\xBB\xBFphone;first_name;last_name;email;plan\r\n\
+14155550100;Ann;\"O'Neil; Jr\";ann@x.io;gold\r\n\
(415) 555-0101;\"Bo \"\"Bobby\"\"\";Li;;\"two\nlines\"\r\n\
+44 121 496 0000;Chlo\xC3\xAB;Martin;chloe@x.fr;silver\r\n";

/// Reads every record (bounded), checking line numbers only grow.
fn read_all(bytes: &[u8]) -> Result<(), TestCaseError> {
    let Ok(mut rec) = CsvRecords::new(bytes) else {
        return Ok(());
    };
    let mut last = 0;
    for _ in 0..10_000 {
        match rec.next_record() {
            Ok(Some(r)) => {
                let line = r.line();
                prop_assert!(line >= last, "line {line} after {last}");
                last = line;
                if let RawRecord::Fields { fields, .. } = &r {
                    prop_assert!(fields.len() <= bytes.len() + 1);
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    prop_assert!(rec.bytes_consumed() <= bytes.len() as u64 + 3);
    let _ = preview(bytes, &[], &PropertySchema::default(), 20);
    Ok(())
}

#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let byte = prop::sample::select(vec![
        b'"', b';', b',', b'\t', b'\r', b'\n', 0xEF, 0xFF, b'a',
    ]);
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), byte).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

#[test]
fn fuzz_csv_reader_takes_any_bytes() {
    proptest!(config(), |(bytes in prop::collection::vec(any::<u8>(), 0..2_000))| {
        read_all(&bytes)?;
    });
}

#[test]
fn fuzz_csv_reader_takes_mutated_real_files() {
    proptest!(config(), |(edits in prop::collection::vec(edit(), 1..12))| {
        let mut bytes = SAMPLE.to_vec();
        for e in &edits {
            let n = bytes.len().max(1);
            match *e {
                Edit::Flip(i, b) if !bytes.is_empty() => bytes[i % n] ^= b,
                Edit::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
                Edit::Delete(i) if !bytes.is_empty() => {
                    bytes.remove(i % n);
                }
                Edit::Truncate(i) => bytes.truncate(i % (bytes.len() + 1)),
                _ => {}
            }
        }
        read_all(&bytes)?;
    });
}
