//! A streaming CSV record reader with bounded memory, over any `Read`. It strips a UTF-8 BOM,
//! detects the delimiter (comma, semicolon or tab) from the header line, accepts quoted fields
//! with newlines and any mix of `\n`, `\r\n` and `\r` line endings, and reports the line each
//! record starts on. A record longer than [`MAX_RECORD_BYTES`] is not kept in memory: it is read
//! to its end and returned as [`RawRecord::TooLong`], so a 100 MB field costs no more memory than
//! a short one. Bytes are not decoded here; invalid UTF-8 is the caller's rejection to make.

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};
use std::io::{self, Read};

/// The longest record kept; a longer one is rejected without being held.
pub const MAX_RECORD_BYTES: usize = 1 << 20;
const MAX_FIELDS: usize = 1024;
const INPUT_CHUNK: usize = 64 * 1024;

/// One record of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawRecord {
    Fields {
        line: u64,
        /// Raw bytes of the fields (not yet decoded).
        fields: Vec<Vec<u8>>,
    },
    TooLong {
        line: u64,
        /// What was over the limit.
        what: &'static str,
    },
}

impl RawRecord {
    pub fn line(&self) -> u64 {
        match self {
            RawRecord::Fields { line, .. } | RawRecord::TooLong { line, .. } => *line,
        }
    }
}

/// Streams records out of a reader.
pub struct CsvRecords<R> {
    src: R,
    core: Reader,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    eof: bool,
    /// Lines finished so far (terminators consumed).
    lines: u64,
    prev_cr: bool,
    /// Bytes of the file consumed so far (for progress).
    consumed: u64,
    out: Vec<u8>,
    ends: Vec<usize>,
    done: bool,
}

impl<R: Read> CsvRecords<R> {
    /// Opens a reader: skips a BOM and picks the delimiter from the first line.
    pub fn new(mut src: R) -> io::Result<Self> {
        let mut buf = vec![0u8; INPUT_CHUNK];
        let mut len = 0;
        while len < buf.len() {
            let n = read_retrying(&mut src, &mut buf[len..])?;
            if n == 0 {
                break;
            }
            len += n;
        }
        let eof = len < buf.len();
        let pos = if buf[..len].starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        let delimiter = sniff_delimiter(&buf[pos..len]);
        let core = ReaderBuilder::new().delimiter(delimiter).build();
        Ok(Self {
            src,
            core,
            buf,
            pos,
            len,
            eof,
            lines: 0,
            prev_cr: false,
            consumed: pos as u64,
            out: vec![0u8; 4096],
            ends: vec![0usize; 64],
            done: false,
        })
    }

    /// Bytes consumed so far, including the BOM.
    pub fn bytes_consumed(&self) -> u64 {
        self.consumed
    }

    /// Consumes `n` buffered bytes, counting line terminators: `\n`, `\r\n` and a lone `\r`
    /// each end one line (the `\r` of a pair is counted, its `\n` is not).
    fn count_lines(&mut self, n: usize) {
        for &b in &self.buf[self.pos..self.pos + n] {
            if b == b'\r' || (b == b'\n' && !self.prev_cr) {
                self.lines += 1;
            }
            self.prev_cr = b == b'\r';
        }
        self.pos += n;
        self.consumed += n as u64;
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.pos < self.len || self.eof {
            return Ok(());
        }
        self.pos = 0;
        self.len = read_retrying(&mut self.src, &mut self.buf)?;
        if self.len == 0 {
            self.eof = true;
        }
        Ok(())
    }

    /// Skips line terminators before a record, so the record's first line is known.
    fn skip_terminators(&mut self) -> io::Result<()> {
        loop {
            self.fill()?;
            if self.pos >= self.len {
                return Ok(());
            }
            let n = self.buf[self.pos..self.len]
                .iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
            self.count_lines(n);
            if self.pos < self.len {
                return Ok(());
            }
        }
    }

    /// The next record, or `None` at the end of the file.
    pub fn next_record(&mut self) -> io::Result<Option<RawRecord>> {
        if self.done {
            return Ok(None);
        }
        self.skip_terminators()?;
        if self.pos >= self.len && self.eof {
            self.done = true;
            return Ok(None);
        }
        let line = self.lines + 1;
        let mut nout = 0;
        let mut nend = 0;
        let mut too_long: Option<&'static str> = None;
        loop {
            self.fill()?;
            let input = &self.buf[self.pos..self.len];
            let (res, nin, o, e) =
                self.core
                    .read_record(input, &mut self.out[nout..], &mut self.ends[nend..]);
            self.count_lines(nin);
            nout += o;
            nend += e;
            match res {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    if self.out.len() >= MAX_RECORD_BYTES {
                        too_long.get_or_insert("row longer than 1 MiB");
                        nout = 0;
                    } else {
                        let n = (self.out.len() * 2).min(MAX_RECORD_BYTES);
                        self.out.resize(n, 0);
                    }
                }
                ReadRecordResult::OutputEndsFull => {
                    if self.ends.len() >= MAX_FIELDS {
                        too_long.get_or_insert("more than 1024 columns");
                        nend = 0;
                    } else {
                        let n = (self.ends.len() * 2).min(MAX_FIELDS);
                        self.ends.resize(n, 0);
                    }
                }
                ReadRecordResult::Record => return Ok(Some(self.record(line, nend, too_long))),
                ReadRecordResult::End => {
                    self.done = true;
                    return Ok(if nend == 0 && nout == 0 && too_long.is_none() {
                        None
                    } else {
                        Some(self.record(line, nend, too_long))
                    });
                }
            }
        }
    }

    fn record(&self, line: u64, nend: usize, too_long: Option<&'static str>) -> RawRecord {
        if let Some(what) = too_long {
            return RawRecord::TooLong { line, what };
        }
        let mut start = 0;
        let fields = self.ends[..nend]
            .iter()
            .map(|&end| {
                let f = self.out[start..end].to_vec();
                start = end;
                f
            })
            .collect();
        RawRecord::Fields { line, fields }
    }
}

fn read_retrying<R: Read>(src: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match src.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// The delimiter that occurs most often outside quotes in the first line (comma on a tie).
pub fn sniff_delimiter(head: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in head {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let best = (0..3)
        .max_by_key(|&i| (counts[i], std::cmp::Reverse(i)))
        .unwrap_or(0);
    [b',', b';', b'\t'][best]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> Vec<RawRecord> {
        let mut r = CsvRecords::new(input).unwrap();
        let mut out = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            out.push(rec);
        }
        out
    }

    fn fields(rec: &RawRecord) -> (u64, Vec<String>) {
        match rec {
            RawRecord::Fields { line, fields } => (
                *line,
                fields
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect(),
            ),
            RawRecord::TooLong { line, what } => (*line, vec![format!("TOO LONG {what}")]),
        }
    }

    #[test]
    fn records_report_their_first_line_across_mixed_line_endings_and_quoted_newlines() {
        let recs = all(b"\xEF\xBB\xBFa,b\r\n1,\"x\ny\"\n\n2,z\r3,w\r\n");
        let got: Vec<_> = recs.iter().map(fields).collect();
        assert_eq!(
            got,
            [
                (1, vec!["a".into(), "b".into()]),
                (2, vec!["1".into(), "x\ny".into()]),
                (5, vec!["2".into(), "z".into()]),
                (6, vec!["3".into(), "w".into()]),
            ]
        );
    }

    #[test]
    fn the_delimiter_is_detected_from_the_header() {
        assert_eq!(sniff_delimiter(b"a;b;c\n1,2;3"), b';');
        assert_eq!(sniff_delimiter(b"a\tb\n"), b'\t');
        assert_eq!(sniff_delimiter(b"\"x;y\",b\n"), b',');
        let got: Vec<_> = all(b"p;n\n1;\"a;b\"\n").iter().map(fields).collect();
        assert_eq!(got[1].1, ["1", "a;b"]);
    }

    #[test]
    fn an_oversized_record_is_skipped_without_being_kept() {
        let mut input = b"h\n\"".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_RECORD_BYTES * 3));
        input.extend(b"\"\nok\n");
        let got: Vec<_> = all(&input).iter().map(fields).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[1], (2, vec!["TOO LONG row longer than 1 MiB".into()]));
        assert_eq!(got[2], (3, vec!["ok".into()]));
    }

    #[test]
    fn empty_input_has_no_records() {
        assert!(all(b"").is_empty());
        assert!(all(b"\xEF\xBB\xBF").is_empty());
        assert_eq!(all(b"phone").len(), 1);
    }
}
