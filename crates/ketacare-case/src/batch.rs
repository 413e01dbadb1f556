//! The batch form of `ketacare assess --batch`: NDJSON in (one case per line), one JSON report per line
//! out, or `{"line": N, "error": "…"}` for a malformed case. The CLI and the fuzz targets run this one
//! loop, so a line is split, skipped and parsed the same way wherever it is read.

use std::io::{self, BufRead, Write};

use jiff::civil::Date;
use ketacare_core::assess::assess_case;
use ketacare_core::protocol::Protocol;

use crate::parse::parse_case_bytes;
use crate::render::write_report_json;

/// What a batch run wrote: the cases assessed and the lines refused as malformed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchSummary {
    pub assessed: usize,
    pub malformed: usize,
}

/// Assesses every case of `input` under `protocol` (`today` is each case's default `as_of`) and writes
/// one line per case to `out`. Lines are split as bytes at `\n` (a `\r` before it is dropped), so a line
/// that is not UTF-8 is one malformed case, not the end of the run; blank lines are skipped. An error
/// reading `input` names the line.
pub fn assess_batch(
    input: impl BufRead,
    protocol: &Protocol,
    today: Date,
    out: &mut impl Write,
) -> io::Result<BatchSummary> {
    let mut summary = BatchSummary::default();
    for (index, line) in input.split(b'\n').enumerate() {
        let line =
            line.map_err(|error| io::Error::new(error.kind(), format!("reading line {}: {error}", index + 1)))?;
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_case_bytes(line, today) {
            Ok(case) => {
                write_report_json(&assess_case(&case, protocol), &mut *out)?;
                summary.assessed += 1;
            }
            Err(error) => {
                summary.malformed += 1;
                let refusal = serde_json::json!({ "line": index + 1, "error": error.to_string() });
                serde_json::to_writer(&mut *out, &refusal)?;
            }
        }
        out.write_all(b"\n")?;
    }
    Ok(summary)
}
